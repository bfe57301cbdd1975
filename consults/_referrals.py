"""Referrals up the network (routine, urgent, green channel), deadline escalation, and
back-referrals down for rehabilitation. Every change goes through the Task state machine and is
audited."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from consults._audit import record, record_transition
from consults._deadlines import accept_by
from consults._errors import NetworkRuleError, NotFound
from consults._followup import set_risk_tier, set_thresholds
from consults._network import (
    TIER_LEVEL,
    ReferralPriority,
    SiteTier,
    escalation_target,
    next_tier_up,
)
from consults._network_store import alliance_members, site_tier
from consults._risk import RiskTier
from consults._snapshot import build_snapshot, jsonable, resident_row
from consults._states import TaskStatus, transition


@dataclass(frozen=True, slots=True, kw_only=True)
class Referral:
    referral_id: int
    resident_id: str
    direction: str
    priority: str
    status: str
    from_site_id: str
    to_site_id: str
    department_id: str | None
    alliance_id: str | None
    reason: str
    handover: dict[str, Any]
    rehab_plan: dict[str, Any] | None
    consult_id: int | None
    parent_referral_id: int | None
    proposed_by_policy: bool
    requested_by: str
    requested_at: datetime
    accept_by: datetime | None
    tried_site_ids: list[str]
    escalation_level: int
    coordinator_owned: bool
    status_reason: str | None
    updated_at: datetime
    alert_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class RehabPlan:
    """The hospital's plan that travels down with a back-referral."""

    summary: str
    goals: tuple[str, ...] = ()
    instructions: str = ""
    raise_risk_tier_to: RiskTier | None = None
    risk_period: timedelta = timedelta(days=14)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    thresholds_period: timedelta = timedelta(days=14)

    def as_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "goals": list(self.goals),
            "instructions": self.instructions,
            "raise_risk_tier_to": self.raise_risk_tier_to,
            "risk_period_days": self.risk_period.total_seconds() / 86400,
            "thresholds": dict(self.thresholds),
            "thresholds_period_days": self.thresholds_period.total_seconds() / 86400,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Escalation:
    referral_id: int
    from_site_id: str
    to_site_id: str | None  # None: the alliance's on-call coordinator took it
    level: int


_COLUMNS = (
    "referral_id, resident_id, direction, priority, status, from_site_id, to_site_id,"
    " department_id, alliance_id, reason, handover, rehab_plan, consult_id, parent_referral_id,"
    " proposed_by_policy, requested_by, requested_at, accept_by, tried_site_ids,"
    " escalation_level, coordinator_owned, status_reason, updated_at,"
    " ARRAY(SELECT alert_id FROM referral_alert_links l WHERE l.referral_id = referrals.referral_id"
    " ORDER BY alert_id) AS alert_ids"
)
_ENTITY = "referral"


def get_referral(conn: psycopg.Connection, referral_id: int, *, lock: bool = False) -> Referral:
    cur = conn.cursor(row_factory=class_row(Referral))
    sql = f"SELECT {_COLUMNS} FROM referrals WHERE referral_id = %s"
    found = cur.execute(sql + (" FOR UPDATE" if lock else ""), (referral_id,)).fetchone()
    if found is None:
        raise NotFound(f"no referral {referral_id}")
    return found


