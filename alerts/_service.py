"""The alerts worker: findings → alert lifecycle → outbox events; due escalations and reminders;
and delivery of the outbox to subscribers (at least once, retried with back-off, dead-lettered).

Every state change and the deliveries it causes are written in one transaction with the change
itself, so a crash loses nothing: a delivery stays `pending` until a send succeeded and its row
committed as `delivered` (a crash in between re-sends it; receivers dedupe by event id).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts._delivery import (
    DeliveryResult,
    MqttNotifier,
    Notifier,
    RetryPolicy,
    Subscriber,
    WebhookNotifier,
    plan_batches,
)
from alerts._escalation import (
    ActionKind,
    EscalationPolicy,
    EscalationState,
    RiskTier,
    advance_escalation,
    choose_policy,
    policies_by_name,
    start_escalation,
    switch_policy,
)
from alerts._events import EventType, SubscriberFilter, Transport
from alerts._lifecycle import AlertState, apply_finding
from alerts._store import (
    ALERT_COLUMNS,
    add_audit,
    alert_from_row,
    escalation_info,
    event_from_row,
    insert_event,
    load_site_policies,
)
from analytics import Channel, Finding, Severity
from eldercare.db import connect
from eldercare.errors import StorageError
from eldercare.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


# SKIP LOCKED lets several workers share the queue without taking the same finding twice.
_PENDING = """
SELECT f.finding_id, f.resident_id, f.device_id, f.kind, f.severity, f.channel, f.started_at,
       f.detected_at, f.evidence, f.detector, f.detector_version, r.site_id, r.risk_tier
FROM findings f JOIN residents r USING (resident_id)
WHERE f.processed_at IS NULL
ORDER BY f.finding_id
LIMIT %s
FOR UPDATE OF f SKIP LOCKED
"""
# The latest alert of each (resident, kind) in the batch, resolved or not (a resolved one decides
# whether a finding is absorbed or starts a new episode), locked in key order so that concurrent
# workers cannot deadlock.
_LATEST_ALERTS = f"""
SELECT a.* FROM unnest(%s::text[], %s::text[]) AS k(resident_id, kind)
CROSS JOIN LATERAL (
    SELECT {ALERT_COLUMNS} FROM alerts
    WHERE alerts.resident_id = k.resident_id AND alerts.kind = k.kind
    ORDER BY alert_id DESC LIMIT 1 FOR UPDATE
) a
"""
_CREATE = """
INSERT INTO alerts (alert_id, resident_id, site_id, kind, channel, severity, state, started_at,
                    detected_at, last_seen_at, finding_count, policy, escalation_level,
                    escalated_at, next_escalation_at, previous_alert_id)
VALUES (%(alert_id)s, %(resident_id)s, %(site_id)s, %(kind)s, %(channel)s, %(severity)s, 'open',
        %(started_at)s, %(detected_at)s, %(last_seen_at)s, 1, %(policy)s, 0, %(escalated_at)s,
        %(next_escalation_at)s, %(previous_alert_id)s)
"""
# Ids for the alerts a batch may open, reserved in one round trip so the inserts can be pipelined.
_RESERVE_IDS = (
    "SELECT nextval(pg_get_serial_sequence('alerts', 'alert_id')) FROM generate_series(1, %s)"
)
_UPDATE = """
UPDATE alerts SET severity = %(severity)s, started_at = %(started_at)s,
                  last_seen_at = %(last_seen_at)s, finding_count = %(finding_count)s,
                  policy = %(policy)s, next_escalation_at = %(next_escalation_at)s,
                  updated_at = now()
WHERE alert_id = %(alert_id)s
"""
_MARK = "UPDATE findings SET processed_at = now(), alert_id = %s WHERE finding_id = %s"
_DUE_ESCALATIONS = f"""
SELECT {ALERT_COLUMNS} FROM alerts
WHERE next_escalation_at <= %s AND state = 'open'
ORDER BY next_escalation_at LIMIT %s
FOR UPDATE SKIP LOCKED
"""
_DUE_DELIVERIES = """
SELECT d.delivery_id, d.subscriber_id, d.attempts, e.seq, e.event_id::text AS event_id,
       e.event_type, e.alert_id, e.site_id, e.resident_id, e.kind, e.channel, e.severity,
       e.payload
FROM alert_deliveries d JOIN alert_events e USING (event_id)
WHERE d.state = 'pending' AND d.next_attempt_at <= %s
  AND d.subscriber_id IN (SELECT subscriber_id FROM alert_subscribers WHERE transport = ANY (%s))
