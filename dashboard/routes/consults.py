"""Remote consults: request (from an alert or a resident page), specialist inbox, reply, FHIR.

Until login and roles exist (dashboard issue), callers name themselves (`actor`, `requested_by`)
and list endpoints take the viewer's site explicitly (`viewer_site_id`); both are temporary.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from consults import (
    Advice,
    AdviceAction,
    ConsultsError,
    ConsultUrgency,
    IllegalTransition,
    NotFound,
    ReferralPriority,
    TaskStatus,
    answer_consult,
    audit_trail,
    consult_bundle,
    consults_for_alert,
    get_consult,
    list_consults,
    request_consult,
    sites_visible_to,
    transition_consult,
)
from dashboard._deps import Authenticated, ConnDep

router = APIRouter(prefix="/consults", tags=["consults"], dependencies=[Authenticated])


def get_now() -> datetime:
    """The request's clock (tests override this dependency with a fake clock)."""
    return datetime.now(UTC)


NowDep = Annotated[datetime, Depends(get_now)]
ViewerSite = Annotated[
    str,
    Query(
        max_length=64,
        description="The viewing staff member's site (temporary: login and roles replace it).",
    ),
]
Actor = Annotated[str, Field(min_length=1, max_length=128)]


@contextmanager
def consults_errors() -> Iterator[None]:
    """Domain errors as HTTP answers: 404 unknown, 409 refused transition, 422 not allowed."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except IllegalTransition as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            {"message": str(exc), "current": exc.current, "allowed": list(exc.allowed)},
        ) from exc
    except ConsultsError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


class ConsultCreate(BaseModel):
    resident_id: str | None = Field(default=None, max_length=64)
    alert_id: int | None = None
    question: str = Field(min_length=1, max_length=4000)
    urgency: ConsultUrgency = ConsultUrgency.ROUTINE
    target_site_id: str | None = Field(default=None, max_length=64)
    department_id: str | None = Field(default=None, max_length=64)
    specialist_id: str | None = Field(default=None, max_length=64)
    requested_by: Actor


class ConsultPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    consult_id: int
    resident_id: str
    requesting_site_id: str
    target_site_id: str
    department_id: str | None
    specialist_id: str | None
    alert_id: int | None
    urgency: ConsultUrgency
    status: TaskStatus
    question: str
    requested_by: str
    requested_at: datetime
    respond_by: datetime
    advice: str | None
    advice_action: AdviceAction | None
    advice_detail: dict[str, Any] | None
    answered_by: str | None
    answered_at: datetime | None
    updated_at: datetime


class ConsultDetail(ConsultPublic):
    snapshot: dict[str, Any]


class ConsultsPublic(BaseModel):
    data: list[ConsultPublic]
    count: int


class StatusChange(BaseModel):
    status: TaskStatus
    actor: Actor
    reason: str | None = Field(default=None, max_length=1000)


class ConsultReply(BaseModel):
    advice: str = Field(min_length=1, max_length=4000)
    action: AdviceAction
    actor: Actor
    thresholds: dict[str, float] | None = None
    thresholds_days: float | None = Field(default=14, gt=0, le=365)
    referral_priority: ReferralPriority = ReferralPriority.URGENT


class ConsultReplyPublic(BaseModel):
    consult: ConsultPublic
    referral_id: int | None


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    audit_id: int
    action: str
    from_status: str | None
    to_status: str | None
    actor: str
    at: datetime
    detail: dict[str, Any]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_consult(body: ConsultCreate, conn: ConnDep, now: NowDep) -> ConsultDetail:
    """Ask a specialist; the request carries a 24 h snapshot (vitals, charts, alerts, findings)."""
    if body.resident_id is None and body.alert_id is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give resident_id or alert_id")
    with consults_errors():
        consult = request_consult(
            conn,
            resident_id=body.resident_id or "",
            alert_id=body.alert_id,
            question=body.question,
            urgency=body.urgency,
            requested_by=body.requested_by,
            now=now,
            target_site_id=body.target_site_id,
            department_id=body.department_id,
            specialist_id=body.specialist_id,
        )
    return ConsultDetail.model_validate(consult)


@router.get("/by-alert/{alert_id}")
def consults_of_alert(alert_id: int, conn: ConnDep) -> list[int]:
    """The consults an alert led to (a consult's own alert is in `alert_id`)."""
    return consults_for_alert(conn, alert_id)


@router.get("")
def list_consults_route(
    conn: ConnDep,
    viewer_site_id: ViewerSite,
    target_site_id: Annotated[str | None, Query(max_length=64)] = None,
    specialist_id: Annotated[str | None, Query(max_length=64)] = None,
    status_: Annotated[TaskStatus | None, Query(alias="status")] = None,
    resident_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ConsultsPublic:
    """The inbox: consults the viewer's alliance may see, soonest deadline first."""
    with consults_errors():
        rows, count = list_consults(
            conn,
            site_ids=sites_visible_to(conn, viewer_site_id),
            target_site_id=target_site_id,
            specialist_id=specialist_id,
            status=status_,
            resident_id=resident_id,
            limit=limit,
            offset=offset,
        )
    return ConsultsPublic(data=[ConsultPublic.model_validate(r) for r in rows], count=count)


@router.get("/{consult_id}")
def read_consult(consult_id: int, conn: ConnDep) -> ConsultDetail:
    with consults_errors():
        return ConsultDetail.model_validate(get_consult(conn, consult_id))


@router.post("/{consult_id}/status")
def change_consult_status(
    consult_id: int, body: StatusChange, conn: ConnDep, now: NowDep
) -> ConsultPublic:
    """Accept, reject, start or cancel; refused moves answer 409 with the allowed ones."""
    with consults_errors():
        consult = transition_consult(
            conn, consult_id, body.status, actor=body.actor, now=now, reason=body.reason
        )
    return ConsultPublic.model_validate(consult)


@router.post("/{consult_id}/reply")
def reply_to_consult(
    consult_id: int, body: ConsultReply, conn: ConnDep, now: NowDep
) -> ConsultReplyPublic:
    """The specialist's advice: keep monitoring, change thresholds, or start a referral."""
    advice = Advice(
        text=body.advice,
        action=body.action,
        thresholds=body.thresholds,
        thresholds_period=timedelta(days=body.thresholds_days) if body.thresholds_days else None,
        referral_priority=body.referral_priority,
    )
    with consults_errors():
        consult, referral = answer_consult(conn, consult_id, advice, actor=body.actor, now=now)
    return ConsultReplyPublic(
        consult=ConsultPublic.model_validate(consult),
        referral_id=referral.referral_id if referral else None,
    )


@router.get("/{consult_id}/audit")
def consult_audit(consult_id: int, conn: ConnDep) -> list[AuditPublic]:
    with consults_errors():
        get_consult(conn, consult_id)
    return [AuditPublic.model_validate(e) for e in audit_trail(conn, "consult", consult_id)]


@router.get("/{consult_id}/fhir")
def consult_fhir(consult_id: int, conn: ConnDep, now: NowDep) -> dict[str, Any]:
    """FHIR R4 Bundle: Patient, Observations, ServiceRequest, Task, Communications."""
    with consults_errors():
        return consult_bundle(conn, consult_id, now=now)
