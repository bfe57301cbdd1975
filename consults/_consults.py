"""Remote consults: care-home staff ask a specialist, with a snapshot of the resident's data; the
specialist answers with advice (keep monitoring, change thresholds, start a referral)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from consults._audit import record, record_transition
from consults._deadlines import ConsultUrgency, respond_by
from consults._errors import ConsultsError, NetworkRuleError, NotFound
from consults._followup import set_thresholds
from consults._network import ReferralPriority, SiteTier, escalation_target
from consults._network_store import alliance_members
from consults._referrals import Referral, request_referral
from consults._snapshot import build_snapshot, jsonable
from consults._states import TaskStatus, transition


class AdviceAction(StrEnum):
    KEEP_MONITORING = "keep_monitoring"
    CHANGE_THRESHOLDS = "change_thresholds"
    START_REFERRAL = "start_referral"


@dataclass(frozen=True, slots=True, kw_only=True)
class Consult:
    consult_id: int
    resident_id: str
    requesting_site_id: str
    target_site_id: str
    department_id: str | None
    specialist_id: str | None
    alert_id: int | None
    urgency: str
    status: str
    question: str
    snapshot: dict[str, Any]
    requested_by: str
    requested_at: datetime
    respond_by: datetime
    advice: str | None
    advice_action: str | None
    advice_detail: dict[str, Any] | None
    answered_by: str | None
    answered_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Advice:
    """A specialist's answer. `thresholds` go with CHANGE_THRESHOLDS (for `thresholds_period`);
    `referral_priority` with START_REFERRAL."""

    text: str
    action: AdviceAction
    thresholds: Mapping[str, float] | None = None
    thresholds_period: timedelta | None = timedelta(days=14)
    referral_priority: ReferralPriority = ReferralPriority.URGENT


_COLUMNS = (
    "consult_id, resident_id, requesting_site_id, target_site_id, department_id, specialist_id,"
    " alert_id, urgency, status, question, snapshot, requested_by, requested_at, respond_by,"
    " advice, advice_action, advice_detail, answered_by, answered_at, updated_at"
)
_ENTITY = "consult"


def get_consult(conn: psycopg.Connection, consult_id: int, *, lock: bool = False) -> Consult:
    cur = conn.cursor(row_factory=class_row(Consult))
    sql = f"SELECT {_COLUMNS} FROM consults WHERE consult_id = %s" + (" FOR UPDATE" if lock else "")
    found = cur.execute(sql, (consult_id,)).fetchone()
    if found is None:
        raise NotFound(f"no consult {consult_id}")
    return found


def list_consults(
    conn: psycopg.Connection,
    *,
    site_ids: frozenset[str] | None = None,
    target_site_id: str | None = None,
    specialist_id: str | None = None,
    status: TaskStatus | None = None,
    resident_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Consult], int]:
    """Consults, most urgent deadline first (the specialist inbox order)."""
    where = (
        " WHERE (%(sites)s::text[] IS NULL OR requesting_site_id = ANY(%(sites)s)"
        " OR target_site_id = ANY(%(sites)s))"
        " AND (%(target)s::text IS NULL OR target_site_id = %(target)s)"
        " AND (%(specialist)s::text IS NULL OR specialist_id = %(specialist)s"
        "      OR specialist_id IS NULL)"
        " AND (%(status)s::text IS NULL OR status = %(status)s)"
        " AND (%(resident)s::text IS NULL OR resident_id = %(resident)s)"
    )
    params = {
        "sites": sorted(site_ids) if site_ids is not None else None,
        "target": target_site_id,
        "specialist": specialist_id,
        "status": status,
        "resident": resident_id,
        "limit": limit,
        "offset": offset,
    }
    (count,) = conn.execute("SELECT count(*) FROM consults" + where, params).fetchone()  # type: ignore[misc]
    cur = conn.cursor(row_factory=class_row(Consult))
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM consults{where}"
        " ORDER BY respond_by, consult_id LIMIT %(limit)s OFFSET %(offset)s",
        params,
    ).fetchall()
    return rows, int(count)


def _target(
    conn: psycopg.Connection,
    site_id: str,
    *,
    target_site_id: str | None,
    department_id: str | None,
    specialist_id: str | None,
) -> tuple[str, str | None]:
    if specialist_id is not None:
        row = conn.execute(
            "SELECT department_id FROM specialists WHERE specialist_id = %s", (specialist_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no specialist {specialist_id!r}")
        department_id = department_id or row[0]
    if department_id is not None:
        row = conn.execute(
            "SELECT site_id FROM departments WHERE department_id = %s", (department_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no department {department_id!r}")
        return row[0], department_id
    if target_site_id is not None:
        return target_site_id, None
    members = alliance_members(conn)
    mine = {m.alliance_id for m in members if m.site_id == site_id}
    hospital = escalation_target(
        [m for m in members if m.alliance_id in mine],
        tier=SiteTier.TERTIARY_HOSPITAL,
        tried=(),
    )
    if hospital is None:
        raise NetworkRuleError(f"site {site_id!r} is in no alliance with a tertiary hospital")
    return hospital, None


def request_consult(
    conn: psycopg.Connection,
    *,
    resident_id: str,
    question: str,
    urgency: ConsultUrgency,
    requested_by: str,
    now: datetime,
    alert_id: int | None = None,
    target_site_id: str | None = None,
    department_id: str | None = None,
    specialist_id: str | None = None,
    draft: bool = False,
) -> Consult:
    """Ask for a consult on a resident (from their page) or on an alert (its resident), with a
    snapshot of the last 24 h; the target defaults to the alliance's first tertiary hospital.
    A `draft` is a proposal (from an alert policy) that staff send or cancel."""
    if not question.strip():
        raise ConsultsError("a consult needs a question")
    with conn.transaction():
        if alert_id is not None:
            row = conn.execute(
                "SELECT resident_id FROM alerts WHERE alert_id = %s", (alert_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no alert {alert_id}")
            if resident_id and resident_id != row[0]:
                raise ConsultsError(f"alert {alert_id} is about resident {row[0]!r}")
            resident_id = row[0]
        snapshot = build_snapshot(conn, resident_id, now=now)
        site_id = snapshot["resident"]["site_id"]
        target, department = _target(
            conn,
            site_id,
            target_site_id=target_site_id,
            department_id=department_id,
            specialist_id=specialist_id,
        )
        (consult_id,) = conn.execute(  # type: ignore[misc]
            "INSERT INTO consults (resident_id, requesting_site_id, target_site_id, department_id,"
            " specialist_id, alert_id, urgency, status, question, snapshot, requested_by,"
            " requested_at, respond_by, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING consult_id",
            (
                resident_id,
                site_id,
                target,
                department,
                specialist_id,
                alert_id,
                urgency,
                TaskStatus.DRAFT if draft else TaskStatus.REQUESTED,
                question,
                Jsonb(snapshot),
                requested_by,
                now,
                respond_by(urgency, now),
                now,
            ),
        ).fetchone()
        record(
            conn,
            entity=_ENTITY,
            entity_id=consult_id,
            action="created",
            actor=requested_by,
            at=now,
            to_status=TaskStatus.DRAFT if draft else TaskStatus.REQUESTED,
            detail={"urgency": urgency, "target_site_id": target, "alert_id": alert_id},
        )
        return get_consult(conn, consult_id)


def transition_consult(
    conn: psycopg.Connection,
    consult_id: int,
    target: TaskStatus,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> Consult:
    with conn.transaction():
        current = get_consult(conn, consult_id, lock=True)
        move = transition(
            entity=_ENTITY,
            entity_id=str(consult_id),
            current=TaskStatus(current.status),
            target=target,
            actor=actor,
            at=now,
            reason=reason,
        )
        conn.execute(
            "UPDATE consults SET status = %s, updated_at = %s WHERE consult_id = %s",
            (target, now, consult_id),
        )
        record_transition(conn, move)
        return get_consult(conn, consult_id)


def answer_consult(
    conn: psycopg.Connection, consult_id: int, advice: Advice, *, actor: str, now: datetime
) -> tuple[Consult, Referral | None]:
    """Record the specialist's advice and complete the consult; apply what it says (thresholds
    for the resident, or a referral up carrying the consult)."""
    with conn.transaction():
        current = get_consult(conn, consult_id, lock=True)
        # Replying to a new consult accepts it and starts it (each step audited).
        if current.status == TaskStatus.REQUESTED:
            transition_consult(conn, consult_id, TaskStatus.ACCEPTED, actor=actor, now=now)
            current = get_consult(conn, consult_id)
        if current.status == TaskStatus.ACCEPTED:
            transition_consult(conn, consult_id, TaskStatus.IN_PROGRESS, actor=actor, now=now)
        # Answering completes the consult; the state machine refuses it unless in progress.
        current = get_consult(conn, consult_id, lock=True)
        move = transition(
            entity=_ENTITY,
            entity_id=str(consult_id),
            current=TaskStatus(current.status),
            target=TaskStatus.COMPLETED,
            actor=actor,
            at=now,
            reason=f"advice: {advice.action}",
        )
        referral: Referral | None = None
        detail: dict[str, Any] = {}
        if advice.action is AdviceAction.CHANGE_THRESHOLDS:
            if not advice.thresholds:
                raise ConsultsError("advice 'change_thresholds' needs the thresholds to set")
            until = now + advice.thresholds_period if advice.thresholds_period else None
            set_thresholds(
                conn,
                current.resident_id,
                advice.thresholds,
                actor=actor,
                now=now,
                until=until,
                source=f"consult {consult_id}",
            )
            detail = {"thresholds": dict(advice.thresholds), "until": until}
        elif advice.action is AdviceAction.START_REFERRAL:
            referral = request_referral(
                conn,
                resident_id=current.resident_id,
                priority=advice.referral_priority,
                reason=f"consult {consult_id}: {advice.text}",
                requested_by=actor,
                now=now,
                to_site_id=current.target_site_id,
                department_id=current.department_id,
                notes=f"Question: {current.question}\nAdvice: {advice.text}",
                consult_id=consult_id,
                alert_ids=[current.alert_id] if current.alert_id is not None else [],
            )
            detail = {"referral_id": referral.referral_id}
        conn.execute(
            "UPDATE consults SET status = %s, advice = %s, advice_action = %s,"
            " advice_detail = %s, answered_by = %s, answered_at = %s, updated_at = %s"
            " WHERE consult_id = %s",
            (
                move.to_status,
                advice.text,
                advice.action,
                Jsonb(jsonable(detail)),
                actor,
                now,
                now,
                consult_id,
            ),
        )
        record_transition(conn, move, advice=advice.text, action=advice.action, **detail)
        return get_consult(conn, consult_id), referral


def consults_for_alert(conn: psycopg.Connection, alert_id: int) -> list[int]:
    """The consults an alert led to (the other direction is `Consult.alert_id`)."""
    rows = conn.execute(
        "SELECT consult_id FROM consults WHERE alert_id = %s ORDER BY consult_id", (alert_id,)
    ).fetchall()
    return [r[0] for r in rows]
