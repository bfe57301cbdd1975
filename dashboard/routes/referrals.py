"""Referrals up (routine, urgent, green channel) and back-referrals down, with FHIR export.

Who may do what (issue 10): a referral is seen by staff with VIEW_CASES whose case sites include
its from, to or tried sites (404 otherwise, as for one that does not exist). A resident's home
site refers up (REQUEST_REFERRAL, the green channel included), sends drafts and cancels; the
site that holds the referral now (its `to_site_id`, with ANSWER_CASES) accepts, rejects, starts,
completes and refers back down. The acting person is the logged-in user.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from consults import (
    NotFound,
    Referral,
    ReferralPriority,
    RehabPlan,
    RiskTier,
    TaskStatus,
    back_refer,
    get_referral,
    list_referrals,
    referral_bundle,
    referrals_for_alert,
    request_referral,
    transition_referral,
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
from dashboard.routes.consults import (
    ANSWERING_MOVES,
    AuditTrailPublic,
    CaseAnswerer,
    CaseViewer,
    StatusChange,
    audit_page,
    consults_errors,
    require_case_alert,
    require_home_resident,
    require_side,
)

router = APIRouter(prefix="/referrals", tags=["referrals"])

ReferralRequester = Annotated[StaffIdentity, Depends(permit(Permission.REQUEST_REFERRAL))]


def _sees(staff: StaffIdentity, referral: Referral) -> bool:
    return staff.sees_case(referral.from_site_id, referral.to_site_id, *referral.tried_site_ids)


def visible_referral(
    conn: psycopg.Connection,
    staff: StaffIdentity,
    access: AccessRecord,
    referral_id: int,
    *,
    lock: bool = False,
) -> Referral:
    """The referral when one of its sites is among the user's case sites, else 404."""
    try:
        referral = get_referral(conn, referral_id, lock=lock)
    except NotFound as exc:
        raise not_found("referral") from exc
    if not _sees(staff, referral):
        raise not_found("referral")
    access.subject(resident_id=referral.resident_id, site_id=referral.from_site_id)
    return referral


class ReferralCreate(BaseModel):
    resident_id: str = Field(min_length=1, max_length=64)
    priority: ReferralPriority
    reason: str = Field(min_length=1, max_length=4000)
    to_site_id: str | None = Field(default=None, max_length=64)
    department_id: str | None = Field(default=None, max_length=64)
    notes: str = Field(default="", max_length=8000)
    alert_ids: list[int] = Field(default_factory=list, max_length=50)


class BackReferralCreate(BaseModel):
    summary: str = Field(min_length=1, max_length=4000)
    goals: list[str] = Field(default_factory=list, max_length=50)
    instructions: str = Field(default="", max_length=8000)
    to_site_id: str | None = Field(default=None, max_length=64)
    raise_risk_tier_to: RiskTier | None = None
    risk_days: float = Field(default=14, gt=0, le=365)
    thresholds: dict[str, float] = Field(default_factory=dict)
    thresholds_days: float = Field(default=14, gt=0, le=365)


class ReferralPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    referral_id: int
    resident_id: str
    direction: str
    priority: ReferralPriority
    status: TaskStatus
    from_site_id: str
    to_site_id: str
    department_id: str | None
    alliance_id: str | None
    reason: str
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
    alert_ids: list[int]


class ReferralDetail(ReferralPublic):
    handover: dict[str, Any]


class ReferralsPublic(BaseModel):
    data: list[ReferralPublic]
    count: int


def _require_own_alerts(conn: psycopg.Connection, resident_id: str, alert_ids: list[int]) -> None:
    """Only the resident's own alerts travel with their referral."""
    if not alert_ids:
        return
    rows = conn.execute(
        "SELECT alert_id FROM alerts WHERE alert_id = ANY(%s) AND resident_id = %s",
        (alert_ids, resident_id),
    ).fetchall()
    foreign = sorted(set(alert_ids) - {r[0] for r in rows})
    if foreign:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"alerts {foreign} are not alerts of resident {resident_id!r}",
        )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_referral(
    body: ReferralCreate, staff: ReferralRequester, conn: ConnDep, access: AuditDep, now: NowDep
) -> ReferralDetail:
    """Refer a resident of your site up; the handover packet (summary, vitals, alerts, notes) is
    built and stored."""
    require_home_resident(conn, staff, access, body.resident_id)
    _require_own_alerts(conn, body.resident_id, body.alert_ids)
    with consults_errors():
        referral = request_referral(
            conn,
            resident_id=body.resident_id,
            priority=body.priority,
            reason=body.reason,
            requested_by=staff.username,
            now=now,
            to_site_id=body.to_site_id,
            department_id=body.department_id,
            notes=body.notes,
            alert_ids=body.alert_ids,
        )
    return ReferralDetail.model_validate(referral)


