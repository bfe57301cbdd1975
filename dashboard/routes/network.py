"""The care network: sites, alliances, the alliance-scoped network view, risk tiers, follow-ups
and a resident's FHIR export. `viewer_site_id` stands in for the logged-in user until login."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from consults import (
    DeadlineRisk,
    RiskTier,
    audit_trail,
    complete_follow_up,
    effective_thresholds,
    follow_ups,
    network_overview,
    network_view,
    resident_bundle,
    set_risk_tier,
    sites_visible_to,
)
from dashboard._deps import Authenticated, ConnDep
from dashboard.routes.consults import Actor, AuditPublic, NowDep, ViewerSite, consults_errors

router = APIRouter(prefix="/network", tags=["network"], dependencies=[Authenticated])


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

    viewer_site_id: str
    site_ids: list[str]
    consults_by_status: dict[str, int]
    referrals_by_status: dict[str, int]
    at_risk: list[DeadlinePublic]


class RiskTierChange(BaseModel):
    tier: RiskTier
    actor: Actor
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


class FollowUpDone(BaseModel):
    actor: Actor
    note: str | None = Field(default=None, max_length=4000)


@router.get("")
def read_network(conn: ConnDep) -> dict[str, Any]:
    """Sites with tiers, alliances and members, referral routes, departments, specialists."""
    return network_overview(conn)


@router.get("/view")
def read_network_view(conn: ConnDep, viewer_site_id: ViewerSite, now: NowDep) -> NetworkViewPublic:
    """Counts by state and deadlines at risk, for the viewer's alliance member sites only."""
    with consults_errors():
        return NetworkViewPublic.model_validate(network_view(conn, viewer_site_id, now=now))


@router.put("/residents/{resident_id}/risk-tier")
def change_risk_tier(
    resident_id: str, body: RiskTierChange, conn: ConnDep, now: NowDep
) -> dict[str, float]:
    """Set a resident's risk tier (for good, or for `days`); returns the detector thresholds now
    in force. The follow-up schedule follows the new tier."""
    with consults_errors():
        set_risk_tier(
            conn,
            resident_id,
            body.tier,
            actor=body.actor,
            now=now,
            until=now + timedelta(days=body.days) if body.days else None,
            reason=body.reason,
        )
        return effective_thresholds(conn, resident_id, now=now)


@router.get("/residents/{resident_id}/thresholds")
def read_thresholds(resident_id: str, conn: ConnDep, now: NowDep) -> dict[str, float]:
    """Detector parameters in force: the risk tier's profile plus per-resident overrides."""
    with consults_errors():
        return effective_thresholds(conn, resident_id, now=now)


@router.get("/residents/{resident_id}/audit")
def resident_audit(resident_id: str, conn: ConnDep) -> list[AuditPublic]:
    return [AuditPublic.model_validate(e) for e in audit_trail(conn, "resident", resident_id)]


@router.get("/residents/{resident_id}/fhir")
def resident_fhir(resident_id: str, conn: ConnDep, now: NowDep) -> dict[str, Any]:
    """FHIR R4 Bundle: Patient and 24 h of hourly vital-sign Observations (LOINC + UCUM)."""
    with consults_errors():
        return resident_bundle(conn, resident_id, now=now)


@router.get("/follow-ups")
def list_follow_ups(
    conn: ConnDep,
    viewer_site_id: ViewerSite,
    now: NowDep,
    due_within_hours: Annotated[float | None, Query(ge=0, le=24 * 366)] = None,
) -> list[FollowUpPublic]:
    """Open follow-ups of the viewer's alliance sites, soonest first (due ones: set the window)."""
    with consults_errors():
        sites = sites_visible_to(conn, viewer_site_id)
        due = now + timedelta(hours=due_within_hours) if due_within_hours is not None else None
        return [
            FollowUpPublic.model_validate(t)
            for t in follow_ups(conn, site_ids=sites, due_before=due)
        ]


@router.post("/follow-ups/{task_id}/complete")
def finish_follow_up(
    task_id: int, body: FollowUpDone, conn: ConnDep, now: NowDep
) -> FollowUpPublic:
    """Record a follow-up as done; the next one is scheduled on the resident's tier."""
    with consults_errors():
        task = complete_follow_up(conn, task_id, actor=body.actor, now=now, note=body.note)
    return FollowUpPublic.model_validate(task)
