"""Risk tiers, per-resident thresholds and the follow-up schedule in the database (audited)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import class_row

from consults._audit import record
from consults._errors import ConsultsError, NotFound
from consults._risk import RiskTier, effective_tier, next_follow_up, thresholds_for
from consults._states import TaskStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUpTask:
    task_id: int
    resident_id: str
    site_id: str
    risk_tier: str
    due_at: datetime
    status: str
    note: str | None
    completed_by: str | None
    completed_at: datetime | None


_TASK_COLUMNS = (
    "task_id, resident_id, site_id, risk_tier, due_at, status, note, completed_by, completed_at"
)


def _resident_tier(conn: psycopg.Connection, resident_id: str) -> tuple[RiskTier, str]:
    row = conn.execute(
        "SELECT risk_tier, site_id FROM residents WHERE resident_id = %s FOR UPDATE",
        (resident_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no resident {resident_id!r}")
    return RiskTier(row[0]), row[1]


def _schedule(
    conn: psycopg.Connection,
    resident_id: str,
    site_id: str,
    tier: RiskTier,
    *,
    actor: str,
    now: datetime,
) -> None:
    """Open the next follow-up on the tier's schedule and audit it (caller's transaction)."""
    (task_id,) = conn.execute(  # type: ignore[misc]
        "INSERT INTO follow_up_tasks (resident_id, site_id, risk_tier, due_at, status, created_at)"
        " VALUES (%s, %s, %s, %s, 'requested', %s) RETURNING task_id",
        (resident_id, site_id, tier, next_follow_up(tier, after=now), now),
    ).fetchone()
    record(
        conn,
        entity="follow_up",
        entity_id=task_id,
        action="scheduled",
        actor=actor,
        at=now,
        to_status=TaskStatus.REQUESTED,
        detail={"resident_id": resident_id, "risk_tier": tier},
    )


def set_risk_tier(
    conn: psycopg.Connection,
    resident_id: str,
    tier: RiskTier,
    *,
    actor: str,
    now: datetime,
    until: datetime | None = None,
    reason: str | None = None,
) -> None:
    """Change a resident's tier (for good, or until `until`, then back to the current one).

    The open follow-up is replaced by one on the new tier's schedule when that comes sooner."""
    with conn.transaction():
        current, site_id = _resident_tier(conn, resident_id)
        after = current if until is not None else None
        _write_tier(
            conn,
            resident_id,
            from_tier=current,
            to_tier=tier,
            until=until,
            after=after,
            actor=actor,
            now=now,
            detail={"until": until, "then": after, "reason": reason},
        )
        _reschedule(conn, resident_id, site_id, tier, actor=actor, now=now)


def _reschedule(
    conn: psycopg.Connection,
    resident_id: str,
    site_id: str,
    tier: RiskTier,
    *,
    actor: str,
    now: datetime,
) -> None:
    due = next_follow_up(tier, after=now)
    row = conn.execute(
        "SELECT task_id, due_at FROM follow_up_tasks WHERE resident_id = %s"
        " AND status = 'requested' FOR UPDATE",
        (resident_id,),
    ).fetchone()
    if row is not None and row[1] <= due:
        return
    if row is not None:
        conn.execute(
            "UPDATE follow_up_tasks SET status = 'cancelled', note = 'rescheduled: risk tier'"
            " WHERE task_id = %s",
            (row[0],),
        )
        record(
            conn,
            entity="follow_up",
            entity_id=row[0],
            action="status",
            actor=actor,
            at=now,
            from_status=TaskStatus.REQUESTED,
            to_status=TaskStatus.CANCELLED,
            detail={"reason": f"rescheduled for risk tier {tier}"},
        )
    _schedule(conn, resident_id, site_id, tier, actor=actor, now=now)


def expire_risk_tiers(conn: psycopg.Connection, *, now: datetime, actor: str) -> list[str]:
    """Return temporary tiers whose period has ended to the tier they replaced; audited."""
    changed = []
    with conn.transaction():
        rows = conn.execute(
            "SELECT resident_id, risk_tier, risk_tier_until, risk_tier_after FROM residents"
            " WHERE risk_tier_until IS NOT NULL AND risk_tier_until <= %s FOR UPDATE SKIP LOCKED",
            (now,),
        ).fetchall()
        for resident_id, tier, until, after in rows:
            back = effective_tier(
                RiskTier(tier), until=until, after=RiskTier(after) if after else None, now=now
            )
            _write_tier(
                conn,
                resident_id,
                from_tier=tier,
                to_tier=back,
                until=None,
                after=None,
                actor=actor,
                now=now,
                detail={"reason": "temporary tier ended", "until": until},
            )
            changed.append(resident_id)
    return changed


def ensure_follow_ups(conn: psycopg.Connection, *, now: datetime, actor: str) -> int:
    """Give every resident without an open follow-up one on their tier's schedule."""
    created = 0
    with conn.transaction():
        rows = conn.execute(
            "SELECT r.resident_id, r.site_id, r.risk_tier FROM residents r"
            " WHERE NOT EXISTS (SELECT 1 FROM follow_up_tasks t"
            "   WHERE t.resident_id = r.resident_id AND t.status = 'requested')"
            " FOR UPDATE OF r SKIP LOCKED"
        ).fetchall()
        for resident_id, site_id, tier in rows:
            _schedule(conn, resident_id, site_id, RiskTier(tier), actor=actor, now=now)
            created += 1
    return created


