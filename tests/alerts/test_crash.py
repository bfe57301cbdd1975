"""Durable outbox: SIGKILL `python -m eldercare alerts` while it delivers, restart it, and every
event still reaches the webhook receiver and the MQTT topic (receivers dedupe by event id)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from eldercare.settings import Settings
from tests.alerts.conftest import Receiver, add_findings, add_residents, add_webhook, make_finding

RESIDENTS = 40


@contextmanager
def alerts_process(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "ELDERCARE_DATABASE_URL": str(settings.database.url),
        "ELDERCARE_MQTT_URL": str(settings.mqtt.url),
        "ELDERCARE_MQTT_NAMESPACE": settings.mqtt.namespace,
        "ELDERCARE_STATE_DIR": str(settings.state_dir),
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "eldercare", "alerts"], env=env, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _pending(conn: psycopg.Connection) -> int:
    (count,) = conn.execute(  # type: ignore[misc]
        "SELECT count(*) FROM alert_deliveries WHERE state <> 'delivered'"
    ).fetchone()
    return int(count)


def test_kill_during_delivery_then_restart_delivers_every_event(
    settings: Settings, conn: psycopg.Connection, receiver: Receiver, tmp_path: Path
) -> None:
    add_residents(conn, {f"r{i}": "medium" for i in range(RESIDENTS)})
    add_webhook(conn, receiver.url)
    receiver.delay_s = 0.05  # a slow receiver keeps the worker mid-delivery when it is killed
    add_findings(conn, [make_finding(f"r{i}") for i in range(RESIDENTS)])
    log = tmp_path / "alerts.log"

    with alerts_process(settings, log) as first:
        assert receiver.wait_for(lambda r: len(r.event_ids) >= 5, timeout=60), log.read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    received_before_restart = len(set(receiver.event_ids))
    assert received_before_restart < RESIDENTS, "the kill came too late to test anything"
    assert _pending(conn) > 0

    with alerts_process(settings, log) as second:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _pending(conn) > 0:
            time.sleep(0.2)
        assert _pending(conn) == 0, log.read_text()
        second.terminate()
        assert second.wait(30) == 0

    stored = {r[0] for r in conn.execute("SELECT event_id::text FROM alert_events").fetchall()}
    assert len(stored) == RESIDENTS
    assert set(receiver.event_ids) == stored  # every event, duplicates allowed
    assert receiver.bad_signatures == 0
    states = conn.execute(
        "SELECT s.transport, count(*) FROM alert_deliveries d"
        " JOIN alert_subscribers s USING (subscriber_id) WHERE d.state = 'delivered'"
        " GROUP BY s.transport ORDER BY 1"
    ).fetchall()
    assert states == [("mqtt", RESIDENTS), ("webhook", RESIDENTS)]
