"""Operations commands: devices (broker credentials), db policies and jobs, backup, restore."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eldercare.errors import ConfigError
from eldercare.settings import Settings

if TYPE_CHECKING:
    pass

from eldercare.cli._app import _database_url, _settings, app

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