ORDER BY d.next_attempt_at, d.delivery_id
LIMIT %s
FOR UPDATE OF d SKIP LOCKED
"""
_SUBSCRIBERS = """
SELECT subscriber_id, name, transport, url, secret, site_id, min_severity, kinds, channels,
       max_per_minute
FROM alert_subscribers WHERE subscriber_id = ANY (%s)
"""
_SENT_IN_WINDOW = """
SELECT count(*) FROM alert_deliveries
WHERE subscriber_id = %s AND state = 'delivered' AND delivered_at > %s
"""
_DELIVERED = """
UPDATE alert_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = %s,
       digest_size = %s, last_error = NULL
WHERE delivery_id = ANY (%s)
"""
_FAILED = """
UPDATE alert_deliveries SET state = %s, attempts = %s, next_attempt_at = %s, last_error = %s
WHERE delivery_id = %s
"""


def process_pending(
    conn: psycopg.Connection, *, limit: int = 500, clock: Clock = system_clock
) -> int:
    """Apply up to `limit` pending findings in one transaction; returns how many.

    Findings are folded per (resident, kind) in memory, so a batch costs a handful of round trips
    (pending findings, their alerts, reserved ids, policies, rota); the writes are pipelined."""
    with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        pending = cur.execute(_PENDING, (limit,)).fetchall()
        if not pending:
            return 0
        now = clock()
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in pending:
            groups[(row["resident_id"], row["kind"])].append(row)
        keys = sorted(groups)
        latest = {
            (r["resident_id"], r["kind"]): r
            for r in cur.execute(
                _LATEST_ALERTS, ([k[0] for k in keys], [k[1] for k in keys])
            ).fetchall()
        }
        # At most one new alert per key with no alert or only a resolved one (nothing in a
        # batch resolves an alert).
        may_open = sum(1 for k in keys if k not in latest or latest[k]["state"] == "resolved")
        reserved = [r["nextval"] for r in cur.execute(_RESERVE_IDS, (may_open,)).fetchall()]
        batch = _Batch(conn=conn, cur=cur, now=now, new_ids=iter(reserved))
        with conn.pipeline():
            for key in keys:
                _apply_group(batch, groups[key], latest.get(key))
            cur.executemany(_MARK, batch.marks)
    return len(pending)


@dataclass(slots=True)
class _Batch:
    """What one `process_pending` pass shares across its groups."""

    conn: psycopg.Connection
    cur: psycopg.Cursor[Any]
    now: datetime
    new_ids: Iterator[int]
    marks: list[tuple[int, int]] = field(default_factory=list)
    policies: dict[str, tuple[EscalationPolicy, ...]] = field(default_factory=dict)
    rota: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    chosen: dict[tuple[str, Channel, RiskTier, Severity], EscalationPolicy] = field(
        default_factory=dict
    )

    def site_policies(self, site_id: str) -> tuple[EscalationPolicy, ...]:
        if site_id not in self.policies:
            self.policies[site_id] = load_site_policies(self.conn, site_id)
        return self.policies[site_id]

    def policy(
        self, site_id: str, channel: Channel, risk_tier: RiskTier, severity: Severity
    ) -> EscalationPolicy:
        key = (site_id, channel, risk_tier, severity)
        if key not in self.chosen:
            self.chosen[key] = choose_policy(
                self.site_policies(site_id), channel=channel, risk_tier=risk_tier, severity=severity
            )
        return self.chosen[key]

    def page(self, site_id: str, role: str) -> dict[str, Any]:
        """Step 0 of a new alert: who holds `role` now (same `now` for the whole batch)."""
        if (site_id, role) not in self.rota:
            self.rota[(site_id, role)] = escalation_info(
                self.conn, site_id=site_id, role=role, level=0, at=self.now
            )
        return self.rota[(site_id, role)]


def _finding(row: dict[str, Any]) -> Finding:
    return Finding(
        resident_id=row["resident_id"],
        device_id=row["device_id"],
        kind=row["kind"],
        severity=Severity(row["severity"]),
        channel=Channel(row["channel"]),
        started_at=row["started_at"],
        detected_at=row["detected_at"],
        detector=row["detector"],
        detector_version=row["detector_version"],
        evidence=row["evidence"],
    )


def _escalation_state(row: dict[str, Any]) -> EscalationState:
    return EscalationState(
        level=row["escalation_level"],
        level_started_at=row["escalated_at"] or row["created_at"],
        reminders=row["reminder_count"],
        next_at=row["next_escalation_at"],
    )


def _apply_group(
    batch: _Batch, rows: list[dict[str, Any]], current_row: dict[str, Any] | None
) -> None:
    """Fold one (resident, kind)'s findings, in order, into its alert; write the result once."""
    site_id = rows[0]["site_id"]
    risk_tier = RiskTier(rows[0]["risk_tier"])
    current = alert_from_row(current_row) if current_row else None
    escalation = _escalation_state(current_row) if current_row else None
    policy_name = current_row["policy"] if current_row else None
    changed = False
    for row in rows:
        alert = apply_finding(current, _finding(row))
        if alert is current:  # absorbed by an alert staff already resolved
            assert current is not None and current.alert_id is not None
            batch.marks.append((current.alert_id, row["finding_id"]))
            continue
        policy = batch.policy(site_id, alert.channel, risk_tier, alert.severity)
        if alert.alert_id is None:
            # `current` is None or resolved here, so there is no unsaved change to flush first.
            escalation, page = start_escalation(policy, at=batch.now)
            policy_name = policy.name
            alert_id = next(batch.new_ids)
            batch.cur.execute(
                _CREATE,
                {
                    "alert_id": alert_id,
                    "resident_id": alert.resident_id,
                    "site_id": site_id,
                    "kind": alert.kind,
                    "channel": alert.channel,
                    "severity": alert.severity,
                    "started_at": alert.started_at,
                    "detected_at": alert.detected_at,
                    "last_seen_at": alert.last_seen_at,
                    "policy": policy.name,
                    "escalated_at": batch.now,
                    "next_escalation_at": escalation.next_at,
                    "previous_alert_id": alert.previous_alert_id,
                },
            )
            alert = replace(alert, alert_id=alert_id)
            event_type: EventType | None = EventType.OPENED
            info: dict[str, Any] | None = batch.page(site_id, page.role)
            changed = False
        else:
            assert current is not None and escalation is not None
            worsened = alert.severity.rank > current.severity.rank
            if worsened and alert.state is AlertState.OPEN and policy.name != policy_name:
                escalation = switch_policy(escalation, policy)
                policy_name = policy.name
            # Only a worse severity is news to people; plain repeats just update the row.
            event_type = EventType.WORSENED if worsened else None
            info = None
            changed = True
        if event_type is not None:
            insert_event(
                batch.cur,
                alert=alert,
                site_id=site_id,
                policy=policy,
                event_type=event_type,
                occurred_at=batch.now,
                finding_id=row["finding_id"],
                escalation=info,
            )
        assert alert.alert_id is not None
        batch.marks.append((alert.alert_id, row["finding_id"]))
        current = alert
    if changed:
        assert current is not None and escalation is not None
        batch.conn.execute(
            _UPDATE,
            {
                "alert_id": current.alert_id,
                "severity": current.severity,
                "started_at": current.started_at,
                "last_seen_at": current.last_seen_at,
                "finding_count": current.finding_count,
                "policy": policy_name,
                "next_escalation_at": escalation.next_at
                if current.state is AlertState.OPEN
                else None,
            },
        )


