"""The production broker config (deploy/mosquitto/mosquitto.conf) run for real with trustme
certificates, and the API served over HTTPS by `eldercare serve`."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trustme

from dashboard import Role, create_staff
from eldercare.embedded import wait_for_port
from eldercare.provisioning import provision_device, write_broker_files
from eldercare.registry import Bedside, register_site
from tests.deploy.conftest import WAIT_S, free_port
from tests.utils.staff import TEST_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_CONF = ROOT / "deploy/mosquitto/mosquitto.conf"
NS = "tls"


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def _write_certs(ca: trustme.CA, folder: Path, *, prefix: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(folder / "ca.crt"))
    server.cert_chain_pems[0].write_to_path(str(folder / f"{prefix}.crt"))
    for extra in server.cert_chain_pems[1:]:
        with (folder / f"{prefix}.crt").open("ab") as out:
            out.write(extra.bytes())
    server.private_key_pem.write_to_path(str(folder / f"{prefix}.key"))


def localise(conf: str, *, folder: Path, plain_port: int, tls_port: int) -> list[str]:
    """The production config with container paths and ports mapped into a test folder."""
    text = (
        conf.replace("/mosquitto/config/auth/", f"{folder}/auth/")
        .replace("/mosquitto/certs/", f"{folder}/certs/")
        .replace("/mosquitto/data/", f"{folder}/data/")
    )
    text = re.sub(r"^listener 1883$", f"listener {plain_port} 127.0.0.1", text, flags=re.M)
    text = re.sub(r"^listener 8883$", f"listener {tls_port} 127.0.0.1", text, flags=re.M)
    # The fixture logs to a file of its own.
    return [line for line in text.splitlines() if not line.startswith(("log_dest", "log_type"))]


def test_production_broker_config_serves_tls_with_site_certificates(
    conn: psycopg.Connection, tmp_path: Path, ca: trustme.CA, mosquitto_factory: Any, clients: Any
) -> None:
    folder = tmp_path / "site"
    _write_certs(ca, folder / "certs", prefix="mqtt-server")
    (folder / "data").mkdir(parents=True)
    (folder / "auth").mkdir()
    subprocess.run(
        ["/usr/bin/mosquitto_passwd", "-c", "-b", str(folder / "auth/passwd"), "svc", "svc-pw"],
        check=True,
        timeout=10,
        capture_output=True,
    )
    register_site(conn, site_id="site-a", name="A", tier="care_home")
    issued = provision_device(
        conn,
        Bedside(
            site_id="site-a",
            resident_id="res-1",
            display_name="R",
            bed_id="bed-1",
            device_id="dev-1",
            device_model="smart_mattress",
        ),
        namespace=NS,
        now=datetime(2026, 3, 1, tzinfo=UTC),
    )
    write_broker_files(
        conn,
        namespace=NS,
        password_file=folder / "auth/passwd",
        acl_file=folder / "auth/acl",
        service_users=("svc",),
    )
    plain_port, tls_port = free_port(), free_port()
    lines = localise(
        PRODUCTION_CONF.read_text(encoding="utf-8"),
        folder=folder,
        plain_port=plain_port,
        tls_port=tls_port,
    )
    broker = mosquitto_factory(lines, [plain_port, tls_port])
    broker.start()

    # The service account on the internal plain listener receives what the device sends over TLS.
    service = clients(plain_port, username="svc", password="svc-pw", client_id="svc")
    assert not service.connect().is_failure
    service.subscribe(f"{NS}/v1/+/+/+")
    device = clients(
        tls_port,
        username="dev-1",
        password=issued.password,
        client_id="dev-1",
        tls_ca=folder / "certs/ca.crt",
    )
    assert not device.connect().is_failure
    device.publish(f"{NS}/v1/site-a/dev-1/vitals", b"over-tls")
    service.wait_for(b"over-tls")

    # A client that does not trust the site CA refuses the broker's certificate.
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    distrusting = ssl.create_default_context(cafile=str(other_ca))
    with socket.create_connection(("127.0.0.1", tls_port), timeout=WAIT_S) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            distrusting.wrap_socket(raw, server_hostname="127.0.0.1")
    # Plain MQTT on the TLS port gets no CONNACK.
    plain_on_tls = clients(tls_port, username="dev-1", password=issued.password, client_id="p")
    plain_on_tls.paho.connect("127.0.0.1", tls_port, keepalive=5)
    plain_on_tls.paho.loop_start()
    assert not plain_on_tls.connected.wait(2)


def _https_json(
    url: str, context: ssl.SSLContext, *, body: dict[str, str] | None = None, token: str = ""
) -> tuple[dict[str, Any], list[str]]:
    """The JSON answer of a GET (or of a POST of `body`) and the cookies the server set."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode() if body is not None else None, headers=headers
    )
    with urllib.request.urlopen(request, context=context, timeout=5) as response:
        assert response.status == 200
        return json.load(response), response.headers.get_all("Set-Cookie") or []


def test_eldercare_serve_speaks_https_with_configured_certificates(
    database_url: str, tmp_path: Path, ca: trustme.CA
) -> None:
    _write_certs(ca, tmp_path / "certs", prefix="api-server")
    with psycopg.connect(database_url, autocommit=True) as conn:
        register_site(conn, site_id="tls-home", name="TLS home", tier="care_home")
        create_staff(
            conn,
            username="nurse.tls",
            display_name="TLS nurse",
            role=Role.NURSE,
            password=TEST_PASSWORD,
            now=datetime.now(UTC),
            site_id="tls-home",
        )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env |= {
        "ELDERCARE_DATABASE_URL": database_url,
        "ELDERCARE_MQTT_URL": "mqtt://127.0.0.1:1",
        "ELDERCARE_API_PORT": str(port),
        "ELDERCARE_API_SSL_CERTFILE": str(tmp_path / "certs/api-server.crt"),
        "ELDERCARE_API_SSL_KEYFILE": str(tmp_path / "certs/api-server.key"),
        "ELDERCARE_STATE_DIR": str(tmp_path / "state"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "eldercare", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=60, alive=lambda: server.poll() is None)
        context = ssl.create_default_context(cafile=str(tmp_path / "certs/ca.crt"))
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{port}/api/health", context=context, timeout=5
                ) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        # Staff log in over HTTPS; the session cookie is then never sent over plain HTTP.
        base = f"https://127.0.0.1:{port}/api"
        login = {"username": "nurse.tls", "password": TEST_PASSWORD}
        session, cookies = _https_json(f"{base}/auth/login", context, body=login)
        [cookie] = cookies
        assert cookie.startswith("eldercare_session=")
        assert {"secure", "httponly", "samesite=strict"} <= {
            part.strip().lower() for part in cookie.split(";")
        }
        me, _ = _https_json(f"{base}/auth/me", context, token=session["token"])
        assert me["username"] == "nurse.tls" and me["home_site_ids"] == ["tls-home"]
        # Plain HTTP to the same port is not served.
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5)
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()


def test_serve_refuses_half_a_tls_configuration(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env |= {
        "ELDERCARE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
        "ELDERCARE_API_SSL_CERTFILE": str(tmp_path / "only-a-cert.pem"),
        "ELDERCARE_STATE_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "eldercare", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "ELDERCARE_API_SSL_KEYFILE" in result.stderr
