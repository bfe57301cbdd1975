"""SQL for alerts: the outbox (events + their deliveries in the caller's transaction), policies,
the rota, and the staff actions (acknowledge, resolve, escalate) with their audit rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts._errors import AlertError, AlertStateError
from alerts._escalation import (
    EscalationPolicy,
    EscalationState,
    EscalationStep,
    HandOff,
    RiskTier,
    Shift,
    escalate_now,
    on_call,
    policies_by_name,
)
from alerts._events import EVENT_SCHEMA, AlertEvent, EventType, audience
from alerts._lifecycle import Alert, AlertState, acknowledge, resolve
from analytics import Channel, Severity

ALERT_COLUMNS = (
    "alert_id, resident_id, site_id, kind, channel, severity, state, escalation_level, "
    "started_at, detected_at, last_seen_at, finding_count, policy, escalated_at, "
    "next_escalation_at, reminder_count, acknowledged_at, acknowledged_by, resolved_at, "
    "resolved_by, previous_alert_id, created_at"
)

# One round trip: the event row and one delivery per matching active push subscriber.
_INSERT_EVENT = """
WITH event AS (
    INSERT INTO alert_events (event_id, alert_id, event_type, site_id, resident_id, kind, channel,
                              severity, finding_id, payload, occurred_at)
    VALUES (%(event_id)s, %(alert_id)s, %(event_type)s, %(site_id)s, %(resident_id)s, %(kind)s,
            %(channel)s, %(severity)s, %(finding_id)s, %(payload)s, %(occurred_at)s)
    RETURNING event_id
)
INSERT INTO alert_deliveries (event_id, subscriber_id, next_attempt_at)
SELECT event.event_id, s.subscriber_id, %(occurred_at)s
FROM event, alert_subscribers s
WHERE s.active AND s.transport <> 'sse'
  AND (s.site_id IS NULL OR s.site_id = %(site_id)s)
  AND array_position(ARRAY['low','medium','high','critical'], s.min_severity)
      <= array_position(ARRAY['low','medium','high','critical'], %(severity)s)
  AND (s.kinds IS NULL OR %(kind)s = ANY (s.kinds))
  AND %(channel)s = ANY (s.channels)
"""
_POLICIES = """
SELECT name, channel, risk_tiers, min_severity, steps, reminder_every_s, hand_off, priority
FROM escalation_policies WHERE site_id = %s
"""
_SHIFTS = """
SELECT role, staff_id, starts_at, ends_at FROM oncall_shifts
WHERE site_id = %s AND role = %s AND starts_at <= %s AND ends_at > %s
"""
_AUDIT = """
INSERT INTO alert_audit (alert_id, action, actor, note, at, escalation_level)
VALUES (%s, %s, %s, %s, %s, %s)
"""


def alert_from_row(row: Mapping[str, Any]) -> Alert:
    return Alert(
        alert_id=row["alert_id"],
        resident_id=row["resident_id"],
        kind=row["kind"],
        channel=Channel(row["channel"]),
        severity=Severity(row["severity"]),
        state=AlertState(row["state"]),
        started_at=row["started_at"],
        detected_at=row["detected_at"],
        last_seen_at=row["last_seen_at"],
        finding_count=row["finding_count"],
        escalation_level=row["escalation_level"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        previous_alert_id=row["previous_alert_id"],
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def insert_event(
    cur: psycopg.Cursor[Any],
    *,
    alert: Alert,
    site_id: str,
    policy: EscalationPolicy | None,
    event_type: EventType,
    occurred_at: datetime,
    finding_id: int | None = None,
    escalation: Mapping[str, Any] | None = None,
    actor: str | None = None,
    note: str | None = None,
) -> str:
    """Write one event to the outbox and queue its deliveries, in the caller's transaction."""
    assert alert.alert_id is not None
    event_id = str(uuid.uuid4())
    payload = {
        "schema": EVENT_SCHEMA,
        "event_id": event_id,
        "event_type": str(event_type),
        "occurred_at": occurred_at.isoformat(),
        "audience": audience(alert.channel),
        "alert": {
            "alert_id": alert.alert_id,
            "site_id": site_id,
            "resident_id": alert.resident_id,
            "kind": alert.kind,
            "channel": str(alert.channel),
            "severity": str(alert.severity),
            "state": str(alert.state),
            "escalation_level": alert.escalation_level,
            "started_at": alert.started_at.isoformat(),
            "detected_at": alert.detected_at.isoformat(),
            "last_seen_at": alert.last_seen_at.isoformat(),
            "finding_count": alert.finding_count,
            "acknowledged_at": _iso(alert.acknowledged_at),
            "acknowledged_by": alert.acknowledged_by,
            "resolved_at": _iso(alert.resolved_at),
            "resolved_by": alert.resolved_by,
            "previous_alert_id": alert.previous_alert_id,
        },
        "policy": policy.name if policy is not None else None,
        "hand_off": str(policy.hand_off if policy is not None else HandOff.NONE),
        "escalation": dict(escalation) if escalation is not None else None,
        "actor": actor,
        "note": note,
        "finding_id": finding_id,
    }
    cur.execute(
        _INSERT_EVENT,
        {
            "event_id": event_id,
            "alert_id": alert.alert_id,
            "event_type": event_type,
            "site_id": site_id,
            "resident_id": alert.resident_id,
            "kind": alert.kind,
            "channel": alert.channel,
            "severity": alert.severity,
            "finding_id": finding_id,
            "payload": json.dumps(payload),
            "occurred_at": occurred_at,
        },
    )
    return event_id


