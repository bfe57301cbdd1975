"""Referrals up (routine, urgent, green channel) and back-referrals down, with FHIR export.

Callers name themselves (`actor`) and list endpoints take `viewer_site_id` until login exists.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from consults import (
    ReferralPriority,
    RehabPlan,
    RiskTier,
    TaskStatus,
    audit_trail,
    back_refer,
    get_referral,
    list_referrals,
    referral_bundle,
    referrals_for_alert,
    request_referral,
    sites_visible_to,
    transition_referral,
)
from dashboard._deps import Authenticated, ConnDep
from dashboard.routes.consults import (
    Actor,
    AuditPublic,
    NowDep,
    StatusChange,
    ViewerSite,
    consults_errors,
)

router = APIRouter(prefix="/referrals", tags=["referrals"], dependencies=[Authenticated])


class ReferralCreate(BaseModel):
    resident_id: str = Field(min_length=1, max_length=64)
    priority: ReferralPriority
    reason: str = Field(min_length=1, max_length=4000)
    requested_by: Actor
    to_site_id: str | None = Field(default=None, max_length=64)
    department_id: str | None = Field(default=None, max_length=64)
    notes: str = Field(default="", max_length=8000)
    alert_ids: list[int] = Field(default_factory=list, max_length=50)


class BackReferralCreate(BaseModel):
    actor: Actor
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


@router.post("", status_code=status.HTTP_201_CREATED)
def create_referral(body: ReferralCreate, conn: ConnDep, now: NowDep) -> ReferralDetail:
    """Refer up; the handover packet (summary, vitals, alerts, notes) is built and stored."""
    with consults_errors():
        referral = request_referral(
            conn,
            resident_id=body.resident_id,
            priority=body.priority,
            reason=body.reason,
            requested_by=body.requested_by,
            now=now,
            to_site_id=body.to_site_id,
            department_id=body.department_id,
            notes=body.notes,
            alert_ids=body.alert_ids,
        )
    return ReferralDetail.model_validate(referral)


@router.get("")
def list_referrals_route(
    conn: ConnDep,
    viewer_site_id: ViewerSite,
    to_site_id: Annotated[str | None, Query(max_length=64)] = None,
    status_: Annotated[TaskStatus | None, Query(alias="status")] = None,
    resident_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ReferralsPublic:
    """Referrals of the viewer's alliance member sites, newest first."""
    with consults_errors():
        rows, count = list_referrals(
            conn,
            site_ids=sites_visible_to(conn, viewer_site_id),
            to_site_id=to_site_id,
            status=status_,
            resident_id=resident_id,
            limit=limit,
            offset=offset,
        )
    return ReferralsPublic(data=[ReferralPublic.model_validate(r) for r in rows], count=count)


@router.get("/by-alert/{alert_id}")
def referrals_of_alert(alert_id: int, conn: ConnDep) -> list[int]:
    """The referrals an alert led to (a referral's own alerts are in `alert_ids`)."""
    return referrals_for_alert(conn, alert_id)


@router.get("/{referral_id}")
def read_referral(referral_id: int, conn: ConnDep) -> ReferralDetail:
    with consults_errors():
        return ReferralDetail.model_validate(get_referral(conn, referral_id))


@router.post("/{referral_id}/status")
def change_referral_status(
    referral_id: int, body: StatusChange, conn: ConnDep, now: NowDep
) -> ReferralPublic:
    """Send a proposal, accept, reject, start, complete or cancel (409 lists allowed moves)."""
    with consults_errors():
        referral = transition_referral(
            conn, referral_id, body.status, actor=body.actor, now=now, reason=body.reason
        )
    return ReferralPublic.model_validate(referral)


@router.post("/{referral_id}/back-referral", status_code=status.HTTP_201_CREATED)
def create_back_referral(
    referral_id: int, body: BackReferralCreate, conn: ConnDep, now: NowDep
) -> ReferralDetail:
    """The hospital refers the resident back down with a rehabilitation plan."""
    plan = RehabPlan(
        summary=body.summary,
        goals=tuple(body.goals),
        instructions=body.instructions,
        raise_risk_tier_to=body.raise_risk_tier_to,
        risk_period=timedelta(days=body.risk_days),
        thresholds=body.thresholds,
        thresholds_period=timedelta(days=body.thresholds_days),
    )
    with consults_errors():
        referral = back_refer(
            conn, referral_id, plan, actor=body.actor, now=now, to_site_id=body.to_site_id
        )
    return ReferralDetail.model_validate(referral)


@router.get("/{referral_id}/audit")
def referral_audit(referral_id: int, conn: ConnDep) -> list[AuditPublic]:
    with consults_errors():
        get_referral(conn, referral_id)
    return [AuditPublic.model_validate(e) for e in audit_trail(conn, "referral", referral_id)]


@router.get("/{referral_id}/fhir")
def referral_fhir(referral_id: int, conn: ConnDep, now: NowDep) -> dict[str, Any]:
    """FHIR R4 Bundle: Patient, Observations, ServiceRequest, Task, handover Communication."""
    with consults_errors():
        return referral_bundle(conn, referral_id, now=now)
