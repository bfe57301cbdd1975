"""Escalation policies per site and the on-call rota (included through `alert_subscribers`).

Every route needs MANAGE_SITE and reads or changes the user's own site only; another site answers
404 (or, in a list, nothing), as a site that does not exist. The built-in default policies belong
to no site: every site manager reads them, nobody changes them through the API.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from psycopg.rows import class_row

from alerts import (
    DEFAULT_POLICIES,
    EscalationPolicy,
    EscalationStep,
    Shift,
    on_call,
)
from dashboard._access import Permission, StaffIdentity
from dashboard._deps import (
    AccessRecord,
    AuditDep,
    ConnDep,
    NowDep,
    PageLimit,
    PageOffset,
    not_found,
    permit,
)
from dashboard.routes._alert_models import (
    EscalationPoliciesPublic,
    EscalationPolicyPublic,
    EscalationPolicyPut,
    EscalationStepModel,
    OnCallPublic,
    ShiftCreate,
    ShiftPublic,
    ShiftsPublic,
)

policies_router = APIRouter(prefix="/escalation-policies", tags=["escalation"])
rota_router = APIRouter(prefix="/oncall-shifts", tags=["escalation"])

Manager = Annotated[StaffIdentity, Depends(permit(Permission.MANAGE_SITE))]


def managed_site(staff: StaffIdentity, access: AccessRecord, site_id: str | None = None) -> str:
    """The site whose alerting the user manages: their own. A `site_id` naming another site
    answers 404, like a site that does not exist."""
    if staff.site_id is None or (site_id is not None and site_id != staff.site_id):
        raise not_found("site")
    access.subject(site_id=staff.site_id)
    return staff.site_id


_POLICY_COLUMNS = (
    "site_id, name, channel, risk_tiers, min_severity, steps, reminder_every_s, hand_off, priority"
)


def _builtin(policy: EscalationPolicy) -> EscalationPolicyPublic:
    return EscalationPolicyPublic(
        site_id=None,
        name=policy.name,
        channel=policy.channel,
        risk_tiers=sorted(policy.risk_tiers),
        min_severity=policy.min_severity,
        steps=[
            EscalationStepModel(role=s.role, after_s=int(s.after.total_seconds()))
            for s in policy.steps
        ],
        reminder_every_s=int(policy.reminder_every.total_seconds()),
        hand_off=policy.hand_off,
        priority=policy.priority,
    )


@policies_router.get("")
def list_policies(
    conn: ConnDep,
    staff: Manager,
    access: AuditDep,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
) -> EscalationPoliciesPublic:
    """The user's site's own policies, then the built-in defaults that apply wherever a site's
    policies do not match (another `site_id` lists the defaults only, as a site with none)."""
    own = managed_site(staff, access)
    rows = (
        conn.cursor(row_factory=class_row(EscalationPolicyPublic))
        .execute(
            f"SELECT {_POLICY_COLUMNS} FROM escalation_policies"
            " WHERE site_id = %(own)s AND (%(s)s::text IS NULL OR site_id = %(s)s)"
            " ORDER BY priority DESC, name",
            {"own": own, "s": site_id},
        )
        .fetchall()
    )
    data = [*rows, *(_builtin(p) for p in DEFAULT_POLICIES)]
    return EscalationPoliciesPublic(data=data, count=len(data))


@policies_router.put("/{site_id}/{name}")
def put_policy(
    conn: ConnDep,
    staff: Manager,
    access: AuditDep,
    site_id: str,
    name: str,
    body: EscalationPolicyPut,
) -> EscalationPolicyPublic:
    """Create or replace a site's policy. New alerts use it at once; open alerts keep theirs."""
    managed_site(staff, access, site_id)
    if body.steps[0].after_s != 0:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "the first step pages at once: after_s = 0"
        )
    EscalationPolicy(  # the same validation the worker applies
        name=name,
        steps=tuple(
            EscalationStep(role=s.role, after=timedelta(seconds=s.after_s)) for s in body.steps
        ),
        reminder_every=timedelta(seconds=body.reminder_every_s),
    )
    values = {
        "site_id": site_id,
        "name": name,
        "channel": body.channel,
        "risk_tiers": [str(t) for t in body.risk_tiers],
        "min_severity": body.min_severity,
        "steps": json.dumps([s.model_dump() for s in body.steps]),
        "reminder_every_s": body.reminder_every_s,
        "hand_off": body.hand_off,
        "priority": body.priority,
    }
    try:
        conn.execute(
            f"INSERT INTO escalation_policies ({_POLICY_COLUMNS})"
            " VALUES (%(site_id)s, %(name)s, %(channel)s, %(risk_tiers)s, %(min_severity)s,"
            " %(steps)s, %(reminder_every_s)s, %(hand_off)s, %(priority)s)"
            " ON CONFLICT (site_id, name) DO UPDATE SET channel = excluded.channel,"
            " risk_tiers = excluded.risk_tiers, min_severity = excluded.min_severity,"
            " steps = excluded.steps, reminder_every_s = excluded.reminder_every_s,"
            " hand_off = excluded.hand_off, priority = excluded.priority",
            values,
        )
    except psycopg.errors.ForeignKeyViolation as exc:
        conn.rollback()
        raise not_found("site") from exc
    return EscalationPolicyPublic(site_id=site_id, name=name, **body.model_dump())


