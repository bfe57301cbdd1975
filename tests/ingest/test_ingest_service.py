"""The running ingest service on a private mosquitto: stored once, acknowledged after commit,
shared by two workers, surviving a broker restart, observable on /metrics."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from eldercare.embedded import EmbeddedMosquitto
from eldercare.settings import Settings
from ingest import IngestOptions, IngestService, read_worker_status
from tests.ingest.support import (
    METRICS_PER_MESSAGE,
    T0,
    Publisher,
    count,
    free_port,
    vitals_payload,
    wait_until,
)
from tests.utils.ward import registered_ward

READINGS = "SELECT count(*) FROM readings"


def _publish(
    publisher: Publisher, settings: Settings, devices: list[str], first: int, last: int
) -> None:
    """Messages first..last-1, round-robin over devices, each a unique (device, ts)."""
    for i in range(first, last):
        device = devices[i % len(devices)]
        topic = f"{settings.mqtt.namespace}/v1/home-a/{device}/vitals"
        publisher.publish(topic, vitals_payload(i, T0 + timedelta(seconds=i)))
    publisher.flush()


def _ward(conn: psycopg.Connection) -> list[str]:
    beds = registered_ward(conn, site_id="home-a", residents=4, since=T0 - timedelta(days=1))
    return [b.bedside.device_id for b in beds]


def test_messages_are_stored_once_and_counted_on_metrics_and_status(
    broker_settings: Settings,
    conn: psycopg.Connection,
    database_url: str,
    broker: EmbeddedMosquitto,
    publisher_factory: Callable[[int], Publisher],
) -> None:
    devices = _ward(conn)
    service = IngestService(
        broker_settings, options=IngestOptions(client_id="t-once", metrics_port=free_port())
    )
    service.start()
    try:
        publisher = publisher_factory(broker.port)
        _publish(publisher, broker_settings, devices, 0, 500)
        _publish(publisher, broker_settings, devices, 0, 100)  # re-sent: duplicates
        wait_until(
            lambda: service.counters.received == 600 and service.queue_depth() == 0,
            timeout=30,
            what="600 messages received and written",
        )
        wait_until(
            lambda: service.counters.duplicates == 100 * METRICS_PER_MESSAGE,
            timeout=30,
            what="the duplicates counted",
        )
        assert count(database_url, READINGS) == 500 * METRICS_PER_MESSAGE
        with urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics") as page:
            text = page.read().decode()
        assert "eldercare_ingest_received_total 600.0" in text
        assert f"eldercare_ingest_readings_stored_total {500 * METRICS_PER_MESSAGE}.0" in text
        assert "eldercare_ingest_queue_depth" in text
        assert "eldercare_ingest_batch_seconds_p99" in text
    finally:
        service.stop()
    (worker,) = read_worker_status(conn)
    assert worker.counters["received"] == 600
    assert worker.counters["readings_stored"] == 500 * METRICS_PER_MESSAGE
    assert worker.counters["quarantined"] == 0


def test_two_workers_share_the_load_without_loss_or_duplicates(
    broker_settings: Settings,
    conn: psycopg.Connection,
    database_url: str,
    broker: EmbeddedMosquitto,
    publisher_factory: Callable[[int], Publisher],
) -> None:
    devices = _ward(conn)
    workers = [
        IngestService(
            broker_settings, options=IngestOptions(client_id=f"t-share-{n}", shared_group="ingest")
        )
        for n in (1, 2)
    ]
    assert workers[0].subscription().startswith("$share/ingest/")
    for worker in workers:
        worker.start()
    try:
        total = 4000
        _publish(publisher_factory(broker.port), broker_settings, devices, 0, total)
        wait_until(
            lambda: count(database_url, READINGS) == total * METRICS_PER_MESSAGE,
            timeout=60,
            what="every reading stored",
        )
        wait_until(
            lambda: (
                sum(w.counters.received for w in workers) == total
                and all(w.queue_depth() == 0 for w in workers)
            ),
            timeout=30,
            what="both queues drained",
        )
    finally:
        for worker in workers:
            worker.stop()
    received = [w.counters.received for w in workers]
    assert all(r > 0 for r in received), received  # both took a share
    assert sum(received) == total  # nobody got a message twice
    assert sum(w.counters.duplicates for w in workers) == 0


def test_broker_restart_loses_nothing(
    broker_settings: Settings,
    conn: psycopg.Connection,
    database_url: str,
    broker: EmbeddedMosquitto,
    publisher_factory: Callable[[int], Publisher],
) -> None:
    devices = _ward(conn)

    def service() -> IngestService:
        options = IngestOptions(client_id="t-restart", batch_size=20, queue_size=50)
        return IngestService(broker_settings, options=options)

    first = service()
    first.start()
    try:
        _publish(publisher_factory(broker.port), broker_settings, devices, 0, 1000)
        wait_until(
            lambda: count(database_url, READINGS) == 1000 * METRICS_PER_MESSAGE,
            timeout=60,
            what="the first part stored",
        )
    finally:
        first.stop()
    # Ingest is away: its persistent session at the broker collects the stream ...
    _publish(publisher_factory(broker.port), broker_settings, devices, 1000, 3000)
    broker.stop()  # ... and the broker restarts with it (persistence on disk)
    broker.start()
    second = service()
    second.start()
    try:
        broker.stop()  # and again while ingest drains the backlog (acks held until commit)
        broker.start()
        _publish(publisher_factory(broker.port), broker_settings, devices, 3000, 4000)
        wait_until(
            lambda: count(database_url, READINGS) == 4000 * METRICS_PER_MESSAGE,
            timeout=90,
            what="every reading stored after the broker restarts",
        )
    finally:
        second.stop()
    distinct = "SELECT count(DISTINCT (device_id, metric, ts)) FROM readings"
    assert count(database_url, distinct) == 4000 * METRICS_PER_MESSAGE
    assert second.counters.received >= 3000  # the backlog came from the restarted broker


def test_birth_will_and_silence_reach_the_data_quality_stream(
    broker_settings: Settings,
    conn: psycopg.Connection,
    database_url: str,
    broker: EmbeddedMosquitto,
    publisher_factory: Callable[[int], Publisher],
) -> None:
    device = _ward(conn)[0]
    skew = {"offset": timedelta(0)}  # the service's clock, advanced by the test

    def clock() -> datetime:
        return datetime.now(UTC) + skew["offset"]

    options = IngestOptions(client_id="t-avail", silence_check_s=0.1, silence_grace_s=0)
    service = IngestService(broker_settings, options=options, clock=clock)
    service.start()
    events = "SELECT kind FROM data_quality_events ORDER BY event_id"
    try:
        publisher = publisher_factory(broker.port)
        base = f"{broker_settings.mqtt.namespace}/v1/home-a/{device}"
        publisher.publish(f"{base}/status", b'{"schema": 1, "state": "online"}')
        publisher.publish(f"{base}/vitals", vitals_payload(1, T0))
        publisher.flush()
        wait_until(lambda: service.counters.readings_stored == 2, timeout=30, what="stored")
        skew["offset"] = timedelta(minutes=2)  # quiet past the mattress's 60 s allowance
        wait_until(
            lambda: conn.execute(events).fetchall() == [("online",), ("silent",)],
            timeout=30,
            what="a silent event",
        )
        publisher.publish(f"{base}/vitals", vitals_payload(2, T0 + timedelta(seconds=1)))
        publisher.publish(f"{base}/status", b'{"schema": 1, "state": "offline"}')
        publisher.flush()
        wait_until(
            lambda: (
                [k for (k,) in conn.execute(events).fetchall()]
                == ["online", "silent", "resumed", "offline"]
            ),
            timeout=30,
            what="resumed and offline events",
        )
    finally:
        service.stop()
    kinds = conn.execute("SELECT kind, channel FROM findings ORDER BY finding_id").fetchall()
    assert kinds == [("device_silent", "data_quality"), ("device_offline", "data_quality")]