def load_site_policies(conn: psycopg.Connection, site_id: str) -> tuple[EscalationPolicy, ...]:
    rows = conn.execute(_POLICIES, (site_id,)).fetchall()
    return tuple(
        EscalationPolicy(
            name=name,
            channel=Channel(channel),
            risk_tiers=frozenset(RiskTier(t) for t in tiers),
            min_severity=Severity(min_severity),
            steps=tuple(
                EscalationStep(role=s["role"], after=timedelta(seconds=s["after_s"])) for s in steps
            ),
            reminder_every=timedelta(seconds=reminder_every_s),
            hand_off=HandOff(hand_off),
            priority=priority,
        )
        for name, channel, tiers, min_severity, steps, reminder_every_s, hand_off, priority in rows
    )


def escalation_info(
    conn: psycopg.Connection, *, site_id: str, role: str, level: int, at: datetime
) -> dict[str, Any]:
    """Who to page for `role` at `at` from the rota; an unstaffed role is said out loud."""
    shifts = [
        Shift(role=r, staff_id=s, starts_at=a, ends_at=b)
        for r, s, a, b in conn.execute(_SHIFTS, (site_id, role, at, at)).fetchall()
    ]
    recipients = on_call(shifts, role=role, at=at)
    return {"level": level, "role": role, "recipients": list(recipients), "due_at": at.isoformat()}


def add_audit(
    cur: psycopg.Cursor[Any],
    *,
    alert_id: int,
    action: str,
    actor: str,
    note: str | None,
    at: datetime,
    level: int,
) -> None:
    cur.execute(_AUDIT, (alert_id, action, actor, note, at, level))


class AlertNotFound(AlertError):
    def __init__(self, alert_id: int) -> None:
        super().__init__(f"alert {alert_id} does not exist")
        self.alert_id = alert_id


def _locked(conn: psycopg.Connection, alert_id: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = %s FOR UPDATE", (alert_id,)
    ).fetchone()
    if row is None:
        raise AlertNotFound(alert_id)
    return row


def _policy_of(conn: psycopg.Connection, row: Mapping[str, Any]) -> EscalationPolicy | None:
    if row["policy"] is None:
        return None
    return policies_by_name(load_site_policies(conn, row["site_id"])).get(row["policy"])


def acknowledge_alert(
    conn: psycopg.Connection, *, alert_id: int, actor: str, note: str | None, at: datetime
) -> Alert:
    """Acknowledge, stop escalation, audit and emit the event in one transaction."""
    with conn.transaction():
        row = _locked(conn, alert_id)
        alert = acknowledge(alert_from_row(row), by=actor, at=at)
        conn.execute(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_at = %s, acknowledged_by = %s,"
            " next_escalation_at = NULL, updated_at = now() WHERE alert_id = %s",
            (at, actor, alert_id),
        )
        _finish_action(conn, row, alert, EventType.ACKNOWLEDGED, actor=actor, note=note, at=at)
    return alert


def resolve_alert(
    conn: psycopg.Connection, *, alert_id: int, actor: str, note: str | None, at: datetime
) -> Alert:
    """Resolve, stop escalation, audit and emit the event in one transaction."""
    with conn.transaction():
        row = _locked(conn, alert_id)
        alert = resolve(alert_from_row(row), by=actor, at=at)
        conn.execute(
            "UPDATE alerts SET state = 'resolved', resolved_at = %s, resolved_by = %s,"
            " next_escalation_at = NULL, updated_at = now() WHERE alert_id = %s",
            (at, actor, alert_id),
        )
        _finish_action(conn, row, alert, EventType.RESOLVED, actor=actor, note=note, at=at)
    return alert