def complete_follow_up(
    conn: psycopg.Connection,
    task_id: int,
    *,
    actor: str,
    now: datetime,
    note: str | None = None,
    site_ids: frozenset[str] | None = None,
) -> FollowUpTask:
    """Mark a follow-up done and schedule the next one from now on the resident's tier; with
    `site_ids`, a task of another site is NotFound, like one that does not exist."""
    with conn.transaction():
        row = conn.execute(
            "SELECT status, resident_id, site_id FROM follow_up_tasks WHERE task_id = %s"
            " FOR UPDATE",
            (task_id,),
        ).fetchone()
        if row is None or (site_ids is not None and row[2] not in site_ids):
            raise NotFound(f"no follow-up task {task_id}")
        if row[0] != TaskStatus.REQUESTED:
            raise ConsultsError(
                f"follow-up {task_id} is '{row[0]}'; only a 'requested' one can be completed"
            )
        conn.execute(
            "UPDATE follow_up_tasks SET status = 'completed', completed_by = %s,"
            " completed_at = %s, note = %s WHERE task_id = %s",
            (actor, now, note, task_id),
        )
        record(
            conn,
            entity="follow_up",
            entity_id=task_id,
            action="status",
            actor=actor,
            at=now,
            from_status=TaskStatus.REQUESTED,
            to_status=TaskStatus.COMPLETED,
            detail={"note": note},
        )
        tier, site_id = _resident_tier(conn, row[1])
        _reschedule(conn, row[1], site_id, tier, actor=actor, now=now)
        return _task(conn, task_id)


def _task(conn: psycopg.Connection, task_id: int) -> FollowUpTask:
    cur = conn.cursor(row_factory=class_row(FollowUpTask))
    task = cur.execute(
        f"SELECT {_TASK_COLUMNS} FROM follow_up_tasks WHERE task_id = %s", (task_id,)
    ).fetchone()
    if task is None:
        raise NotFound(f"no follow-up task {task_id}")
    return task


def follow_ups(
    conn: psycopg.Connection,
    *,
    site_ids: frozenset[str] | None = None,
    due_before: datetime | None = None,
) -> list[FollowUpTask]:
    """Open follow-ups, soonest first; only those due before `due_before` when given."""
    cur = conn.cursor(row_factory=class_row(FollowUpTask))
    return cur.execute(
        f"SELECT {_TASK_COLUMNS} FROM follow_up_tasks WHERE status = 'requested'"
        " AND (%(sites)s::text[] IS NULL OR site_id = ANY(%(sites)s))"
        " AND (%(due)s::timestamptz IS NULL OR due_at <= %(due)s) ORDER BY due_at, task_id",
        {"sites": sorted(site_ids) if site_ids is not None else None, "due": due_before},
    ).fetchall()


def set_thresholds(
    conn: psycopg.Connection,
    resident_id: str,
    values: Mapping[str, float],
    *,
    actor: str,
    now: datetime,
    until: datetime | None,
    source: str,
) -> None:
    """Per-resident detector parameters (`<detector>.<parameter>`) from now until `until`."""
    with conn.transaction():
        _resident_tier(conn, resident_id)
        for parameter, value in values.items():
            if "." not in parameter:
                raise ConsultsError(
                    f"threshold {parameter!r}: name it '<detector>.<parameter>', e.g. "
                    "'heart_rate_sustained.high_bpm'"
                )
            # A newer setting ends the one in force.
            conn.execute(
                "UPDATE resident_thresholds SET valid_until = %s WHERE resident_id = %s"
                " AND parameter = %s AND valid_from <= %s"
                " AND (valid_until IS NULL OR valid_until > %s)",
                (now, resident_id, parameter, now, now),
            )
            conn.execute(
                "INSERT INTO resident_thresholds (resident_id, parameter, value, valid_from,"
                " valid_until, source) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (resident_id, parameter, valid_from) DO UPDATE SET"
                " value = excluded.value, valid_until = excluded.valid_until,"
                " source = excluded.source",
                (resident_id, parameter, float(value), now, until, source),
            )
        record(
            conn,
            entity="resident",
            entity_id=resident_id,
            action="thresholds",
            actor=actor,
            at=now,
            detail={"values": dict(values), "until": until, "source": source},
        )


def effective_thresholds(
    conn: psycopg.Connection, resident_id: str, *, now: datetime
) -> dict[str, float]:
    """Detector parameters for a resident at `now`: the risk tier's profile plus overrides in
    force. The detectors read this (hand-off documented in docs/consults.md)."""
    row = conn.execute(
        "SELECT risk_tier, risk_tier_until, risk_tier_after FROM residents WHERE resident_id = %s",
        (resident_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no resident {resident_id!r}")
    tier = effective_tier(
        RiskTier(row[0]), until=row[1], after=RiskTier(row[2]) if row[2] else None, now=now
    )
    overrides = conn.execute(
        "SELECT parameter, value FROM resident_thresholds WHERE resident_id = %s"
        " AND valid_from <= %s AND (valid_until IS NULL OR valid_until > %s)",
        (resident_id, now, now),
    ).fetchall()
    return thresholds_for(tier, {p: float(v) for p, v in overrides})


def _write_tier(
    conn: psycopg.Connection,
    resident_id: str,
    *,
    from_tier: str,
    to_tier: str,
    until: datetime | None,
    after: str | None,
    actor: str,
    now: datetime,
    detail: dict[str, object],
) -> None:
    """Change a resident's tier and audit the change, in the caller's transaction."""
    conn.execute(
        "UPDATE residents SET risk_tier = %s, risk_tier_until = %s, risk_tier_after = %s"
        " WHERE resident_id = %s",
        (to_tier, until, after, resident_id),
    )
    record(
        conn,
        entity="resident",
        entity_id=resident_id,
        action="risk_tier",
        actor=actor,
        at=now,
        from_status=from_tier,
        to_status=to_tier,
        detail=detail,
    )
