"""The care network: sites, alliances, the network view of the logged-in user's case sites,
risk tiers, follow-ups and a resident's FHIR export.

The directory (`GET /network`: sites, alliances, departments) holds no resident data and is open
to any logged-in user. The network view covers the user's case sites only; a resident's
thresholds, audit and FHIR export need the right to read that resident's record; follow-ups are
the home site's work list.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from consults import (
    ConsultsError,
    DeadlineRisk,
    NotFound,
    RiskTier,
    complete_follow_up,
    effective_thresholds,
    follow_ups,
    network_overview,
    network_view,
    resident_bundle,
    set_risk_tier,
)
from dashboard._access import Permission, StaffIdentity
from dashboard._deps import (
    AuditDep,
    Authenticated,
    ConnDep,
    NowDep,
    PageLimit,
    PageOffset,
    RecordReader,
    WardReader,
    not_found,
    permit,
    require_resident,
)
from dashboard.routes.consults import AuditTrailPublic, CaseViewer, audit_page, consults_errors

router = APIRouter(prefix="/network", tags=["network"])

TierSetter = Annotated[StaffIdentity, Depends(permit(Permission.SET_RISK_TIER))]
FollowUpCompleter = Annotated[StaffIdentity, Depends(permit(Permission.COMPLETE_FOLLOW_UPS))]


class DeadlinePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    item_id: int
    resident_id: str
    status: str
    priority: str
    from_site_id: str
    to_site_id: str
    deadline: datetime
    risk: DeadlineRisk


class NetworkViewPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    viewer_site_id: str | None
    site_ids: list[str]
    consults_by_status: dict[str, int]
    referrals_by_status: dict[str, int]
    at_risk: list[DeadlinePublic]


class RiskTierChange(BaseModel):
    tier: RiskTier
    days: float | None = Field(default=None, gt=0, le=365, description="Temporary for N days.")
    reason: str | None = Field(default=None, max_length=1000)


class FollowUpPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    task_id: int
    resident_id: str
    site_id: str
    risk_tier: RiskTier
    due_at: datetime
    status: str
    note: str | None
    completed_by: str | None
    completed_at: datetime | None


class FollowUpsPublic(BaseModel):
    data: list[FollowUpPublic]
    count: int


class FollowUpDone(BaseModel):
    note: str | None = Field(default=None, max_length=4000)


@router.get("", dependencies=[Authenticated])
def read_network(conn: ConnDep) -> dict[str, Any]:
    """Sites with tiers, alliances and members, referral routes, departments, specialists: any
    logged-in user (no resident data)."""
    return network_overview(conn)


@router.get("/view")
def read_network_view(staff: CaseViewer, conn: ConnDep, now: NowDep) -> NetworkViewPublic:
    """Counts by state and deadlines at risk, for your case sites only (a hospital: its
    alliances' members; a care home: itself; a network admin: its alliance)."""
    view = network_view(conn, staff.site_id, now=now, site_ids=staff.case_site_ids)
    return NetworkViewPublic.model_validate(view)


@router.put("/residents/{resident_id}/risk-tier")
def change_risk_tier(
    resident_id: str,
    body: RiskTierChange,
    staff: TierSetter,
    conn: ConnDep,
    access: AuditDep,
    now: NowDep,
) -> dict[str, float]:
    """Set a resident's risk tier (for good, or for `days`); returns the detector thresholds now
    in force. The follow-up schedule follows the new tier."""
    require_resident(conn, staff, access, resident_id)
    with consults_errors():
        set_risk_tier(
            conn,
            resident_id,
            body.tier,
            actor=staff.username,
            now=now,
            until=now + timedelta(days=body.days) if body.days else None,
            reason=body.reason,
        )
        return effective_thresholds(conn, resident_id, now=now)


@router.get("/residents/{resident_id}/thresholds")
def read_thresholds(
    resident_id: str, staff: RecordReader, conn: ConnDep, access: AuditDep, now: NowDep
) -> dict[str, float]:
    """Detector parameters in force: the risk tier's profile plus per-resident overrides."""
    require_resident(conn, staff, access, resident_id)
    with consults_errors():
        return effective_thresholds(conn, resident_id, now=now)


@router.get("/residents/{resident_id}/audit")
def resident_audit(
    resident_id: str,
    staff: RecordReader,
    conn: ConnDep,
    access: AuditDep,
    offset: PageOffset = 0,
    limit: PageLimit = 100,
) -> AuditTrailPublic:
    """Risk-tier, threshold and follow-up changes of one resident, oldest first."""
    require_resident(conn, staff, access, resident_id)
    return audit_page(conn, "resident", resident_id, offset=offset, limit=limit)


@router.get("/residents/{resident_id}/fhir")
def resident_fhir(
    resident_id: str, staff: RecordReader, conn: ConnDep, access: AuditDep, now: NowDep
) -> dict[str, Any]:
    """FHIR R4 Bundle: Patient and 24 h of hourly vital-sign Observations (LOINC + UCUM)."""
    require_resident(conn, staff, access, resident_id)
    with consults_errors():
        return resident_bundle(conn, resident_id, now=now)


@router.get("/follow-ups")
def list_follow_ups(
    staff: WardReader,
    conn: ConnDep,
    now: NowDep,
    due_within_hours: Annotated[float | None, Query(ge=0, le=24 * 366)] = None,
    offset: PageOffset = 0,
    limit: PageLimit = 100,
) -> FollowUpsPublic:
    """Open follow-ups of your home site, soonest first (due ones: set the window)."""
    due = now + timedelta(hours=due_within_hours) if due_within_hours is not None else None
    tasks = follow_ups(conn, site_ids=staff.home_site_ids, due_before=due)
    return FollowUpsPublic(
        data=[FollowUpPublic.model_validate(t) for t in tasks[offset : offset + limit]],
        count=len(tasks),
    )


@router.post("/follow-ups/{task_id}/complete")
def finish_follow_up(
    task_id: int,
    body: FollowUpDone,
    staff: FollowUpCompleter,
    conn: ConnDep,
    access: AuditDep,
    now: NowDep,
) -> FollowUpPublic:
    """Record a follow-up of your home site as done; the next one is scheduled on the
    resident's tier."""
    try:
        task = complete_follow_up(
            conn,
            task_id,
            actor=staff.username,
            now=now,
            note=body.note,
            site_ids=staff.home_site_ids,
        )
    except NotFound as exc:  # another site's task answers like one that does not exist
        raise not_found("follow-up task") from exc
    except ConsultsError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    access.subject(resident_id=task.resident_id, site_id=task.site_id)
    return FollowUpPublic.model_validate(task)