def escalate_alert(
    conn: psycopg.Connection, *, alert_id: int, actor: str, note: str | None, at: datetime
) -> Alert:
    """A staff member escalates by hand to the next step of the alert's policy."""
    with conn.transaction():
        row = _locked(conn, alert_id)
        alert = alert_from_row(row)
        if alert.state is AlertState.RESOLVED:
            raise AlertStateError(alert_id, alert.state, "escalate")
        policy = _policy_of(conn, row)
        if policy is None:
            raise AlertError(f"alert {alert_id} has no escalation policy")
        state = EscalationState(
            level=row["escalation_level"],
            level_started_at=row["escalated_at"] or at,
            reminders=row["reminder_count"],
            next_at=row["next_escalation_at"],
        )
        state, action = escalate_now(state, policy, at=at)
        still_open = alert.state is AlertState.OPEN
        conn.execute(
            "UPDATE alerts SET escalation_level = %s, escalated_at = %s, reminder_count = 0,"
            " next_escalation_at = %s, updated_at = now() WHERE alert_id = %s",
            (state.level, at, state.next_at if still_open else None, alert_id),
        )
        alert = replace(alert, escalation_level=state.level)
        info = escalation_info(
            conn, site_id=row["site_id"], role=action.role, level=action.level, at=at
        )
        _finish_action(
            conn, row, alert, EventType.ESCALATED, actor=actor, note=note, at=at, escalation=info
        )
    return alert


def _finish_action(
    conn: psycopg.Connection,
    row: Mapping[str, Any],
    alert: Alert,
    event_type: EventType,
    *,
    actor: str,
    note: str | None,
    at: datetime,
    escalation: Mapping[str, Any] | None = None,
) -> None:
    assert alert.alert_id is not None
    cur = conn.cursor()
    add_audit(
        cur,
        alert_id=alert.alert_id,
        action=str(event_type),
        actor=actor,
        note=note,
        at=at,
        level=alert.escalation_level,
    )
    insert_event(
        cur,
        alert=alert,
        site_id=row["site_id"],
        policy=_policy_of(conn, row),
        event_type=event_type,
        occurred_at=at,
        escalation=escalation,
        actor=actor,
        note=note,
    )


@dataclass(frozen=True, slots=True, order=True)
class EventCursor:
    """Where a reader of the outbox is: the last (transaction id, seq) it has seen."""

    tx: int
    seq: int

    def token(self) -> str:
        return f"{self.tx}-{self.seq}"

    @classmethod
    def parse(cls, token: str) -> EventCursor:
        tx, seq = token.split("-")
        return cls(int(tx), int(seq))


_READ_EVENTS = """
SELECT tx::text::bigint AS tx, seq, event_id::text AS event_id, event_type, alert_id, site_id,
       resident_id, kind, channel, severity, payload
FROM alert_events
WHERE (tx, seq) > (%(tx)s::text::xid8, %(seq)s)
  AND tx < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY tx, seq
LIMIT %(limit)s
"""
_TAIL_START = """
SELECT coalesce(max(tx), '0'::xid8)::text::bigint, coalesce(max(seq), 0) FROM alert_events
"""


def read_events(
    conn: psycopg.Connection, *, after: EventCursor, limit: int = 500
) -> list[AlertEvent]:
    """Committed events after `after`, in (tx, seq) order; never skips one that commits late."""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(
        _READ_EVENTS, {"tx": str(after.tx), "seq": after.seq, "limit": limit}
    ).fetchall()
    return [event_from_row(row) for row in rows]


def tail_start(conn: psycopg.Connection) -> EventCursor:
    """A cursor at the end of the outbox (a live reader that wants only new events)."""
    tx, seq = conn.execute(_TAIL_START).fetchone()  # type: ignore[misc]
    return EventCursor(int(tx), int(seq))


def event_from_row(row: Mapping[str, Any]) -> AlertEvent:
    payload = row["payload"]
    return AlertEvent(
        tx=row.get("tx", 0),
        seq=row["seq"],
        event_id=row["event_id"],
        event_type=EventType(row["event_type"]),
        alert_id=row["alert_id"],
        site_id=row["site_id"],
        resident_id=row["resident_id"],
        kind=row["kind"],
        channel=Channel(row["channel"]),
        severity=Severity(row["severity"]),
        payload=payload if isinstance(payload, dict) else json.loads(payload),
    )
