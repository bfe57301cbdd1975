"""Public-broker options on loopback: a private TLS Mosquitto (CA and certificates made here) that
requires a password, and one listener that also requires a client certificate."""

from __future__ import annotations

import gc
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho
import pytest
import trustme

from eldercare.errors import ConfigError, EldercareError
from eldercare.mqtt import connect, make_client
from eldercare.settings import MqttSettings
from simulators import ScenarioConfig, ScenarioPublisher

MOSQUITTO = "/usr/sbin/mosquitto"
USER, PASSWORD = "device-gw", "s3cret-" + secrets.token_hex(4)

pytestmark = pytest.mark.skipif(
    not (Path(MOSQUITTO).exists() and shutil.which("mosquitto_passwd")),
    reason="needs mosquitto and mosquitto_passwd",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class TlsBroker:
    password_port: int  # TLS + password
    client_cert_port: int  # TLS + password + client certificate
    ca_file: Path
    client_cert: Path
    client_key: Path
    other_ca_file: Path  # a CA the broker's certificate does not chain to

    def settings(self, port: int, password: str = PASSWORD, **files: Path) -> MqttSettings:
        return MqttSettings(
            url=f"mqtts://{USER}:{password}@127.0.0.1:{port}",
            namespace=f"tls-{secrets.token_hex(4)}",
            ca_file=files.get("ca_file", self.ca_file),
            cert_file=files.get("cert_file"),
            key_file=files.get("key_file"),
        )


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    root = tmp_path_factory.mktemp("tls-broker")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("device-gw@example.org")
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(root / "server.pem"))
    server.private_key_pem.write_to_path(str(root / "server.key"))
    client.cert_chain_pems[0].write_to_path(str(root / "client.pem"))
    client.private_key_pem.write_to_path(str(root / "client.key"))
    trustme.CA().cert_pem.write_to_path(str(root / "other-ca.pem"))
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(root / "passwd"), USER, PASSWORD], check=True
    )
    password_port, client_cert_port = _free_port(), _free_port()
    tls = [
        f"cafile {root / 'ca.pem'}",
        f"certfile {root / 'server.pem'}",
        f"keyfile {root / 'server.key'}",
    ]
    (root / "mosquitto.conf").write_text(
        "\n".join(
            [
                "per_listener_settings false",
                "allow_anonymous false",
                f"password_file {root / 'passwd'}",
                "persistence false",
                f"log_dest file {root / 'mosquitto.log'}",
                "user root",
                f"listener {password_port} 127.0.0.1",
                *tls,
                "require_certificate false",
                f"listener {client_cert_port} 127.0.0.1",
                *tls,
                "require_certificate true",
                "",
            ]
        ),
        encoding="utf-8",
    )
    broker = subprocess.Popen(
        [MOSQUITTO, "-c", str(root / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        for port in (password_port, client_cert_port):
            while True:
                assert broker.poll() is None, (root / "mosquitto.log").read_text(errors="replace")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "TLS mosquitto did not start"
                    time.sleep(0.05)
        yield TlsBroker(
            password_port=password_port,
            client_cert_port=client_cert_port,
            ca_file=root / "ca.pem",
            client_cert=root / "client.pem",
            client_key=root / "client.key",
            other_ca_file=root / "other-ca.pem",
        )
    finally:
        broker.terminate()
        broker.wait(10)


def _receive(settings: MqttSettings, count: int) -> tuple[list[bytes], paho.Client]:
    received: list[bytes] = []
    subscribed = threading.Event()
    client = make_client(settings, client_id=f"sub-{secrets.token_hex(4)}")
    client.on_message = lambda c, u, message: received.append(message.payload)
    client.on_subscribe = lambda *args: subscribed.set()
    connect(client, settings)
    client.subscribe(f"{settings.namespace}/v1/+/+/+", qos=1)
    assert subscribed.wait(10)
    return received, client


def test_verified_tls_with_password_connects_and_publishes(tls_broker: TlsBroker) -> None:
    settings = tls_broker.settings(tls_broker.password_port)
    received, subscriber = _receive(settings, 1)
    config = ScenarioConfig(
        start=datetime(2026, 11, 24, 23, 0, tzinfo=UTC),
        duration_s=30,
        residents=1,
        devices=("smart_mattress", "fingertip_oximeter"),
    )
    publisher = ScenarioPublisher(config, settings, speed=30.0)
    publisher.connect()
    try:
        stats = publisher.run()
    finally:
        publisher.close()
    deadline = time.monotonic() + 10
    while len(received) < stats.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    subscriber.disconnect()
    subscriber.loop_stop()
    assert stats.messages >= 60 and len(received) >= stats.messages


def test_client_certificate_listener_accepts_a_certified_client(tls_broker: TlsBroker) -> None:
    settings = tls_broker.settings(
        tls_broker.client_cert_port,
        cert_file=tls_broker.client_cert,
        key_file=tls_broker.client_key,
    )
    client = make_client(settings, client_id="certified")
    connect(client, settings)
    client.disconnect()
    client.loop_stop()


def _fails_fast(
    settings: MqttSettings, limit_s: float = 12.0, connect_timeout_s: float = 8.0
) -> EldercareError:
    client = make_client(settings, client_id=f"bad-{secrets.token_hex(3)}")
    began = time.monotonic()
    try:
        with pytest.raises(EldercareError) as caught:
            connect(client, settings, timeout=connect_timeout_s)
    finally:
        client.loop_stop()
        sock = client.socket()
        if sock is not None:
            sock.close()
    assert time.monotonic() - began < limit_s, "a bad credential must not hang"
    return caught.value


def test_wrong_password_is_a_clear_config_error(tls_broker: TlsBroker) -> None:
    error = _fails_fast(tls_broker.settings(tls_broker.password_port, password="wrong"))
    assert isinstance(error, ConfigError)
    assert "refused the connection" in str(error) and "authori" in str(error).lower()


def test_untrusted_server_certificate_is_a_clear_config_error(tls_broker: TlsBroker) -> None:
    settings = tls_broker.settings(tls_broker.password_port, ca_file=tls_broker.other_ca_file)
    error = _fails_fast(settings, limit_s=3.0)
    assert isinstance(error, ConfigError)
    assert "TLS handshake" in str(error) and "certificate verify failed" in str(error)
    # paho leaves the half-open SSL socket to the garbage collector (referenced from the
    # exception's traceback); release it here rather than warn in a later test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        error.__cause__ = None
        error.__traceback__ = None
        del error
        gc.collect()


def test_missing_client_certificate_is_refused_not_hung(tls_broker: TlsBroker) -> None:
    # The broker drops the connection after the TLS 1.3 handshake, so the client learns it only
    # when no CONNACK comes: a bounded wait with an error, not a hang.
    error = _fails_fast(tls_broker.settings(tls_broker.client_cert_port), connect_timeout_s=3.0)
    assert "127.0.0.1" in str(error)


def test_cli_on_mqtts_prints_a_private_namespace(tls_broker: TlsBroker) -> None:
    env = {
        **os.environ,
        "ELDERCARE_MQTT_URL": f"mqtts://{USER}:{PASSWORD}@127.0.0.1:{tls_broker.password_port}",
        "ELDERCARE_MQTT_CA_FILE": str(tls_broker.ca_file),
        "ELDERCARE_MQTT_NAMESPACE": "eldercare",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "eldercare",
            "simulate",
            "--residents",
            "1",
            "--devices",
            "smart_mattress",
            "--duration",
            "5",
            "--speed",
            "10",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"namespace 'eldercare-[0-9a-f]{12}'", done.stdout), done.stdout
    assert f"mqtts://127.0.0.1:{tls_broker.password_port}" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr


def test_cli_with_a_wrong_password_exits_with_a_clear_message(tls_broker: TlsBroker) -> None:
    env = {
        **os.environ,
        "ELDERCARE_MQTT_URL": f"mqtts://{USER}:nope@127.0.0.1:{tls_broker.password_port}",
        "ELDERCARE_MQTT_CA_FILE": str(tls_broker.ca_file),
    }
    done = subprocess.run(
        [sys.executable, "-m", "eldercare", "simulate", "--residents", "1", "--duration", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "refused the connection" in done.stderr
