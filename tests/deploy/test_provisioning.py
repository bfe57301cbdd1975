"""Device onboarding on a real Mosquitto: own topics only, revocation takes effect after reload."""

from __future__ import annotations

import hashlib
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg
import pytest

from eldercare.broker_files import device_publish_topics, hash_password, parse_password_file
from eldercare.errors import ConfigError
from eldercare.provisioning import (
    list_devices,
    provision_device,
    register_service_account,
    reload_broker,
    revoke_device,
    write_broker_files,
)
from eldercare.registry import Bedside, register_site
from tests.deploy.conftest import WAIT_S, free_port

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
NS = "prov"
SERVICE = "svc-ingest"
SERVICE_PASSWORD = "service-password-123"


def _bedside(device: str, bed: str, resident: str, site: str = "site-a") -> Bedside:
    return Bedside(
        site_id=site,
        resident_id=resident,
        display_name=f"Resident {resident}",
        bed_id=bed,
        device_id=device,
        device_model="smart_mattress",
    )


@pytest.fixture
def broker_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "auth"
    folder.mkdir()
    # The service account is made by the operator with mosquitto_passwd (as in production).
    subprocess.run(
        ["/usr/bin/mosquitto_passwd", "-c", "-b", str(folder / "passwd"), SERVICE]
        + [SERVICE_PASSWORD],
        check=True,
        timeout=10,
        capture_output=True,
    )
    return folder


def _write(conn: psycopg.Connection, folder: Path) -> None:
    write_broker_files(
        conn,
        namespace=NS,
        password_file=folder / "passwd",
        acl_file=folder / "acl",
        service_users=(SERVICE,),
    )


def test_provisioning_stores_only_a_hash_and_rotation_replaces_it(
    conn: psycopg.Connection,
) -> None:
    register_site(conn, site_id="site-a", name="A", tier="care_home")
    first = provision_device(conn, _bedside("dev-a", "bed-1", "res-1"), namespace=NS, now=NOW)
    stored = conn.execute("SELECT password_hash FROM device_credentials").fetchall()
    assert len(stored) == 1 and first.password not in stored[0][0]
    assert stored[0][0].startswith("$7$")
    second = provision_device(conn, _bedside("dev-a", "bed-1", "res-1"), namespace=NS, now=NOW)
    assert second.password != first.password
    [listing] = list_devices(conn)
    assert (listing.resident_id, listing.bed_id, listing.credentials) == (
        "res-1",
        "bed-1",
        "active",
    )
    assert revoke_device(conn, "dev-a", now=NOW + timedelta(hours=1))
    assert not revoke_device(conn, "dev-a", now=NOW + timedelta(hours=2))
    [listing] = list_devices(conn)
    assert (listing.resident_id, listing.credentials) == (None, "revoked")


def test_provisioning_refuses_unknown_sites_and_devices_of_other_sites(
    conn: psycopg.Connection,
) -> None:
    with pytest.raises(ConfigError, match="not registered"):
        provision_device(conn, _bedside("dev-a", "bed-1", "res-1"), namespace=NS, now=NOW)
    register_site(conn, site_id="site-a", name="A", tier="care_home")
    register_site(conn, site_id="site-b", name="B", tier="care_home")
    provision_device(conn, _bedside("dev-a", "bed-1", "res-1"), namespace=NS, now=NOW)
    with pytest.raises(ConfigError, match="belongs to site"):
        provision_device(
            conn, _bedside("dev-a", "bed-9", "res-9", site="site-b"), namespace=NS, now=NOW
        )


def test_writing_files_needs_the_service_accounts_in_the_password_file(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="mosquitto_passwd"):
        write_broker_files(
            conn,
            namespace=NS,
            password_file=tmp_path / "passwd",
            acl_file=tmp_path / "acl",
            service_users=(SERVICE,),
        )


def _connect_outcome(port: int, username: str, password: str, clients: Any) -> Any:
    client = clients(port, username=username, password=password, client_id=f"probe-{time.time()}")
    return client.connect()