def list_referrals(
    conn: psycopg.Connection,
    *,
    site_ids: frozenset[str] | None = None,
    to_site_id: str | None = None,
    status: TaskStatus | None = None,
    resident_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Referral], int]:
    """Referrals, newest first; `site_ids` keeps those from, to or once tried at one of these
    sites (a hospital that let a referral pass its deadline still sees it)."""
    where = (
        " WHERE (%(sites)s::text[] IS NULL OR from_site_id = ANY(%(sites)s)"
        " OR to_site_id = ANY(%(sites)s) OR tried_site_ids && %(sites)s::text[])"
        " AND (%(to)s::text IS NULL OR to_site_id = %(to)s)"
        " AND (%(status)s::text IS NULL OR status = %(status)s)"
        " AND (%(resident)s::text IS NULL OR resident_id = %(resident)s)"
    )
    params = {
        "sites": sorted(site_ids) if site_ids is not None else None,
        "to": to_site_id,
        "status": status,
        "resident": resident_id,
        "limit": limit,
        "offset": offset,
    }
    (count,) = conn.execute("SELECT count(*) FROM referrals" + where, params).fetchone()  # type: ignore[misc]
    cur = conn.cursor(row_factory=class_row(Referral))
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM referrals{where}"
        " ORDER BY requested_at DESC, referral_id DESC LIMIT %(limit)s OFFSET %(offset)s",
        params,
    ).fetchall()
    return rows, int(count)


def _shared_alliance(conn: psycopg.Connection, a: str, b: str) -> str | None:
    row = conn.execute(
        "SELECT x.alliance_id FROM alliance_members x JOIN alliance_members y USING (alliance_id)"
        " WHERE x.site_id = %s AND y.site_id = %s ORDER BY x.alliance_id LIMIT 1",
        (a, b),
    ).fetchone()
    return row[0] if row else None


def _route_targets(conn: psycopg.Connection, from_site_id: str) -> list[tuple[str, SiteTier]]:
    rows = conn.execute(
        "SELECT r.to_site_id, s.tier FROM referral_routes r"
        " JOIN sites s ON s.site_id = r.to_site_id"
        " WHERE r.from_site_id = %s ORDER BY r.to_site_id",
        (from_site_id,),
    ).fetchall()
    return [(site, SiteTier(tier)) for site, tier in rows]


def _choose_up_target(
    conn: psycopg.Connection,
    from_site_id: str,
    priority: ReferralPriority,
    to_site_id: str | None,
) -> str:
    from_tier = site_tier(conn, from_site_id)
    routes = _route_targets(conn, from_site_id)
    if to_site_id is not None:
        to_tier = site_tier(conn, to_site_id)
        on_route = any(site == to_site_id for site, _ in routes)
        higher_in_alliance = TIER_LEVEL[to_tier] > TIER_LEVEL[from_tier] and (
            _shared_alliance(conn, from_site_id, to_site_id) is not None
        )
        if not (on_route or higher_in_alliance):
            raise NetworkRuleError(
                f"site {from_site_id!r} does not refer to {to_site_id!r}: no referral route and "
                "no alliance with it at a higher tier"
            )
        return to_site_id
    if priority is ReferralPriority.GREEN_CHANNEL:
        # The green channel goes straight to the alliance's first tertiary hospital.
        mine = {m.alliance_id for m in alliance_members(conn) if m.site_id == from_site_id}
        members = [m for m in alliance_members(conn) if m.alliance_id in mine]
        hospital = escalation_target(members, tier=SiteTier.TERTIARY_HOSPITAL, tried=())
        if hospital is not None:
            return hospital
        routes = [r for r in routes if r[1] is SiteTier.TERTIARY_HOSPITAL] or routes
    wanted = next_tier_up(from_tier)
    ranked = sorted(
        (r for r in routes if TIER_LEVEL[r[1]] > TIER_LEVEL[from_tier]),
        key=lambda r: (r[1] is not wanted, r[0]),
    )
    if not ranked:
        raise NetworkRuleError(f"site {from_site_id!r} has no referral route up the network")
    return ranked[0][0]


def _link_alerts(
    conn: psycopg.Connection,
    referral_id: int,
    alert_ids: Iterable[int],
    *,
    actor: str,
    now: datetime,
) -> None:
    for alert_id in alert_ids:
        conn.execute(
            "INSERT INTO referral_alert_links (referral_id, alert_id, linked_by, linked_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (referral_id, alert_id, actor, now),
        )