@policies_router.delete("/{site_id}/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(
    conn: ConnDep, staff: Manager, access: AuditDep, site_id: str, name: str
) -> Response:
    managed_site(staff, access, site_id)
    deleted = conn.execute(
        "DELETE FROM escalation_policies WHERE site_id = %s AND name = %s", (site_id, name)
    )
    if deleted.rowcount == 0:
        raise not_found("escalation policy")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_SHIFT_COLUMNS = "shift_id, site_id, role, staff_id, starts_at, ends_at"


@rota_router.get("")
def list_shifts(
    conn: ConnDep,
    staff: Manager,
    access: AuditDep,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    role: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    offset: PageOffset = 0,
    limit: PageLimit = 100,
) -> ShiftsPublic:
    """The user's site's rota, by start time; `since` hides shifts that ended before it
    (another `site_id` gives an empty list)."""
    own = managed_site(staff, access)
    params = {
        "own": own,
        "s": site_id,
        "r": role,
        "since": since,
        "offset": offset,
        "limit": limit,
    }
    where = (
        "WHERE site_id = %(own)s AND (%(s)s::text IS NULL OR site_id = %(s)s)"
        " AND (%(r)s::text IS NULL OR role = %(r)s)"
        " AND (%(since)s::timestamptz IS NULL OR ends_at > %(since)s)"
    )
    (count,) = conn.execute(f"SELECT count(*) FROM oncall_shifts {where}", params).fetchone()  # type: ignore[misc]
    rows = (
        conn.cursor(row_factory=class_row(ShiftPublic))
        .execute(
            f"SELECT {_SHIFT_COLUMNS} FROM oncall_shifts {where}"
            " ORDER BY starts_at, shift_id OFFSET %(offset)s LIMIT %(limit)s",
            params,
        )
        .fetchall()
    )
    return ShiftsPublic(data=rows, count=count)


@rota_router.post("", status_code=status.HTTP_201_CREATED)
def create_shift(conn: ConnDep, staff: Manager, access: AuditDep, body: ShiftCreate) -> ShiftPublic:
    managed_site(staff, access, body.site_id)
    if body.ends_at <= body.starts_at:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "ends_at must be after starts_at"
        )
    try:
        row = (
            conn.cursor(row_factory=class_row(ShiftPublic))
            .execute(
                "INSERT INTO oncall_shifts (site_id, role, staff_id, starts_at, ends_at)"
                f" VALUES (%s, %s, %s, %s, %s) RETURNING {_SHIFT_COLUMNS}",
                (body.site_id, body.role, body.staff_id, body.starts_at, body.ends_at),
            )
            .fetchone()
        )
    except psycopg.errors.ForeignKeyViolation as exc:
        conn.rollback()
        raise not_found("site") from exc
    assert row is not None
    return row


@rota_router.get("/on-call")
def who_is_on_call(
    conn: ConnDep,
    staff: Manager,
    access: AuditDep,
    now: NowDep,
    site_id: str,
    role: str,
    at: datetime | None = None,
) -> OnCallPublic:
    """Who holds `role` at `site_id` at `at` (now by default): the people an escalation pages."""
    managed_site(staff, access, site_id)
    at = at or now
    rows = conn.execute(
        "SELECT role, staff_id, starts_at, ends_at FROM oncall_shifts"
        " WHERE site_id = %s AND role = %s AND starts_at <= %s AND ends_at > %s",
        (site_id, role, at, at),
    ).fetchall()
    shifts = [Shift(role=r, staff_id=s, starts_at=a, ends_at=b) for r, s, a, b in rows]
    return OnCallPublic(
        site_id=site_id, role=role, at=at, staff_ids=list(on_call(shifts, role=role, at=at))
    )


@rota_router.delete("/{shift_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_shift(conn: ConnDep, staff: Manager, access: AuditDep, shift_id: int) -> Response:
    deleted = conn.execute(
        "DELETE FROM oncall_shifts WHERE shift_id = %s AND site_id = %s",
        (shift_id, managed_site(staff, access)),
    )
    if deleted.rowcount == 0:
        raise not_found("shift")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