def test_devices_publish_only_to_their_own_topics_and_revocation_takes_effect(
    conn: psycopg.Connection, broker_dir: Path, mosquitto_factory: Any, clients: Any
) -> None:
    register_site(conn, site_id="site-a", name="A", tier="care_home")
    dev_a = provision_device(conn, _bedside("dev-a", "bed-1", "res-1"), namespace=NS, now=NOW)
    dev_b = provision_device(conn, _bedside("dev-b", "bed-2", "res-2"), namespace=NS, now=NOW)
    _write(conn, broker_dir)
    # The service line written by mosquitto_passwd survives; devices carry our own $7$ hashes.
    entries = parse_password_file((broker_dir / "passwd").read_text(encoding="utf-8"))
    assert set(entries) == {SERVICE, "dev-a", "dev-b"}
    assert (broker_dir / "passwd").stat().st_mode & 0o077 == 0

    port = free_port()
    broker = mosquitto_factory(
        [
            f"listener {port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {broker_dir / 'passwd'}",
            f"acl_file {broker_dir / 'acl'}",
        ],
        [port],
    )
    broker.start()

    ingest = clients(port, username=SERVICE, password=SERVICE_PASSWORD, client_id="ingest")
    assert not ingest.connect().is_failure
    ingest.subscribe(f"{NS}/v1/+/+/+")

    device_a = clients(port, username="dev-a", password=dev_a.password, client_id="dev-a")
    assert not device_a.connect().is_failure
    own = device_a.publish(f"{NS}/v1/site-a/dev-a/vitals", b"own-1")
    assert own.is_published()
    ingest.wait_for(b"own-1")

    # Into another device's topic: MQTT 5 PUBACK says "Not authorized" and nothing is delivered.
    acks: list[Any] = []
    device_a.paho.on_publish = lambda client, userdata, mid, reason, props: acks.append(reason)
    forged = device_a.publish(f"{NS}/v1/site-a/dev-b/vitals", b"forged")
    assert forged.is_published()
    assert acks and acks[-1].is_failure and "authori" in str(acks[-1]).lower()
    device_a.publish(f"{NS}/v1/site-a/dev-a/vitals", b"own-2")
    received = ingest.wait_for(b"own-2")
    assert b"forged" not in [payload for _, payload in received]

    # A device cannot read other devices' data or commands; it can read its own commands.
    device_a.subscribe(f"{NS}/v1/site-a/dev-a/cmd/#")
    ingest.publish(f"{NS}/v1/site-a/dev-a/cmd/measure", b"cmd-1")
    device_a.wait_for(b"cmd-1")

    # MQTT 3.1.1: the broker drops an unauthorised publish silently; prove non-delivery too.
    legacy = clients(
        port,
        username="dev-b",
        password=dev_b.password,
        client_id="dev-b",
        protocol=paho.MQTTv311,
    )
    assert not legacy.connect().is_failure
    legacy.publish(f"{NS}/v1/site-a/dev-a/vitals", b"forged-311")
    legacy.publish(f"{NS}/v1/site-a/dev-b/status", b"own-b")
    received = ingest.wait_for(b"own-b")
    assert b"forged-311" not in [payload for _, payload in received]

    # Revoke dev-a, rewrite the files, reload: the live session is dropped, new logins refused.
    assert revoke_device(conn, "dev-a", now=NOW + timedelta(minutes=5))
    _write(conn, broker_dir)
    reload_broker(broker.pid_file)
    assert device_a.disconnected.wait(WAIT_S), "revoked device stayed connected after reload"
    deadline = time.monotonic() + WAIT_S
    while True:
        outcome = _connect_outcome(port, "dev-a", dev_a.password, clients)
        if outcome.is_failure:
            break
        assert time.monotonic() < deadline, "revoked device can still connect"
        time.sleep(0.1)
    # Other devices and the services are unaffected.
    assert not _connect_outcome(port, "dev-b", dev_b.password, clients).is_failure
    assert not _connect_outcome(port, SERVICE, SERVICE_PASSWORD, clients).is_failure
    assert _connect_outcome(port, "dev-b", "wrong-password", clients).is_failure


def test_a_stored_hash_is_what_mosquitto_checks(tmp_path: Path) -> None:
    # Sanity for the password-file format: mosquitto_passwd -U refuses to re-hash a $7$ line,
    # which shows the tool recognises our lines as already hashed.
    path = tmp_path / "passwd"
    path.write_text(f"dev:{hash_password('pw')}\n", encoding="utf-8")
    result = subprocess.run(
        ["/usr/bin/mosquitto_passwd", "-U", str(path)], capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 0
    assert parse_password_file(path.read_text(encoding="utf-8"))["dev"].startswith("$7$")


def test_emqx_views_give_the_same_logins_and_rules_as_the_mosquitto_files(
    conn: psycopg.Connection,
) -> None:
    register_site(conn, site_id="site-a", name="A", tier="care_home")
    dev_a = provision_device(conn, _bedside("dev-a", "bed-1", "res-1"), namespace=NS, now=NOW)
    provision_device(conn, _bedside("dev-b", "bed-2", "res-2"), namespace=NS, now=NOW)
    revoke_device(conn, "dev-b", now=NOW + timedelta(minutes=1))
    register_service_account(
        conn, username=SERVICE, password=SERVICE_PASSWORD, namespace=NS, now=NOW
    )
    logins = {
        row[0]: (row[1], bytes(row[2]))
        for row in conn.execute("SELECT username, password_hash, salt FROM mqtt_credentials")
    }
    assert set(logins) == {"dev-a", SERVICE}  # revoked devices cannot log in

    def emqx_check(password: str, stored: tuple[str, bytes]) -> bool:
        # What EMQX's pbkdf2 (sha512, 101 iterations, 64 bytes) does: hex of the derived key.
        key = hashlib.pbkdf2_hmac("sha512", password.encode(), stored[1], 101, 64)
        return key.hex() == stored[0]

    assert emqx_check(dev_a.password, logins["dev-a"])
    assert emqx_check(SERVICE_PASSWORD, logins[SERVICE])
    assert not emqx_check("wrong", logins["dev-a"])

    rules = conn.execute(
        "SELECT username, permission, action, topic FROM mqtt_acl ORDER BY 1, 3, 4"
    ).fetchall()
    device_rules = {(action, topic) for user, _, action, topic in rules if user == "dev-a"}
    assert device_rules == {
        *(("publish", topic) for topic in device_publish_topics(NS, "site-a", "dev-a")),
        ("subscribe", f"{NS}/v1/site-a/dev-a/cmd/#"),
    }
    assert {(a, t) for u, _, a, t in rules if u == SERVICE} == {
        ("all", f"{NS}/#"),
        ("subscribe", "$SYS/#"),
    }
    assert not [r for r in rules if r[0] == "dev-b"]
    assert {r[1] for r in rules} == {"allow"}
