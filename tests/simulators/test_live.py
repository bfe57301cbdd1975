"""Live over MQTT on the real broker: the same bytes as the batch path, per device and overall."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import paho.mqtt.client as paho
import psycopg
import pytest

from devices import Stream, Topics
from eldercare.mqtt import connect, make_client
from eldercare.settings import MqttSettings, Settings
from simulators import (
    EpisodeSpec,
    EpisodeType,
    FaultRates,
    ScenarioConfig,
    ScenarioPublisher,
    build_scenario,
)

START = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)


@contextmanager
def collecting(mqtt: MqttSettings, topic_filter: str) -> Iterator[list[tuple[str, bytes]]]:
    received: list[tuple[str, bytes]] = []
    lock = threading.Lock()
    subscribed = threading.Event()
    client = make_client(mqtt, client_id=f"test-sub-{secrets.token_hex(4)}")

    def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        with lock:
            received.append((message.topic, message.payload))

    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    connect(client, mqtt)
    client.subscribe(topic_filter, qos=1)
    assert subscribed.wait(10)
    try:
        yield received
    finally:
        client.disconnect()
        client.loop_stop()


def _wait_for(received: list[tuple[str, bytes]], count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def mqtt(service_settings: Settings) -> MqttSettings:
    return service_settings.mqtt.model_copy(update={"namespace": f"sim-{secrets.token_hex(4)}"})


@pytest.mark.parametrize("gateway", [False, True], ids=["per-device", "gateway"])
def test_live_run_publishes_the_batch_scenario_byte_for_byte(
    mqtt: MqttSettings, gateway: bool
) -> None:
    config = ScenarioConfig(
        start=START,
        duration_s=120,
        residents=2,
        seed=5,
        faults=FaultRates(packet_loss=0.05, duplicate=0.05, reorder=0.05, send_jitter_s=0.2),
        episodes=(EpisodeSpec(type=EpisodeType.TACHYCARDIA, resident=0, onset_s=30),),
        batch=2,
    )
    expected = build_scenario(config).messages
    topics = Topics(mqtt.namespace)
    with collecting(mqtt, topics.subscription()) as received:
        publisher = ScenarioPublisher(config, mqtt, speed=120.0, gateway=gateway)
        publisher.connect()
        try:
            stats = publisher.run()
        finally:
            publisher.close()
        device_count = len(publisher.device_ids)
        _wait_for(received, len(expected) + device_count)  # + one offline status each
    assert stats.messages == len(expected)
    live: dict[str, list[bytes]] = defaultdict(list)
    for topic, payload in received:
        parts = topics.parse(topic)
        assert not isinstance(parts, str)
        if parts.stream is Stream.STATUS and b'"offline"' in payload:
            continue
        live[parts.device_id].append(payload)
    batch: dict[str, list[bytes]] = defaultdict(list)
    for message in expected:
        batch[message.device_id].append(message.payload)
    assert live == batch  # per device, in order, the same bytes
    assert publisher.labels and publisher.labels[0].type is EpisodeType.TACHYCARDIA


def test_stop_ends_an_endless_run_promptly(mqtt: MqttSettings) -> None:
    config = ScenarioConfig(start=START, duration_s=None, residents=1, devices=("smart_mattress",))
    publisher = ScenarioPublisher(config, mqtt, speed=10.0, gateway=True)
    publisher.connect()
    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    began = time.monotonic()
    try:
        stats = publisher.run(stop=stop)
    finally:
        publisher.close()
        timer.cancel()
    assert time.monotonic() - began < 5
    assert stats.messages > 3


def test_cli_prints_a_private_namespace_subscribers_can_use(service_settings: Settings) -> None:
    assert service_settings.mqtt.url is not None
    site = f"cli-{secrets.token_hex(3)}"
    mqtt = service_settings.mqtt.model_copy(update={"namespace": "unused"})
    env = {
        **os.environ,
        "ELDERCARE_MQTT_URL": service_settings.mqtt.url,
        "ELDERCARE_MQTT_NAMESPACE": "eldercare",
    }
    with collecting(mqtt, f"+/v1/{site}/+/+") as received:
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
                "20",
                "--speed",
                "20",
                "--site",
                site,
                "--private-namespace",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        match = re.search(r"namespace '(eldercare-[0-9a-f]{12})'", done.stdout)
        assert match, done.stdout
        _wait_for(received, 20)
    namespace = match.group(1)
    assert f"subscribe to '{namespace}/v1/{site}/+/+'" in done.stdout
    assert received and all(topic.startswith(f"{namespace}/v1/{site}/") for topic, _ in received)
    assert "publishing" in done.stdout  # the progress bar of a finite run


def test_provisioned_simulation_is_stored_by_ingest_without_rejects(
    settings: Settings, conn: psycopg.Connection
) -> None:
    """All four device kinds, provisioned by the CLI, pass ingest's validation end to end."""
    from ingest import IngestService

    assert settings.mqtt.url is not None and settings.database.url is not None
    ingest = IngestService(settings)
    ingest.start()
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "eldercare",
                "simulate",
                "--residents",
                "2",
                "--duration",
                "660",  # the cuff's first slot is within 10 min
                "--speed",
                "120",
                "--start",
                "2026-11-24T23:00:00Z",
                "--episode",
                "hypertensive_crisis:1:0:3600",
                "--provision",
                "--no-private-namespace",
            ],
            env={
                **os.environ,
                "ELDERCARE_MQTT_URL": settings.mqtt.url,
                "ELDERCARE_MQTT_NAMESPACE": settings.mqtt.namespace,
                "ELDERCARE_DATABASE_URL": settings.database.url,
            },
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 30
        models: set[str] = set()
        while time.monotonic() < deadline and len(models) < 4:
            rows = conn.execute(
                "SELECT DISTINCT d.model FROM readings r JOIN devices d USING (device_id)"
            ).fetchall()
            models = {row[0] for row in rows}
            time.sleep(0.2)
    finally:
        ingest.stop()
    assert models == {"smart_mattress", "smart_pillow", "bp_cuff", "fingertip_oximeter"}
    rejected = conn.execute("SELECT count(*) FROM quarantine").fetchone()
    assert rejected == (0,)
