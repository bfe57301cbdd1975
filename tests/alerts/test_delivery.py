"""Delivery channels: signed webhooks to a real local server (retries, back-off, dead letters,
rate-limit digests) and the MQTT alert topic on the real broker."""

from __future__ import annotations

import json
import queue
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as paho
import psycopg
import pytest

from alerts import (
    DIGEST_SCHEMA,
    EVENT_SCHEMA,
    MqttNotifier,
    RetryPolicy,
    Transport,
    WebhookNotifier,
    alert_topic,
    deliver_due,
    plan_batches,
    process_pending,
    sign,
    verify_signature,
)
from analytics import Channel, Severity
from eldercare.mqtt import connect, make_client
from eldercare.settings import Settings
from tests.alerts.conftest import (
    T0,
    Receiver,
    add_findings,
    add_residents,
    add_webhook,
    make_finding,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_signature_round_trip_and_refusals() -> None:
    body = b'{"a":1}'
    now = datetime(2026, 11, 24, tzinfo=UTC)
    ts = str(int(now.timestamp()))
    signature = sign("k", timestamp=ts, body=body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify_signature("k", timestamp=ts, body=body, signature=signature, now=now)
    assert not verify_signature("k2", timestamp=ts, body=body, signature=signature, now=now)
    assert not verify_signature("k", timestamp=ts, body=b'{"a":2}', signature=signature, now=now)
    late = now + timedelta(minutes=6)
    assert not verify_signature("k", timestamp=ts, body=body, signature=signature, now=late)
    assert not verify_signature("k", timestamp="x", body=body, signature=signature, now=now)


def test_retry_back_off_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base=timedelta(seconds=2), cap=timedelta(seconds=30), max_attempts=5)
    assert [policy.delay(n).total_seconds() for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]


@pytest.mark.parametrize(
    ("pending", "sent", "limit", "expected"),
    [
        (5, 0, None, [[0], [1], [2], [3], [4]]),
        (3, 0, 5, [[0], [1], [2]]),
        (10, 0, 3, [[0], [1], [2, 3, 4, 5, 6, 7, 8, 9]]),
        (10, 2, 3, [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]),
        (10, 3, 3, []),  # limit used up: wait for the window, never drop
        (0, 0, 3, []),
    ],
)
def test_rate_limit_plan(pending: int, sent: int, limit: int | None, expected: list) -> None:
    assert plan_batches(list(range(pending)), sent_in_window=sent, max_per_minute=limit) == expected


def _open_alerts(conn: psycopg.Connection, clock: FakeClock, residents: int) -> None:
    add_residents(conn, {f"r{i}": "medium" for i in range(residents)})
    add_findings(conn, [make_finding(f"r{i}") for i in range(residents)])
    with psycopg.connect(conn.info.dsn) as worker:
        process_pending(worker, clock=clock)


def _deliver(conn: psycopg.Connection, clock: FakeClock, **kwargs: object) -> int:
    notifier = WebhookNotifier(timeout_s=5, clock=lambda: datetime.now(UTC))
    try:
        with psycopg.connect(conn.info.dsn) as worker:
            return deliver_due(
                worker,
                {Transport.WEBHOOK: notifier},
                clock=clock,
                **kwargs,  # type: ignore[arg-type]
            )
    finally:
        notifier.close()


def test_webhook_is_signed_and_carries_the_event_contract(
    conn: psycopg.Connection, receiver: Receiver
) -> None:
    clock = FakeClock()
    add_webhook(conn, receiver.url)
    _open_alerts(conn, clock, 1)
    assert _deliver(conn, clock) == 1  # the MQTT row stays pending: no MQTT notifier here
    assert receiver.bad_signatures == 0
    [body] = receiver.bodies
    assert body["schema"] == EVENT_SCHEMA
    assert body["event_type"] == "opened"
    assert body["event_id"] == receiver.event_ids[0]
    assert body["alert"]["resident_id"] == "r0" and body["alert"]["site_id"] == "alert-home"
    assert body["escalation"]["role"] == "nurse_on_duty"
    assert body["hand_off"] == "propose_consult"
    state = conn.execute(
        "SELECT d.state FROM alert_deliveries d JOIN alert_subscribers s USING (subscriber_id)"
        " WHERE s.transport = 'webhook'"
    ).fetchone()
    assert state == ("delivered",)


def test_webhook_retries_with_back_off_then_delivers(
    conn: psycopg.Connection, receiver: Receiver
) -> None:
    clock = FakeClock()
    add_webhook(conn, receiver.url)
    _open_alerts(conn, clock, 1)
    receiver.fail_next = 2
    retry = RetryPolicy(base=timedelta(seconds=10), max_attempts=5)
    assert _deliver(conn, clock, retry=retry) == 1
    assert _deliver(conn, clock, retry=retry) == 0  # not due before the back-off
    row = conn.execute(
        "SELECT attempts, next_attempt_at, last_error FROM alert_deliveries"
        " WHERE state = 'pending' AND subscriber_id <> 1"
    ).fetchone()
    assert row == (1, T0 + timedelta(seconds=10), "HTTP 503")
    clock.now = T0 + timedelta(seconds=10)
    _deliver(conn, clock, retry=retry)
    clock.now = T0 + timedelta(seconds=30)
    _deliver(conn, clock, retry=retry)
    assert len(receiver.bodies) == 1
    assert conn.execute(
        "SELECT state, attempts FROM alert_deliveries WHERE subscriber_id <> 1"
    ).fetchone() == ("delivered", 3)


def test_failing_webhook_ends_in_a_dead_letter_record(
    conn: psycopg.Connection, receiver: Receiver
) -> None:
    clock = FakeClock()
    add_webhook(conn, receiver.url)
    _open_alerts(conn, clock, 1)
    receiver.fail_next = 100
    retry = RetryPolicy(base=timedelta(seconds=1), max_attempts=3)
    for step in range(5):
        clock.now = T0 + timedelta(minutes=step)
        _deliver(conn, clock, retry=retry)
    row = conn.execute(
        "SELECT state, attempts, last_error FROM alert_deliveries WHERE subscriber_id <> 1"
    ).fetchone()
    assert row == ("dead", 3, "HTTP 503")


def test_a_refused_webhook_is_dead_at_once(conn: psycopg.Connection, receiver: Receiver) -> None:
    clock = FakeClock()
    add_webhook(conn, receiver.url)
    _open_alerts(conn, clock, 1)
    receiver.fail_next, receiver.status_when_failing = 1, 410
    _deliver(conn, clock)
    assert conn.execute(
        "SELECT state, attempts FROM alert_deliveries WHERE subscriber_id <> 1"
    ).fetchone() == ("dead", 1)


def test_rate_limit_folds_a_storm_into_a_digest_and_holds_the_rest(
    conn: psycopg.Connection, receiver: Receiver
) -> None:
    clock = FakeClock()
    add_webhook(conn, receiver.url, max_per_minute=3)
    _open_alerts(conn, clock, 10)
    _deliver(conn, clock)
    assert len(receiver.bodies) == 3
    [digest] = [b for b in receiver.bodies if b["schema"] == DIGEST_SCHEMA]
    assert len(digest["events"]) == 8
    assert sorted(receiver.event_ids) == sorted(
        r[0] for r in conn.execute("SELECT event_id::text FROM alert_events").fetchall()
    )
    # A second storm within the minute waits for the window, then comes as one digest.
    add_residents(conn, {f"s{i}": "medium" for i in range(5)})
    add_findings(conn, [make_finding(f"s{i}") for i in range(5)])
    with psycopg.connect(conn.info.dsn) as worker:
        process_pending(worker, clock=clock)
    clock.now = T0 + timedelta(seconds=30)
    _deliver(conn, clock)
    assert len(receiver.bodies) == 3
    clock.now = T0 + timedelta(seconds=61)
    _deliver(conn, clock)
    assert len(receiver.bodies) == 6  # 2 singles + 1 digest of 3 (limit 3 per minute)
    assert len(set(receiver.event_ids)) == 15


def test_parallel_sends_deliver_everything_once(
    conn: psycopg.Connection, receiver: Receiver
) -> None:
    clock = FakeClock()
    add_webhook(conn, receiver.url)
    _open_alerts(conn, clock, 12)
    assert _deliver(conn, clock, send_threads=4) == 12
    assert len(receiver.event_ids) == len(set(receiver.event_ids)) == 12
    assert receiver.bad_signatures == 0


def test_mqtt_alert_topic_on_the_real_broker(conn: psycopg.Connection, settings: Settings) -> None:
    clock = FakeClock()
    add_residents(conn, {"r1": "medium"})
    add_findings(
        conn,
        [
            make_finding("r1", kind="tachycardia", severity=Severity.HIGH),
            make_finding("r1", kind="device_silent", channel=Channel.DATA_QUALITY),
        ],
    )
    with psycopg.connect(conn.info.dsn) as worker:
        process_pending(worker, clock=clock)
    received: queue.Queue[paho.MQTTMessage] = queue.Queue()
    listener = make_client(settings.mqtt, client_id=f"{settings.mqtt.namespace}-listener")
    listener.on_message = lambda client, userdata, message: received.put(message)
    connect(listener, settings.mqtt)
    try:
        subscribed = listener.subscribe(f"{settings.mqtt.namespace}/alerts/v1/#", qos=1)
        assert subscribed[0] == paho.MQTT_ERR_SUCCESS
        notifier = MqttNotifier(settings.mqtt, client_id=f"{settings.mqtt.namespace}-alerts")
        try:
            # SUBACK before publishing: wait by round-tripping a probe through the broker.
            probe = f"{settings.mqtt.namespace}/alerts/v1/probe/probe"
            listener.publish(probe, b"probe", qos=1).wait_for_publish(10)
            assert received.get(timeout=10).topic == probe
            with psycopg.connect(conn.info.dsn) as worker:
                assert deliver_due(worker, {Transport.MQTT: notifier}, clock=clock) == 2
        finally:
            notifier.close()
        messages = {}
        for _ in range(2):
            message = received.get(timeout=10)
            messages[message.topic] = (json.loads(message.payload), message.retain, message.qos)
    finally:
        listener.loop_stop()
        listener.disconnect()
    ns = settings.mqtt.namespace
    clinical, retain, qos = messages[alert_topic(ns, site_id="alert-home", kind="tachycardia")]
    assert (clinical["audience"], clinical["event_type"], retain, qos) == (
        "clinical",
        "opened",
        False,
        1,
    )
    quality, _, _ = messages[alert_topic(ns, site_id="alert-home", kind="device_silent")]
    assert quality["audience"] == "technician"
    assert not alert_topic(ns, site_id="s", kind="k").startswith(f"{ns}/v1/")