def process_escalations(
    conn: psycopg.Connection, *, limit: int = 200, clock: Clock = system_clock
) -> int:
    """Send due reminders and escalate unanswered alerts; returns the number of events written."""
    written = 0
    with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        now = clock()
        rows = cur.execute(_DUE_ESCALATIONS, (now, limit)).fetchall()
        for row in rows:
            policy = policies_by_name(load_site_policies(conn, row["site_id"])).get(row["policy"])
            if policy is None:
                log.warning("alert %s: policy %r is gone", row["alert_id"], row["policy"])
                cur.execute(
                    "UPDATE alerts SET next_escalation_at = NULL WHERE alert_id = %s",
                    (row["alert_id"],),
                )
                continue
            state, actions = advance_escalation(
                _escalation_state(row), policy, alert_state=AlertState(row["state"]), now=now
            )
            cur.execute(
                "UPDATE alerts SET escalation_level = %s, escalated_at = %s, reminder_count = %s,"
                " next_escalation_at = %s, updated_at = now() WHERE alert_id = %s",
                (
                    state.level,
                    state.level_started_at,
                    state.reminders,
                    state.next_at,
                    row["alert_id"],
                ),
            )
            alert = alert_from_row(row)
            for action in actions:
                alert = replace(alert, escalation_level=action.level)
                info = escalation_info(
                    conn, site_id=row["site_id"], role=action.role, level=action.level, at=now
                )
                info["due_at"] = action.at.isoformat()
                escalated = action.kind is ActionKind.ESCALATE
                if escalated:
                    add_audit(
                        cur,
                        alert_id=row["alert_id"],
                        action="escalated",
                        actor="system",
                        note=f"unanswered: escalated to {action.role}",
                        at=action.at,
                        level=action.level,
                    )
                insert_event(
                    cur,
                    alert=alert,
                    site_id=row["site_id"],
                    policy=policy,
                    event_type=EventType.ESCALATED if escalated else EventType.REMINDER,
                    occurred_at=action.at,
                    escalation=info,
                    actor="system",
                )
                written += 1
    return written