def request_referral(
    conn: psycopg.Connection,
    *,
    resident_id: str,
    priority: ReferralPriority,
    reason: str,
    requested_by: str,
    now: datetime,
    to_site_id: str | None = None,
    department_id: str | None = None,
    notes: str = "",
    consult_id: int | None = None,
    alert_ids: Iterable[int] = (),
    draft: bool = False,
    proposed_by_policy: bool = False,
) -> Referral:
    """Refer a resident up the network with a handover packet (summary, vitals, alerts, notes).

    Without `to_site_id` the route decides: the next tier up, or for the green channel the
    alliance's first tertiary hospital. A `draft` (policy proposal) has no deadline until sent."""
    with conn.transaction():
        resident = resident_row(conn, resident_id)
        from_site_id = resident["site_id"]
        if department_id is not None and to_site_id is None:
            row = conn.execute(
                "SELECT site_id FROM departments WHERE department_id = %s", (department_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no department {department_id!r}")
            to_site_id = row[0]
        target = _choose_up_target(conn, from_site_id, priority, to_site_id)
        alerts = list(alert_ids)
        snapshot = build_snapshot(conn, resident_id, now=now)
        handover = {
            "summary": {
                "resident": snapshot["resident"],
                "reason": reason,
                "priority": priority,
                "from_site_id": from_site_id,
                "to_site_id": target,
                "alert_ids": alerts,
            },
            "vitals_24h": snapshot["vitals_24h"],
            "charts": snapshot["charts"],
            "alerts": snapshot["open_alerts"],
            "findings": snapshot["findings"],
            "notes": notes,
            "taken_at": snapshot["taken_at"],
        }
        if consult_id is not None:
            handover["consult_id"] = consult_id
        status = TaskStatus.DRAFT if draft else TaskStatus.REQUESTED
        (referral_id,) = conn.execute(  # type: ignore[misc]
            "INSERT INTO referrals (resident_id, direction, priority, status, from_site_id,"
            " to_site_id, department_id, alliance_id, reason, handover, consult_id,"
            " proposed_by_policy, requested_by, requested_at, accept_by, updated_at)"
            " VALUES (%s, 'up', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING referral_id",
            (
                resident_id,
                priority,
                status,
                from_site_id,
                target,
                department_id,
                _shared_alliance(conn, from_site_id, target),
                reason,
                Jsonb(jsonable(handover)),
                consult_id,
                proposed_by_policy,
                requested_by,
                now,
                None if draft else accept_by(priority, now),
                now,
            ),
        ).fetchone()
        _link_alerts(conn, referral_id, alerts, actor=requested_by, now=now)
        record(
            conn,
            entity=_ENTITY,
            entity_id=referral_id,
            action="created",
            actor=requested_by,
            at=now,
            to_status=status,
            detail={"priority": priority, "to_site_id": target, "alert_ids": alerts},
        )
        return get_referral(conn, referral_id)


def transition_referral(
    conn: psycopg.Connection,
    referral_id: int,
    target: TaskStatus,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> Referral:
    """Move a referral through the Task states; a back-referral's acceptance resumes monitoring
    at the receiving site."""
    with conn.transaction():
        current = get_referral(conn, referral_id, lock=True)
        move = transition(
            entity=_ENTITY,
            entity_id=str(referral_id),
            current=TaskStatus(current.status),
            target=target,
            actor=actor,
            at=now,
            reason=reason,
        )
        deadline = current.accept_by
        if move.from_status is TaskStatus.DRAFT and target is TaskStatus.REQUESTED:
            deadline = accept_by(ReferralPriority(current.priority), now)
        conn.execute(
            "UPDATE referrals SET status = %s, status_reason = coalesce(%s, status_reason),"
            " accept_by = %s, updated_at = %s WHERE referral_id = %s",
            (target, reason, deadline, now, referral_id),
        )
        record_transition(conn, move)
        if current.direction == "down" and target is TaskStatus.ACCEPTED:
            _resume_monitoring(conn, current, actor=actor, now=now)
        return get_referral(conn, referral_id)


def _resume_monitoring(
    conn: psycopg.Connection, referral: Referral, *, actor: str, now: datetime
) -> None:
    """The receiving site takes the resident back: their monitoring and follow-ups resume there,
    with the hospital's temporary tier and thresholds."""
    conn.execute(
        "UPDATE residents SET site_id = %s WHERE resident_id = %s",
        (referral.to_site_id, referral.resident_id),
    )
    record(
        conn,
        entity="resident",
        entity_id=referral.resident_id,
        action="site",
        actor=actor,
        at=now,
        detail={"site_id": referral.to_site_id, "referral_id": referral.referral_id},
    )
    conn.execute(
        "UPDATE follow_up_tasks SET site_id = %s WHERE resident_id = %s AND status = 'requested'",
        (referral.to_site_id, referral.resident_id),
    )
    plan = referral.rehab_plan or {}
    source = f"back-referral {referral.referral_id}"
    if plan.get("raise_risk_tier_to"):
        set_risk_tier(
            conn,
            referral.resident_id,
            RiskTier(plan["raise_risk_tier_to"]),
            actor=actor,
            now=now,
            until=now + timedelta(days=float(plan.get("risk_period_days", 14))),
            reason=source,
        )
    if plan.get("thresholds"):
        set_thresholds(
            conn,
            referral.resident_id,
            plan["thresholds"],
            actor=actor,
            now=now,
            until=now + timedelta(days=float(plan.get("thresholds_period_days", 14))),
            source=source,
        )


def back_refer(
    conn: psycopg.Connection,
    referral_id: int,
    plan: RehabPlan,
    *,
    actor: str,
    now: datetime,
    to_site_id: str | None = None,
) -> Referral:
    """The hospital refers the resident back down (default: to the site that referred them) with a
    rehabilitation plan; the original referral is completed."""
    with conn.transaction():
        original = get_referral(conn, referral_id, lock=True)
        if original.direction != "up":
            raise NetworkRuleError(f"referral {referral_id} is a back-referral already")
        status = TaskStatus(original.status)
        if status is TaskStatus.ACCEPTED:
            transition_referral(
                conn,
                referral_id,
                TaskStatus.IN_PROGRESS,
                actor=actor,
                now=now,
                reason="back-referral",
            )
            status = TaskStatus.IN_PROGRESS
        if status is TaskStatus.IN_PROGRESS:
            transition_referral(
                conn,
                referral_id,
                TaskStatus.COMPLETED,
                actor=actor,
                now=now,
                reason="back-referral",
            )
            status = TaskStatus.COMPLETED
        if status is not TaskStatus.COMPLETED:
            # Never accepted (or rejected/cancelled): the state machine names the allowed moves.
            transition(
                entity=_ENTITY,
                entity_id=str(referral_id),
                current=status,
                target=TaskStatus.COMPLETED,
                actor=actor,
                at=now,
            )
        hospital = original.to_site_id
        target = to_site_id or original.from_site_id
        if TIER_LEVEL[site_tier(conn, target)] >= TIER_LEVEL[site_tier(conn, hospital)]:
            raise NetworkRuleError(f"a back-referral goes down a tier; {target!r} is not below")
        if target != original.from_site_id and _shared_alliance(conn, hospital, target) is None:
            raise NetworkRuleError(f"{target!r} is not in an alliance with {hospital!r}")
        snapshot = build_snapshot(conn, original.resident_id, now=now)
        handover = {
            "summary": {
                "resident": snapshot["resident"],
                "reason": plan.summary,
                "from_site_id": hospital,
                "to_site_id": target,
                "original_referral_id": referral_id,
            },
            "rehab_plan": plan.as_json(),
            "vitals_24h": snapshot["vitals_24h"],
            "alerts": snapshot["open_alerts"],
            "notes": plan.instructions,
            "taken_at": snapshot["taken_at"],
        }
        (new_id,) = conn.execute(  # type: ignore[misc]
            "INSERT INTO referrals (resident_id, direction, priority, status, from_site_id,"
            " to_site_id, alliance_id, reason, handover, rehab_plan, parent_referral_id,"
            " requested_by, requested_at, accept_by, updated_at)"
            " VALUES (%s, 'down', 'routine', 'requested', %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, %s) RETURNING referral_id",
            (
                original.resident_id,
                hospital,
                target,
                _shared_alliance(conn, hospital, target) or original.alliance_id,
                plan.summary,
                Jsonb(jsonable(handover)),
                Jsonb(jsonable(plan.as_json())),
                referral_id,
                actor,
                now,
                accept_by(ReferralPriority.ROUTINE, now),
                now,
            ),
        ).fetchone()
        record(
            conn,
            entity=_ENTITY,
            entity_id=new_id,
            action="created",
            actor=actor,
            at=now,
            to_status=TaskStatus.REQUESTED,
            detail={"direction": "down", "to_site_id": target, "parent_referral_id": referral_id},
        )
        return get_referral(conn, new_id)


def escalate_overdue(
    conn: psycopg.Connection, *, now: datetime, actor: str = "consults-worker"
) -> list[Escalation]:
    """Referrals not accepted by their deadline go to the next site of the same tier in the
    alliance, with a fresh deadline; when none is left, to the alliance's on-call coordinator."""
    done = []
    with conn.transaction():
        due = conn.execute(
            "SELECT referral_id FROM referrals WHERE status = 'requested' AND accept_by <= %s"
            " AND NOT coordinator_owned ORDER BY accept_by FOR UPDATE SKIP LOCKED",
            (now,),
        ).fetchall()
        members = alliance_members(conn)
        for (referral_id,) in due:
            ref = get_referral(conn, referral_id)
            tried = {*ref.tried_site_ids, ref.to_site_id}
            alliances = (
                {ref.alliance_id}
                if ref.alliance_id
                else {m.alliance_id for m in members if m.site_id == ref.from_site_id}
            )
            pool = [m for m in members if m.alliance_id in alliances]
            owner_tier = site_tier(conn, ref.to_site_id)
            nxt = escalation_target(pool, tier=owner_tier, tried=tried)
            level = ref.escalation_level + 1
            if nxt is not None:
                conn.execute(
                    "UPDATE referrals SET to_site_id = %s, tried_site_ids = %s,"
                    " escalation_level = %s, accept_by = %s, updated_at = %s"
                    " WHERE referral_id = %s",
                    (
                        nxt,
                        sorted(tried),
                        level,
                        accept_by(ReferralPriority(ref.priority), now),
                        now,
                        referral_id,
                    ),
                )
                action = "escalated"
            else:
                conn.execute(
                    "UPDATE referrals SET coordinator_owned = true, tried_site_ids = %s,"
                    " escalation_level = %s, updated_at = %s WHERE referral_id = %s",
                    (sorted(tried), level, now, referral_id),
                )
                action = "escalated_to_coordinator"
            record(
                conn,
                entity=_ENTITY,
                entity_id=referral_id,
                action=action,
                actor=actor,
                at=now,
                from_status=ref.status,
                to_status=ref.status,
                detail={
                    "from_site_id": ref.to_site_id,
                    "to_site_id": nxt,
                    "missed_deadline": ref.accept_by,
                    "level": level,
                },
            )
            done.append(
                Escalation(
                    referral_id=referral_id,
                    from_site_id=ref.to_site_id,
                    to_site_id=nxt,
                    level=level,
                )
            )
    return done


def referrals_for_alert(conn: psycopg.Connection, alert_id: int) -> list[int]:
    """The referrals an alert led to (the other direction is `Referral.alert_ids`)."""
    rows = conn.execute(
        "SELECT referral_id FROM referral_alert_links WHERE alert_id = %s ORDER BY referral_id",
        (alert_id,),
    ).fetchall()
    return [r[0] for r in rows]
