"""The alerts worker on real PostgreSQL: lifecycle + outbox, escalation with a fake clock, staff
actions with audit."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest

from alerts import (
    AlertOptions,
    AlertService,
    AlertStateError,
    RecordingNotifier,
    Transport,
    acknowledge_alert,
    deliver_due,
    escalate_alert,
    process_escalations,
    process_pending,
    resolve_alert,
)
from analytics import Channel, Severity
from eldercare.settings import Settings
from tests.alerts.conftest import T0, add_findings, add_residents, make_finding

MIN = timedelta(minutes=1)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def events(conn: psycopg.Connection, alert_id: int | None = None) -> list[tuple]:
    return conn.execute(
        "SELECT event_type, severity, payload->'escalation'->>'role',"
        " payload->'escalation'->'recipients', payload->>'audience', payload->>'policy'"
        " FROM alert_events WHERE %(a)s::bigint IS NULL OR alert_id = %(a)s ORDER BY seq",
        {"a": alert_id},
    ).fetchall()


def test_a_storm_of_repeats_is_one_alert_and_only_news_makes_events(
    conn: psycopg.Connection, clock: FakeClock
) -> None:
    add_residents(conn, {"r1": "medium"})
    severities = [Severity.MEDIUM] * 50 + [Severity.HIGH] + [Severity.MEDIUM] * 49
    add_findings(
        conn,
        [
            make_finding("r1", severity=s, detected=T0 + i * timedelta(seconds=1))
            for i, s in enumerate(severities)
        ],
    )
    with psycopg.connect(conn.info.dsn) as worker:
        assert process_pending(worker, limit=1000, clock=clock) == 100
    rows = conn.execute("SELECT alert_id, severity, finding_count, policy FROM alerts").fetchall()
    assert len(rows) == 1
    alert_id, severity, count, policy = rows[0]
    assert (severity, count, policy) == ("high", 100, "urgent")  # worse severity → stricter policy
    assert [e[:2] for e in events(conn)] == [("opened", "medium"), ("worsened", "high")]
    # Every event is queued for the built-in MQTT topic subscriber, in the same transaction.
    (deliveries,) = conn.execute("SELECT count(*) FROM alert_deliveries").fetchone()  # type: ignore[misc]
    assert deliveries == 2
    (linked,) = conn.execute(
        "SELECT count(*) FROM findings WHERE alert_id = %s AND processed_at IS NOT NULL",
        (alert_id,),
    ).fetchone()  # type: ignore[misc]
    assert linked == 100


def test_data_quality_findings_are_a_separate_stream_that_never_pages_clinicians(
    conn: psycopg.Connection, clock: FakeClock
) -> None:
    add_residents(conn, {"r1": "high"})
    conn.execute(
        "INSERT INTO alert_subscribers (name, transport, url, secret)"
        " VALUES ('clinical-pager', 'webhook', 'http://127.0.0.1:9/x', 's')"
    )
    add_findings(
        conn,
        [
            make_finding(
                "r1", kind="device_silent", severity=Severity.CRITICAL, channel=Channel.DATA_QUALITY
            )
        ],
    )
    with psycopg.connect(conn.info.dsn) as worker:
        process_pending(worker, clock=clock)
    [(event_type, _, role, _, audience, policy)] = events(conn)
    assert (event_type, role, audience, policy) == (
        "opened",
        "technician",
        "technician",
        "data-quality",
    )
    targets = conn.execute(
        "SELECT s.name FROM alert_deliveries d JOIN alert_subscribers s USING (subscriber_id)"
    ).fetchall()
    assert targets == [("mqtt-alert-topic",)]  # the clinical pager does not get it


def test_unanswered_alert_escalates_along_the_rota_until_acknowledged(
    conn: psycopg.Connection, clock: FakeClock
) -> None:
    add_residents(conn, {"r1": "medium"})
    conn.execute(
        "INSERT INTO oncall_shifts (site_id, role, staff_id, starts_at, ends_at) VALUES"
        " ('alert-home', 'nurse_on_duty', 'nurse-ana', %(a)s, %(b)s),"
        " ('alert-home', 'charge_nurse', 'charge-bo', %(a)s, %(b)s),"
        " ('alert-home', 'charge_nurse', 'charge-day', %(b)s, %(c)s)",
        {"a": T0 - 60 * MIN, "b": T0 + 11 * 60 * MIN, "c": T0 + 23 * 60 * MIN},
    )
    add_findings(conn, [make_finding("r1", severity=Severity.HIGH)])
    with psycopg.connect(conn.info.dsn) as worker:
        process_pending(worker, clock=clock)
        (alert_id,) = conn.execute("SELECT alert_id FROM alerts").fetchone()  # type: ignore[misc]
        clock.now = T0 + 2 * MIN  # nothing due yet under "urgent" (reminder every 3 min)
        assert process_escalations(worker, clock=clock) == 0
        clock.now = T0 + 6 * MIN
        assert process_escalations(worker, clock=clock) == 2
        acknowledge_alert(
            worker, alert_id=alert_id, actor="charge-bo", note="on my way", at=T0 + 7 * MIN
        )
        clock.now = T0 + 600 * MIN
        assert process_escalations(worker, clock=clock) == 0
    assert [(e[0], e[2], e[3]) for e in events(conn, alert_id)] == [
        ("opened", "nurse_on_duty", ["nurse-ana"]),
        ("reminder", "nurse_on_duty", ["nurse-ana"]),
        ("escalated", "charge_nurse", ["charge-bo"]),
        ("acknowledged", None, None),
    ]
    audit = conn.execute(
        "SELECT action, actor, note, escalation_level FROM alert_audit ORDER BY audit_id"
    ).fetchall()
    assert audit == [
        ("escalated", "system", "unanswered: escalated to charge_nurse", 1),
        ("acknowledged", "charge-bo", "on my way", 1),
    ]
    row = conn.execute(
        "SELECT state, acknowledged_by, next_escalation_at, escalation_level FROM alerts"
    ).fetchone()
    assert row == ("acknowledged", "charge-bo", None, 1)


def test_manual_escalation_and_resolve_are_audited_and_invalid_actions_refused(
    conn: psycopg.Connection, clock: FakeClock
) -> None:
    add_residents(conn, {"r1": "low"})
    add_findings(conn, [make_finding("r1", severity=Severity.LOW)])
    with psycopg.connect(conn.info.dsn) as worker:
        process_pending(worker, clock=clock)
        (alert_id,) = conn.execute("SELECT alert_id FROM alerts").fetchone()  # type: ignore[misc]
        escalated = escalate_alert(
            worker, alert_id=alert_id, actor="nurse-ana", note="looks worse", at=T0 + MIN
        )
        assert escalated.escalation_level == 1
        resolve_alert(worker, alert_id=alert_id, actor="dr-li", note=None, at=T0 + 5 * MIN)
        with pytest.raises(AlertStateError):
            acknowledge_alert(worker, alert_id=alert_id, actor="x", note=None, at=T0 + 6 * MIN)
        with pytest.raises(AlertStateError):
            escalate_alert(worker, alert_id=alert_id, actor="x", note=None, at=T0 + 6 * MIN)
    assert [e[0] for e in events(conn)] == ["opened", "escalated", "resolved"]
    assert conn.execute("SELECT action, actor FROM alert_audit ORDER BY audit_id").fetchall() == [
        ("escalated", "nurse-ana"),
        ("resolved", "dr-li"),
    ]


def test_resolving_while_the_condition_persists(conn: psycopg.Connection, clock: FakeClock) -> None:
    add_residents(conn, {"r1": "medium"})
    add_findings(conn, [make_finding("r1", detected=T0)])
    with psycopg.connect(conn.info.dsn) as worker:
        process_pending(worker, clock=clock)
        (first,) = conn.execute("SELECT alert_id FROM alerts").fetchone()  # type: ignore[misc]
        resolve_alert(worker, alert_id=first, actor="nurse-ana", note="settled", at=T0 + 5 * MIN)
        # In flight when she resolved it: absorbed, nobody is paged again for it.
        add_findings(conn, [make_finding("r1", detected=T0 + 4 * MIN)])
        process_pending(worker, clock=clock)
        assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (1,)
        # Still there after the resolution: a new episode, linked to the resolved alert.
        add_findings(conn, [make_finding("r1", detected=T0 + 6 * MIN)])
        process_pending(worker, clock=clock)
    rows = conn.execute(
        "SELECT alert_id, state, previous_alert_id FROM alerts ORDER BY alert_id"
    ).fetchall()
    assert [(r[1], r[2]) for r in rows] == [("resolved", None), ("open", first)]
    [opened] = conn.execute(
        "SELECT payload->'alert'->>'previous_alert_id' FROM alert_events WHERE alert_id = %s",
        (rows[1][0],),
    ).fetchall()
    assert opened == (str(first),)


def test_deliveries_go_out_once_each_with_stable_event_ids(
    conn: psycopg.Connection, clock: FakeClock
) -> None:
    add_residents(conn, {"r1": "medium", "r2": "medium"})
    add_findings(conn, [make_finding("r1"), make_finding("r2")])
    recorder = RecordingNotifier()
    with psycopg.connect(conn.info.dsn) as worker:
        process_pending(worker, clock=clock)
        assert deliver_due(worker, {Transport.MQTT: recorder}, clock=clock) == 2
        assert deliver_due(worker, {Transport.MQTT: recorder}, clock=clock) == 0
    [(name, sent)] = recorder.sent
    assert name == "mqtt-alert-topic"
    stored = {r[0] for r in conn.execute("SELECT event_id::text FROM alert_events").fetchall()}
    assert {e.event_id for e in sent} == stored
    assert {e.payload["event_id"] for e in sent} == stored


def test_two_workers_share_a_storm_without_duplicate_alerts(
    conn: psycopg.Connection, settings: Settings
) -> None:
    residents = {f"r{i}": "medium" for i in range(5)}
    add_residents(conn, residents)
    kinds = ("tachycardia", "bradypnoea")
    add_findings(
        conn,
        [
            make_finding(f"r{i % 5}", kind=kinds[i % 2], detected=T0 + i * timedelta(seconds=1))
            for i in range(400)
        ],
    )
    stop = threading.Event()
    options = AlertOptions(poll_interval_s=0.02, finding_batch=37)
    workers = [
        threading.Thread(
            target=AlertService(
                settings, options=options, notifiers={Transport.MQTT: RecordingNotifier()}
            ).run,
            args=(stop,),
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            (left,) = conn.execute(  # type: ignore[misc]
                "SELECT count(*) FROM findings WHERE processed_at IS NULL"
            ).fetchone()
            if left == 0:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
    rows = conn.execute("SELECT count(*), sum(finding_count) FROM alerts").fetchone()
    assert rows == (10, 400)
    assert conn.execute("SELECT count(*) FROM alert_events").fetchone() == (10,)
