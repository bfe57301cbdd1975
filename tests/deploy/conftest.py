"""A private, authenticated Mosquitto per test (password file, ACL file, optional TLS listener) and
small bounded MQTT client helpers for the deployment tests."""

from __future__ import annotations

import getpass
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from eldercare.embedded import wait_for_port

MOSQUITTO = "/usr/sbin/mosquitto"
WAIT_S = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PrivateMosquitto:
    """Mosquitto started from `config_lines` in `folder`; the PID file feeds `reload_broker`."""

    folder: Path
    config_lines: list[str]
    ports: list[int]
    process: subprocess.Popen[bytes] | None = None
    pid_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.pid_file = self.folder / "mosquitto.pid"

    def start(self) -> None:
        lines = list(self.config_lines)
        if os.geteuid() == 0:
            # As root mosquitto would switch to a 'mosquitto' user that cannot read the tmp files.
            lines.append(f"user {getpass.getuser()}")
        lines += [f"log_dest file {self.folder / 'mosquitto.log'}", "log_type all"]
        conf = self.folder / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        process = self.process
        for port in self.ports:
            wait_for_port("127.0.0.1", port, timeout=WAIT_S, alive=lambda: process.poll() is None)
        self.pid_file.write_text(str(process.pid), encoding="utf-8")

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[PrivateMosquitto] = []

    def make(config_lines: list[str], ports: list[int]) -> PrivateMosquitto:
        folder = tmp_path / f"broker{len(started)}"
        folder.mkdir()
        broker = PrivateMosquitto(folder, config_lines, ports)
        started.append(broker)
        return broker

    yield make
    for broker in started:
        broker.stop()


class Client:
    """A paho client with bounded waits: connect outcome, received messages, publish results."""

    def __init__(
        self,
        port: int,
        *,
        username: str,
        password: str,
        client_id: str,
        protocol: int = paho.MQTTv5,
        tls_ca: Path | None = None,
    ) -> None:
        self.port = port
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connect_reason: Any = None
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.paho = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
        )
        self.paho.username_pw_set(username, password)
        if tls_ca is not None:
            self.paho.tls_set(ca_certs=str(tls_ca), cert_reqs=ssl.CERT_REQUIRED)
        self.paho.on_connect = self._on_connect
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_message = self._on_message

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connect_reason = reason
        self.connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.disconnected.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def connect(self) -> Any:
        """Connect and return the broker's CONNACK reason (no automatic reconnect)."""
        self.paho.connect("127.0.0.1", self.port, keepalive=30)
        self.paho.loop_start()
        assert self.connected.wait(WAIT_S), "no CONNACK"
        return self.connect_reason

    def subscribe(self, topic: str) -> None:
        granted = threading.Event()
        self.paho.on_subscribe = lambda *args: granted.set()
        self.paho.subscribe(topic, qos=1)
        assert granted.wait(WAIT_S), "no SUBACK"

    def publish(self, topic: str, payload: bytes) -> paho.MQTTMessageInfo:
        info = self.paho.publish(topic, payload, qos=1)
        info.wait_for_publish(WAIT_S)
        return info

    def wait_for(self, payload: bytes) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            with self._lock:
                if any(p == payload for _, p in self.messages):
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"{payload!r} not received within {WAIT_S} s: {self.messages}")

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


@pytest.fixture
def clients() -> Iterator[Any]:
    made: list[Client] = []

    def make(port: int, **kwargs: Any) -> Client:
        client = Client(port, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