def _subscriber(row: dict[str, Any]) -> Subscriber:
    return Subscriber(
        subscriber_id=row["subscriber_id"],
        name=row["name"],
        transport=Transport(row["transport"]),
        url=row["url"],
        secret=row["secret"],
        max_per_minute=row["max_per_minute"],
        filter=SubscriberFilter(
            site_id=row["site_id"],
            min_severity=Severity(row["min_severity"]),
            kinds=frozenset(row["kinds"]) if row["kinds"] is not None else None,
            channels=frozenset(Channel(c) for c in row["channels"]),
        ),
    )


@dataclass(slots=True)
class DeliveryCounters:
    sent: int = 0  # messages (a digest counts once)
    delivered: int = 0  # delivery rows marked delivered
    failed: int = 0
    dead: int = 0


def deliver_due(
    conn: psycopg.Connection,
    notifiers: dict[Transport, Notifier],
    *,
    limit: int = 500,
    clock: Clock = system_clock,
    retry: RetryPolicy | None = None,
    counters: DeliveryCounters | None = None,
    send_threads: int = 1,
) -> int:
    """Send due deliveries, oldest first, for the transports this worker has notifiers for;
    returns how many rows were sent or failed (rows held back by a rate limit do not count)."""
    counters = counters if counters is not None else DeliveryCounters()
    retry = retry if retry is not None else RetryPolicy()
    with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        now = clock()
        rows = cur.execute(_DUE_DELIVERIES, (now, [str(t) for t in notifiers], limit)).fetchall()
        if not rows:
            return 0
        by_subscriber: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_subscriber[row["subscriber_id"]].append(row)
        subscribers = {
            r["subscriber_id"]: _subscriber(r)
            for r in cur.execute(_SUBSCRIBERS, (list(by_subscriber),)).fetchall()
        }
        handled = 0
        for subscriber_id, due in by_subscriber.items():
            subscriber = subscribers[subscriber_id]
            notifier = notifiers[subscriber.transport]
            if subscriber.transport is Transport.MQTT and subscriber.max_per_minute is None:
                batches = [due]  # one publish burst, each event its own message
            else:
                sent = 0
                if subscriber.max_per_minute is not None:
                    window = now - timedelta(minutes=1)
                    sent = cur.execute(_SENT_IN_WINDOW, (subscriber_id, window)).fetchone()["count"]  # type: ignore[index]
                batches = plan_batches(
                    due, sent_in_window=sent, max_per_minute=subscriber.max_per_minute
                )
            results = _send_all(notifier, subscriber, batches, threads=send_threads)
            with conn.pipeline():
                for batch, result in results:
                    _record(cur, subscriber, batch, result, now=clock(), retry=retry, c=counters)
            handled += sum(len(batch) for batch in batches)
    return handled


def _send_all(
    notifier: Notifier,
    subscriber: Subscriber,
    batches: list[list[dict[str, Any]]],
    *,
    threads: int,
) -> list[tuple[list[dict[str, Any]], DeliveryResult]]:
    """Send in parallel across alerts but in order within an alert, when `threads` > 1: worth it
    for distant receivers (a round trip per alert instead of per event); on one busy host the
    GIL makes sequential sends faster (bench/alerts_storm.py), hence the default of 1."""

    def send(batch: list[dict[str, Any]]) -> DeliveryResult:
        return notifier.send(subscriber, [event_from_row(r) for r in batch])

    if len(batches) <= 1 or threads <= 1:
        return [(batch, send(batch)) for batch in batches]
    by_alert: dict[object, list[list[dict[str, Any]]]] = defaultdict(list)
    for batch in batches:
        by_alert[batch[0]["alert_id"] if len(batch) == 1 else "digest"].append(batch)

    def send_in_order(group: list[list[dict[str, Any]]]) -> list[tuple[Any, DeliveryResult]]:
        return [(batch, send(batch)) for batch in group]

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="alert-send") as pool:
        return [pair for done in pool.map(send_in_order, by_alert.values()) for pair in done]


