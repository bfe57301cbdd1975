"""Simulation commands: simulate and asyncapi."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eldercare.errors import ConfigError
from eldercare.settings import Settings

if TYPE_CHECKING:
    from rich.progress import Progress

    from simulators import DeviceMessage, EpisodeSpec, ScenarioConfig, ScenarioPublisher

from eldercare.cli._app import DEMO_SITE, _run_until_signal, _settings, app


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
