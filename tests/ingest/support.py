"""Helpers shared by the ingest tests: waiting on conditions, counting rows, a QoS 1 publisher."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from devices import Metric, Sample, VitalsMessage, encode_vitals

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll a condition until it holds; fail with `what` at the deadline (no blind sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def count(url: str, sql: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


class Publisher:
    """A QoS 1 publisher that waits for the broker's PUBACK of everything it sent."""

    def __init__(self, port: int, *, client_id: str = "") -> None:
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv311,
        )
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._pending: list[paho.MQTTMessageInfo] = []
        self._lock = threading.Lock()
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        info = self._client.publish(topic, payload, qos=qos)
        with self._lock:
            self._pending.append(info)

    def flush(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            pending, self._pending = self._pending, []
        for info in pending:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            assert info.is_published(), "broker did not acknowledge a publish"

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
METRICS_PER_MESSAGE = 2


def vitals_payload(seq: int, ts: datetime, heart_rate: float = 70.0) -> bytes:
    """One valid sample with METRICS_PER_MESSAGE metrics."""
    return encode_vitals(
        VitalsMessage(
            seq=seq,
            samples=(
                Sample(
                    device_ts=ts,
                    values=((Metric.HEART_RATE, heart_rate), (Metric.BED_PRESENCE, 1.0)),
                ),
            ),
        )
    )
