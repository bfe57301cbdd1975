"""Embedded services used when no URL is configured (what a fresh machine gets)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import psycopg
import pytest

from eldercare.embedded import EmbeddedMosquitto, EmbeddedPostgres, port_in_use
from eldercare.errors import ServiceError
from tests.utils.dirs import private_dir


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_embedded_postgres_keeps_data_across_restarts() -> None:
    with private_dir("pg") as folder:
        _keeps_data_across_restarts(folder)


def _keeps_data_across_restarts(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")
    url = server.start()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (x int)")
            conn.execute("INSERT INTO kept VALUES (42)")
    finally:
        server.stop()
    again = EmbeddedPostgres(tmp_path / "pg")
    url = again.start()
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT x FROM kept").fetchone() == (42,)
    finally:
        again.stop()


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto is not on PATH")
def test_embedded_mosquitto_starts_refuses_a_taken_port_and_stops(tmp_path: Path) -> None:
    port = _free_port()
    broker = EmbeddedMosquitto(tmp_path / "mq", port=port, executable=shutil.which("mosquitto"))  # type: ignore[arg-type]
    assert broker.start() == f"mqtt://127.0.0.1:{port}"
    try:
        second = EmbeddedMosquitto(tmp_path / "mq2", port=port, executable="mosquitto")
        with pytest.raises(ServiceError, match=f"port {port} is taken"):
            second.start()
    finally:
        broker.stop()
    assert not port_in_use("127.0.0.1", port)


def test_configured_urls_start_nothing_embedded(tmp_path: Path) -> None:
    from contextlib import ExitStack

    from eldercare.embedded import start_embedded
    from eldercare.settings import load_settings

    configured = load_settings(
        database={"url": "postgresql://db.example/eldercare"},
        mqtt={"url": "mqtts://broker.example"},
        state_dir=tmp_path,
    )
    with ExitStack() as stack:
        resolved = start_embedded(configured, stack)
        assert resolved.database.url == "postgresql://db.example/eldercare"
        assert resolved.mqtt.url == "mqtts://broker.example"
        assert stack.pop_all() is not None and list(tmp_path.iterdir()) == []
