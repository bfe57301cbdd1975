"""Service and data commands: migrate, ingest, quarantine, status, detect, evaluate, alerts,
consults, serve."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eldercare.errors import ConfigError

if TYPE_CHECKING:
    pass

from eldercare.cli._app import _database_url, _require, _run_until_signal, _settings, app


@app.command()
def migrate() -> None:
    """Apply database migrations (TimescaleDB when available, plain PostgreSQL otherwise)."""
    from eldercare.db import migrate as run_migrations

    settings = _settings()
    if settings.database.url is None:
        raise ConfigError(
            "set ELDERCARE_DATABASE_URL (eldercare up migrates its embedded database)"
        )
    applied = run_migrations(settings.database.url, mode=settings.database.timescale)
    typer.echo(
        "\n".join(f"applied {m.path.name}" for m in applied) if applied else "schema up to date"
    )


@app.command()
def ingest(
    client_id: Annotated[
        str, typer.Option(help="MQTT client id; persistent session per id.")
    ] = "eldercare-ingest",
) -> None:
    """Subscribe to device topics and store readings; rejected messages go to quarantine."""
    from ingest import IngestOptions, IngestService

    settings = _require(_settings())
    options = IngestOptions.from_settings(settings, client_id=client_id)
    service = IngestService(settings, options=options)
    _run_until_signal(service.run)


quarantine_app = typer.Typer(help="List and replay messages ingest rejected.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list(
    limit: Annotated[int, typer.Option(min=1, help="Newest N messages.")] = 50,
    all: Annotated[bool, typer.Option("--all", help="Include replayed messages.")] = False,
    reason: Annotated[str | None, typer.Option(help="Only reasons containing this.")] = None,
) -> None:
    """Rejected messages with topic, reason, receive time and payload (newest first)."""
    from eldercare.db import connect
    from ingest import list_quarantine

    with connect(_database_url(_settings())) as conn:
        rows = list_quarantine(conn, limit=limit, include_replayed=all, reason_contains=reason)
    for row in rows:
        replayed = f" replayed {row.replayed_at.isoformat()}" if row.replayed_at else ""
        typer.echo(
            f"#{row.quarantine_id} {row.received_at.isoformat()} {row.topic}{replayed}\n"
            f"    reason: {row.reason}\n    payload: {row.payload[:200]!r}"
        )
    typer.echo(f"{len(rows)} message(s)")


@quarantine_app.command("replay")
def quarantine_replay(
    id: Annotated[
        list[int] | None, typer.Option("--id", help="Replay these ids (default: all pending).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most N pending messages.")] = 10_000,
) -> None:
    """Check quarantined messages again (after a fix) and store those that now pass."""
    from eldercare.db import connect
    from ingest import replay_quarantine

    settings = _settings()
    with connect(_database_url(settings)) as conn:
        outcomes = replay_quarantine(
            conn, namespace=settings.mqtt.namespace, now=datetime.now(UTC), ids=id, limit=limit
        )
    for outcome in outcomes:
        verdict = "stored" if outcome.replayed else "still rejected"
        typer.echo(f"#{outcome.quarantine_id} {verdict}: {outcome.reason}")
    stored = sum(o.replayed for o in outcomes)
    typer.echo(f"{stored} replayed, {len(outcomes) - stored} still rejected")


@app.command()
def status() -> None:
    """Ingest counters per worker (received, stored, duplicates, quarantined, queue, latency)."""
    from eldercare.db import connect
    from ingest import read_worker_status

    with connect(_database_url(_settings())) as conn:
        workers = read_worker_status(conn)
        pending = conn.execute("SELECT count(*) FROM quarantine WHERE replayed_at IS NULL")
        quarantined = pending.fetchone()
    now = datetime.now(UTC)
    for worker in workers:
        c = worker.counters
        age = (now - worker.updated_at).total_seconds()
        typer.echo(
            f"ingest {worker.worker_id} (updated {age:.0f} s ago): received {c['received']}, "
            f"stored {c['readings_stored']} readings, duplicates {c['duplicates']}, "
            f"quarantined {c['quarantined']}, queue depth {c['queue_depth']}, "
            f"batches {c['batches']}, batch p50/p99 {c['batch_seconds']['p50'] * 1000:.0f}/"
            f"{c['batch_seconds']['p99'] * 1000:.0f} ms, write failures {c['write_failures']}, "
            f"queue-full waits {c['queue_full_waits']}"
        )
    if not workers:
        typer.echo("no ingest worker has reported yet")
    typer.echo(f"quarantine: {quarantined[0] if quarantined else 0} message(s) awaiting replay")


@app.command()
def detect(
    input: Annotated[
        Path | None, typer.Option(help="Readings CSV to run the detectors over (batch mode).")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Findings CSV to write (batch mode).")] = None,
) -> None:
    """Run the detectors: on new readings in the database (streaming), or over a CSV (batch).

    CSV columns: ts (ISO 8601 with offset), device_id, resident_id, then one column per metric
    named as in the device catalogue (heart_rate, respiration_rate, bed_presence, ...).
    """
    if (input is None) != (output is None):
        raise ConfigError("batch mode needs both --input and --output")
    if input is not None and output is not None:
        _detect_csv(input, output)
        return
    from analytics import AnalyticsService

    service = AnalyticsService(_require(_settings()))
    _run_until_signal(service.run)


def _detect_csv(input: Path, output: Path) -> None:
    from analytics import detect_csv

    samples, findings = detect_csv(input, output)
    typer.echo(f"{findings} finding(s) from {samples} sample(s) written to {output}")


@app.command()
def evaluate(
    readings: Annotated[Path, typer.Option(help="Readings CSV (the format `detect` reads).")],
    labels: Annotated[
        Path,
        typer.Option(
            help="Labelled episodes CSV: episode_id,type,resident_id,device_id,onset,offset,"
            "definition_met_at,hard_negative."
        ),
    ],
    faults: Annotated[
        Path | None,
        typer.Option(
            help="Injected faults CSV (simulate --to-csv writes it as .faults.csv): also score "
            "the data-quality findings, in their own table."
        ),
    ] = None,
) -> None:
    """Score the detectors against labelled episodes: recall, precision, time to detect.

    Per episode type, also false alerts per resident-day (day and night) and hard negatives;
    with --faults, recall, precision and time to detect of the data-quality channel.
    """
    from analytics import evaluate_csv

    typer.echo(evaluate_csv(readings, labels, faults).format())


@app.command("alerts")
def alerts_worker() -> None:
    """Findings → one alert per resident and kind; escalation, reminders, MQTT/webhook delivery."""
    from alerts import AlertService

    service = AlertService(_require(_settings()))
    _run_until_signal(service.run)


@app.command("consults")
def consults_worker(
    poll_interval: Annotated[float, typer.Option(min=0.05, help="Seconds between passes.")] = 1.0,
) -> None:
    """Referrals: green channel from critical alerts, deadline escalation, risk follow-ups."""
    from consults import ConsultsWorker

    service = ConsultsWorker(_require(_settings()), poll_interval_s=poll_interval)
    _run_until_signal(service.run)


@app.command()
def serve() -> None:
    """Run the web server: the staff API and dashboard."""
    import uvicorn

    from dashboard import create_app

    settings = _settings()
    if settings.database.url is None:
        raise ConfigError("set ELDERCARE_DATABASE_URL, or run 'eldercare up'")
    if (settings.api.ssl_certfile is None) != (settings.api.ssl_keyfile is None):
        raise ConfigError("set both ELDERCARE_API_SSL_CERTFILE and ELDERCARE_API_SSL_KEYFILE")
    uvicorn.run(
        create_app(settings),
        host=settings.api.host,
        port=settings.api.port,
        log_level="warning",
        # HTTPS when configured (docs/deployment.md); plain HTTP otherwise.
        ssl_certfile=str(settings.api.ssl_certfile) if settings.api.ssl_certfile else None,
        ssl_keyfile=str(settings.api.ssl_keyfile) if settings.api.ssl_keyfile else None,
    )
