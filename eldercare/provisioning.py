"""Device onboarding: register a device at a bed, issue broker credentials, write the broker files.

The database is the source of truth (``device_credentials`` keeps only hashes); the Mosquitto
password and ACL files are rendered from it by `eldercare.broker_files` and replaced atomically, and
the broker is told to reload them (SIGHUP). See docs/deployment.md.
"""

from __future__ import annotations

import os
import signal
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from eldercare.broker_files import (
    DeviceAccount,
    check_name,
    generate_secret,
    hash_password,
    parse_password_file,
    render_acl,
    render_password_file,
)
from eldercare.errors import ConfigError, ServiceError
from eldercare.registry import Bedside, register_bedside


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """What the operator must copy into the device once: it is not stored anywhere."""

    device_id: str
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class DeviceListing:
    device_id: str
    site_id: str
    model: str
    resident_id: str | None
    bed_id: str | None
    credentials: str  # "active", "revoked" or "none"


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    password_file: Path
    acl_file: Path
    devices: int
    service_users: tuple[str, ...]


def provision_device(
    conn: psycopg.Connection, bedside: Bedside, *, namespace: str, now: datetime
) -> IssuedCredentials:
    """Register (or re-assign) the device at its bed and issue a new password.

    Provisioning an already provisioned device rotates its password (the old one stops working
    once the broker files are rewritten and reloaded) and lifts a revocation.
    """
    check_name("device id", bedside.device_id)
    check_name("site id", bedside.site_id)
    with conn.transaction():
        site = conn.execute("SELECT 1 FROM sites WHERE site_id = %s", (bedside.site_id,)).fetchone()
        if site is None:
            raise ConfigError(f"site {bedside.site_id!r} is not registered")
        owner = conn.execute(
            "SELECT site_id FROM devices WHERE device_id = %s", (bedside.device_id,)
        ).fetchone()
        if owner is not None and owner[0] != bedside.site_id:
            raise ConfigError(
                f"device {bedside.device_id!r} belongs to site {owner[0]!r}, not "
                f"{bedside.site_id!r}; revoke it there first"
            )
        register_bedside(conn, bedside, since=now)
        password = generate_secret()
        conn.execute(
            """INSERT INTO device_credentials
                   (device_id, username, namespace, password_hash, created_at, rotated_at)
               VALUES (%(device)s, %(device)s, %(ns)s, %(hash)s, %(now)s, %(now)s)
               ON CONFLICT (device_id) DO UPDATE
                   SET password_hash = excluded.password_hash, rotated_at = excluded.rotated_at,
                       namespace = excluded.namespace, revoked_at = NULL""",
            {
                "device": bedside.device_id,
                "ns": namespace,
                "hash": hash_password(password),
                "now": now,
            },
        )
    return IssuedCredentials(
        device_id=bedside.device_id, username=bedside.device_id, password=password
    )


def revoke_device(conn: psycopg.Connection, device_id: str, *, now: datetime) -> bool:
    """Revoke the device's credentials and close its bed assignment; False if it had none."""
    with conn.transaction():
        revoked = conn.execute(
            "UPDATE device_credentials SET revoked_at = %s"
            " WHERE device_id = %s AND revoked_at IS NULL",
            (now, device_id),
        ).rowcount
        conn.execute(
            "UPDATE device_assignments SET assigned_until = %s"
            " WHERE device_id = %s AND assigned_until IS NULL AND assigned_from < %s",
            (now, device_id, now),
        )
    return revoked > 0


def register_service_account(
    conn: psycopg.Connection, *, username: str, password: str, namespace: str, now: datetime
) -> None:
    """Store (the hash of) a service's broker login, for brokers that read the database (EMQX)."""
    check_name("service account", username)
    conn.execute(
        """INSERT INTO broker_service_accounts (username, namespace, password_hash, updated_at)
           VALUES (%s, %s, %s, %s)
           ON CONFLICT (username) DO UPDATE SET namespace = excluded.namespace,
               password_hash = excluded.password_hash, updated_at = excluded.updated_at""",
        (username, namespace, hash_password(password), now),
    )


def list_devices(conn: psycopg.Connection, *, site_id: str | None = None) -> list[DeviceListing]:
    rows = conn.execute(
        """SELECT d.device_id, d.site_id, d.model, a.resident_id, a.bed_id,
                  CASE WHEN c.device_id IS NULL THEN 'none'
                       WHEN c.revoked_at IS NULL THEN 'active' ELSE 'revoked' END
           FROM devices d
           LEFT JOIN device_assignments a
                  ON a.device_id = d.device_id AND a.assigned_until IS NULL
           LEFT JOIN device_credentials c ON c.device_id = d.device_id
           WHERE %(site)s::text IS NULL OR d.site_id = %(site)s
           ORDER BY d.site_id, d.device_id""",
        {"site": site_id},
    ).fetchall()
    return [DeviceListing(*row) for row in rows]


def active_accounts(conn: psycopg.Connection) -> tuple[list[DeviceAccount], set[str]]:
    """Active device accounts, and every device username ever issued (revoked included)."""
    rows = conn.execute(
        """SELECT c.device_id, d.site_id, c.password_hash, c.username, c.revoked_at IS NULL
           FROM device_credentials c JOIN devices d USING (device_id)
           ORDER BY c.device_id"""
    ).fetchall()
    active = [
        DeviceAccount(device_id=device_id, site_id=site_id, password_hash=password_hash)
        for device_id, site_id, password_hash, _, is_active in rows
        if is_active
    ]
    return active, {row[3] for row in rows}


def write_broker_files(
    conn: psycopg.Connection,
    *,
    namespace: str,
    password_file: Path,
    acl_file: Path,
    service_users: tuple[str, ...],
    file_owner: tuple[int, int] | None = None,
) -> BrokerFiles:
    """Rewrite both files from the database. Lines of users that are not devices (service
    accounts added with mosquitto_passwd) are kept; each file is replaced atomically."""
    devices, managed = active_accounts(conn)
    existing = (
        parse_password_file(password_file.read_text(encoding="utf-8"))
        if password_file.exists()
        else {}
    )
    missing = [user for user in service_users if user not in existing]
    if missing:
        raise ConfigError(
            f"service account(s) {', '.join(missing)} not in {password_file}: add them with "
            "mosquitto_passwd first (docs/deployment.md), or the services could not log in"
        )
    _replace(
        password_file,
        render_password_file(devices, keep=existing, managed_usernames=managed),
        mode=0o600,
        owner=file_owner,
    )
    _replace(
        acl_file,
        render_acl(namespace, devices, service_users=service_users),
        mode=0o644,
        owner=file_owner,
    )
    return BrokerFiles(
        password_file=password_file,
        acl_file=acl_file,
        devices=len(devices),
        service_users=service_users,
    )


def _replace(path: Path, text: str, *, mode: int, owner: tuple[int, int] | None) -> None:
    # Write then rename in the same folder: the broker never reads a half-written file. (Mount the
    # folder, not the file, into a container: a renamed-over file is not seen through a file mount.)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, mode)
        if owner is not None:
            os.chown(temporary, *owner)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def reload_broker(pid_file: Path) -> int:
    """Send SIGHUP to the broker whose PID is in `pid_file`: Mosquitto rereads its password and
    ACL files and disconnects clients whose credentials are no longer valid. Returns the PID."""
    try:
        pid = int(pid_file.read_text(encoding="utf-8").strip())
    except (OSError, ValueError) as exc:
        raise ServiceError(f"cannot read a broker PID from {pid_file}: {exc}") from exc
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        raise ServiceError(f"cannot signal broker process {pid}: {exc}") from exc
    return pid