@router.get("")
def list_referrals_route(
    staff: CaseViewer,
    conn: ConnDep,
    access: AuditDep,
    to_site_id: Annotated[str | None, Query(max_length=64)] = None,
    status_: Annotated[TaskStatus | None, Query(alias="status")] = None,
    resident_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: PageOffset = 0,
    limit: PageLimit = 100,
) -> ReferralsPublic:
    """Referrals of your case sites, newest first. The filters narrow that set, never widen it."""
    if resident_id is not None:
        access.subject(resident_id=resident_id)
    with consults_errors():
        rows, count = list_referrals(
            conn,
            site_ids=staff.case_site_ids,
            to_site_id=to_site_id,
            status=status_,
            resident_id=resident_id,
            limit=limit,
            offset=offset,
        )
    return ReferralsPublic(data=[ReferralPublic.model_validate(r) for r in rows], count=count)


@router.get("/by-alert/{alert_id}")
def referrals_of_alert(
    alert_id: int, staff: CaseViewer, conn: ConnDep, access: AuditDep
) -> list[int]:
    """The referrals an alert of your case sites led to (a referral's alerts: `alert_ids`)."""
    require_case_alert(conn, staff, access, alert_id)
    return [
        referral_id
        for referral_id in referrals_for_alert(conn, alert_id)
        if _sees(staff, get_referral(conn, referral_id))
    ]


@router.get("/{referral_id}")
def read_referral(
    referral_id: int, staff: CaseViewer, conn: ConnDep, access: AuditDep
) -> ReferralDetail:
    return ReferralDetail.model_validate(visible_referral(conn, staff, access, referral_id))


@router.post("/{referral_id}/status")
def change_referral_status(
    referral_id: int,
    body: StatusChange,
    staff: CaseViewer,
    conn: ConnDep,
    access: AuditDep,
    now: NowDep,
) -> ReferralPublic:
    """Accept, reject, start or complete (the site holding the referral); send a proposal or
    cancel (the referring site). Refused moves answer 409 with the allowed ones."""
    action = f"move a referral to '{body.status}'"
    with conn.transaction():
        referral = visible_referral(conn, staff, access, referral_id, lock=True)
        if body.status in ANSWERING_MOVES:
            require_side(
                staff,
                Permission.ANSWER_CASES,
                referral.to_site_id,
                side="receiving site",
                action=action,
            )
        else:
            # A referral up is the home site's request; a back-referral the hospital's answer.
            needed = (
                Permission.REQUEST_REFERRAL
                if referral.direction == "up"
                else Permission.ANSWER_CASES
            )
            require_side(staff, needed, referral.from_site_id, side="referring site", action=action)
        with consults_errors():
            moved = transition_referral(
                conn, referral_id, body.status, actor=staff.username, now=now, reason=body.reason
            )
    return ReferralPublic.model_validate(moved)


@router.post("/{referral_id}/back-referral", status_code=status.HTTP_201_CREATED)
def create_back_referral(
    referral_id: int,
    body: BackReferralCreate,
    staff: CaseAnswerer,
    conn: ConnDep,
    access: AuditDep,
    now: NowDep,
) -> ReferralDetail:
    """The site holding the referral refers the resident back down with a rehabilitation plan."""
    plan = RehabPlan(
        summary=body.summary,
        goals=tuple(body.goals),
        instructions=body.instructions,
        raise_risk_tier_to=body.raise_risk_tier_to,
        risk_period=timedelta(days=body.risk_days),
        thresholds=body.thresholds,
        thresholds_period=timedelta(days=body.thresholds_days),
    )
    with conn.transaction():
        referral = visible_referral(conn, staff, access, referral_id, lock=True)
        require_side(
            staff,
            Permission.ANSWER_CASES,
            referral.to_site_id,
            side="receiving site",
            action="refer this resident back down",
        )
        with consults_errors():
            down = back_refer(
                conn,
                referral_id,
                plan,
                actor=staff.username,
                now=now,
                to_site_id=body.to_site_id,
            )
    return ReferralDetail.model_validate(down)


@router.get("/{referral_id}/audit")
def referral_audit(
    referral_id: int,
    staff: CaseViewer,
    conn: ConnDep,
    access: AuditDep,
    offset: PageOffset = 0,
    limit: PageLimit = 100,
) -> AuditTrailPublic:
    visible_referral(conn, staff, access, referral_id)
    return audit_page(conn, "referral", referral_id, offset=offset, limit=limit)


@router.get("/{referral_id}/fhir")
def referral_fhir(
    referral_id: int, staff: CaseViewer, conn: ConnDep, access: AuditDep, now: NowDep
) -> dict[str, Any]:
    """FHIR R4 Bundle: Patient, Observations, ServiceRequest, Task, handover Communication."""
    visible_referral(conn, staff, access, referral_id)
    with consults_errors():
        return referral_bundle(conn, referral_id, now=now)