def _record(
    cur: psycopg.Cursor[Any],
    subscriber: Subscriber,
    batch: list[dict[str, Any]],
    result: DeliveryResult,
    *,
    now: datetime,
    retry: RetryPolicy,
    c: DeliveryCounters,
) -> None:
    if result.ok:
        is_digest = len(batch) > 1 and subscriber.transport is not Transport.MQTT
        cur.execute(
            _DELIVERED,
            (now, len(batch) if is_digest else None, [r["delivery_id"] for r in batch]),
        )
        c.sent += 1 if is_digest else len(batch)
        c.delivered += len(batch)
        return
    for r in batch:
        attempts = r["attempts"] + 1
        dead = not result.retryable or attempts >= retry.max_attempts
        cur.execute(
            _FAILED,
            (
                "dead" if dead else "pending",
                attempts,
                now + retry.delay(attempts),
                result.error,
                r["delivery_id"],
            ),
        )
        c.failed += 1
        c.dead += dead
    log.warning("delivery to %s failed: %s", subscriber.name, result.error)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertOptions:
    poll_interval_s: float = 0.25
    finding_batch: int = 500
    delivery_batch: int = 500
    send_threads: int = 1
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    mqtt_client_id: str | None = None  # None: unique per process (see MqttNotifier)


class AlertService:
    """Two loops on their own connections: lifecycle (findings, escalation) and delivery, so a
    slow webhook never delays turning findings into alerts."""

    def __init__(
        self,
        settings: Settings,
        *,
        options: AlertOptions | None = None,
        notifiers: dict[Transport, Notifier] | None = None,
        clock: Clock = system_clock,
        poll_interval_s: float | None = None,
    ) -> None:
        self._settings = settings
        options = options or AlertOptions()
        if poll_interval_s is not None:
            options = replace(options, poll_interval_s=poll_interval_s)
        self._options = options
        self._notifiers = notifiers
        self._clock = clock
        self.counters = DeliveryCounters()
        self._outbox_ready = threading.Event()

    def _default_notifiers(self) -> dict[Transport, Notifier]:
        notifiers: dict[Transport, Notifier] = {Transport.WEBHOOK: WebhookNotifier()}
        if self._settings.mqtt.url is not None:
            notifiers[Transport.MQTT] = MqttNotifier(
                self._settings.mqtt, client_id=self._options.mqtt_client_id
            )
        return notifiers

    def run(self, stop: threading.Event) -> None:
        notifiers = self._notifiers if self._notifiers is not None else self._default_notifiers()
        delivery = threading.Thread(
            target=self._loop,
            args=(stop, lambda conn: self._deliver(conn, notifiers), self._wait_for_outbox),
            name="alerts-delivery",
            daemon=True,
        )
        delivery.start()
        try:
            self._loop(stop, self._lifecycle, stop.wait)
        finally:
            self._outbox_ready.set()  # wake the delivery loop so it sees `stop`
            delivery.join()
            for notifier in notifiers.values():
                notifier.close()

    def _lifecycle(self, conn: psycopg.Connection) -> bool:
        o = self._options
        findings = process_pending(conn, limit=o.finding_batch, clock=self._clock)
        escalations = process_escalations(conn, clock=self._clock)
        if findings or escalations:
            self._outbox_ready.set()  # new events may be waiting: deliver now, not next poll
        return findings == o.finding_batch or escalations > 0

    def _wait_for_outbox(self, timeout: float) -> None:
        # Cleared after waking and before the next pass reads the outbox, so a wake-up set
        # in between is never lost (that pass sees the events it announced).
        self._outbox_ready.wait(timeout)
        self._outbox_ready.clear()

    def _deliver(self, conn: psycopg.Connection, notifiers: dict[Transport, Notifier]) -> bool:
        o = self._options
        handled = deliver_due(
            conn,
            notifiers,
            limit=o.delivery_batch,
            clock=self._clock,
            retry=o.retry,
            counters=self.counters,
            send_threads=o.send_threads,
        )
        return handled > 0

    def _loop(
        self,
        stop: threading.Event,
        step: Callable[[psycopg.Connection], bool],
        wait: Callable[[float], object],
    ) -> None:
        url = self._settings.database.url
        if url is None:
            raise StorageError("no database URL configured")
        conn: psycopg.Connection | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = connect(url)
                if step(conn):
                    continue  # more may be waiting
            except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected) as exc:
                # Another worker opened the same (resident, kind) alert first, or two workers'
                # new alerts crossed; the transaction rolled back, and the next pass sees the
                # other's alert and updates it instead.
                log.debug("lost a race with another alerts worker, retrying: %s", exc)
                continue
            except (psycopg.OperationalError, StorageError) as exc:
                log.warning("alert worker failed, retrying: %s", exc)
                if conn is not None:
                    conn.close()
                conn = None
            except Exception:  # keep the night shift covered: log, back off, go on
                log.exception("alert worker step failed")
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(1)
            wait(self._options.poll_interval_s)
        if conn is not None:
            conn.close()
