"""Remote consults: request (from an alert or a resident page), specialist inbox, reply, FHIR.

Who may do what (issue 10): a consult is seen by staff with VIEW_CASES whose case sites include
its requesting or target site, and by no one else (404, as for a consult that does not exist).
The requesting side (a resident's home site, REQUEST_CONSULT) asks, sends drafts and cancels;
the consulted site (ANSWER_CASES) accepts, rejects, starts and replies. The acting person is the
logged-in user; the audit trail records their username.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from consults import (
    Advice,
    AdviceAction,
    Consult,
    ConsultsError,
    ConsultUrgency,
    IllegalTransition,
    NotFound,
    ReferralPriority,
    TaskStatus,
    answer_consult,
    audit_count,
    audit_trail,
    consult_bundle,
    consults_for_alert,
    get_consult,
    list_consults,
    request_consult,
    transition_consult,
)
from dashboard._access import Permission, StaffIdentity
from dashboard._deps import (
    AccessRecord,
    AuditDep,
    ConnDep,
    NowDep,
    PageLimit,
    PageOffset,
    get_now,
    not_found,
    permit,
)

__all__ = [
    "ANSWERING_MOVES",
    "AuditPublic",
    "AuditTrailPublic",
    "CaseAnswerer",
    "CaseViewer",
    "NowDep",
    "StatusChange",
    "audit_page",
    "consults_errors",
    "get_now",
    "require_case_alert",
    "require_home_resident",
    "require_side",
    "router",
    "visible_consult",
]

router = APIRouter(prefix="/consults", tags=["consults"])

CaseViewer = Annotated[StaffIdentity, Depends(permit(Permission.VIEW_CASES))]
ConsultRequester = Annotated[StaffIdentity, Depends(permit(Permission.REQUEST_CONSULT))]
CaseAnswerer = Annotated[StaffIdentity, Depends(permit(Permission.ANSWER_CASES))]

# Moves made by the site a case is addressed to; the others (send a draft, cancel) belong to
# the side that asked.
ANSWERING_MOVES = frozenset(
    {TaskStatus.ACCEPTED, TaskStatus.REJECTED, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED}
)


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


def require_home_resident(
    conn: psycopg.Connection, staff: StaffIdentity, access: AccessRecord, resident_id: str
) -> str:
    """The resident's site when it is one of the user's home sites (the side that may ask for a
    consult or a referral); 404 otherwise, as for a resident that does not exist."""
    access.subject(resident_id=resident_id)
    row = conn.execute(
        "SELECT site_id FROM residents WHERE resident_id = %s", (resident_id,)
    ).fetchone()
    if row is None or not staff.sees_home(row[0]):
        raise not_found("resident")
    access.subject(site_id=row[0])
    return str(row[0])


def require_side(
    staff: StaffIdentity, permission: Permission, site_id: str, *, side: str, action: str
) -> None:
    """The role must hold `permission` (403 naming the role) and the user must work at
    `site_id`, the side of the case that may do this (403 naming that side)."""
    permit(permission)(staff)
    if staff.site_id != site_id:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"only staff of the {side} ({site_id}) may {action}",
        )


def visible_consult(
    conn: psycopg.Connection,
    staff: StaffIdentity,
    access: AccessRecord,
    consult_id: int,
    *,
    lock: bool = False,
) -> Consult:
    """The consult when one of its sites is among the user's case sites, else 404."""
    try:
        consult = get_consult(conn, consult_id, lock=lock)
    except NotFound as exc:
        raise not_found("consult") from exc
    if not staff.sees_case(consult.requesting_site_id, consult.target_site_id):
        raise not_found("consult")
    access.subject(resident_id=consult.resident_id, site_id=consult.requesting_site_id)
    return consult


class ConsultCreate(BaseModel):
    resident_id: str | None = Field(default=None, max_length=64)
    alert_id: int | None = None
    question: str = Field(min_length=1, max_length=4000)
    urgency: ConsultUrgency = ConsultUrgency.ROUTINE
    target_site_id: str | None = Field(default=None, max_length=64)
    department_id: str | None = Field(default=None, max_length=64)
    specialist_id: str | None = Field(default=None, max_length=64)


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
    reason: str | None = Field(default=None, max_length=1000)


class ConsultReply(BaseModel):
    advice: str = Field(min_length=1, max_length=4000)
    action: AdviceAction
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


class AuditTrailPublic(BaseModel):
    data: list[AuditPublic]
    count: int


def audit_page(
    conn: psycopg.Connection, entity: str, entity_id: str | int, *, offset: int, limit: int
) -> AuditTrailPublic:
    """One page of a consult's, referral's or resident's audit trail, oldest first."""
    rows = audit_trail(conn, entity, entity_id, offset=offset, limit=limit)
    return AuditTrailPublic(
        data=[AuditPublic.model_validate(e) for e in rows],
        count=audit_count(conn, entity, entity_id),
    )


def _alert_resident(conn: psycopg.Connection, alert_id: int) -> str:
    row = conn.execute("SELECT resident_id FROM alerts WHERE alert_id = %s", (alert_id,)).fetchone()
    if row is None:
        raise not_found("alert")
    return str(row[0])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_consult(
    body: ConsultCreate, staff: ConsultRequester, conn: ConnDep, access: AuditDep, now: NowDep
) -> ConsultDetail:
    """Ask a specialist about a resident of your site (or an alert's resident); the request
    carries a 24 h snapshot (vitals, charts, alerts, findings)."""
    if body.resident_id is None and body.alert_id is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give resident_id or alert_id")
    if body.alert_id is None:
        assert body.resident_id is not None
        resident_id = body.resident_id
    else:
        resident_id = _alert_resident(conn, body.alert_id)
        if body.resident_id not in (None, resident_id):
            require_home_resident(conn, staff, access, resident_id)  # 404 before naming them
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"alert {body.alert_id} is about resident {resident_id!r}",
            )
    require_home_resident(conn, staff, access, resident_id)  # 404 for another site's alert
    with consults_errors():
        consult = request_consult(
            conn,
            resident_id=resident_id,
            alert_id=body.alert_id,
            question=body.question,
            urgency=body.urgency,
            requested_by=staff.username,
            now=now,
            target_site_id=body.target_site_id,
            department_id=body.department_id,
            specialist_id=body.specialist_id,
        )
    return ConsultDetail.model_validate(consult)


def require_case_alert(
    conn: psycopg.Connection, staff: StaffIdentity, access: AccessRecord, alert_id: int
) -> None:
    """404 unless the alert's site is one of the user's case sites (cases are linked to it)."""
    row = conn.execute(
        "SELECT resident_id, site_id FROM alerts WHERE alert_id = %s", (alert_id,)
    ).fetchone()
    if row is None or not staff.sees_case(row[1]):
        raise not_found("alert")
    access.subject(resident_id=row[0], site_id=row[1])


@router.get("/by-alert/{alert_id}")
def consults_of_alert(
    alert_id: int, staff: CaseViewer, conn: ConnDep, access: AuditDep
) -> list[int]:
    """The consults an alert of your case sites led to (a consult's alert is in `alert_id`)."""
    require_case_alert(conn, staff, access, alert_id)
    visible = []
    for consult_id in consults_for_alert(conn, alert_id):
        consult = get_consult(conn, consult_id)
        if staff.sees_case(consult.requesting_site_id, consult.target_site_id):
            visible.append(consult_id)
    return visible


@router.get("")
def list_consults_route(
    staff: CaseViewer,
    conn: ConnDep,
    access: AuditDep,
    target_site_id: Annotated[str | None, Query(max_length=64)] = None,
    specialist_id: Annotated[str | None, Query(max_length=64)] = None,
    status_: Annotated[TaskStatus | None, Query(alias="status")] = None,
    resident_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: PageOffset = 0,
    limit: PageLimit = 100,
) -> ConsultsPublic:
    """The inbox: consults of your case sites (a hospital: its alliances' members; a care home:
    its own), soonest deadline first. The filters narrow that set, never widen it."""
    if resident_id is not None:
        access.subject(resident_id=resident_id)
    with consults_errors():
        rows, count = list_consults(
            conn,
            site_ids=staff.case_site_ids,
            target_site_id=target_site_id,
            specialist_id=specialist_id,
            status=status_,
            resident_id=resident_id,
            limit=limit,
            offset=offset,
        )
    return ConsultsPublic(data=[ConsultPublic.model_validate(r) for r in rows], count=count)


@router.get("/{consult_id}")
def read_consult(
    consult_id: int, staff: CaseViewer, conn: ConnDep, access: AuditDep
) -> ConsultDetail:
    return ConsultDetail.model_validate(visible_consult(conn, staff, access, consult_id))


@router.post("/{consult_id}/status")
def change_consult_status(
    consult_id: int,
    body: StatusChange,
    staff: CaseViewer,
    conn: ConnDep,
    access: AuditDep,
    now: NowDep,
) -> ConsultPublic:
    """Accept, reject or start (the consulted site), send a draft or cancel (the requesting
    site); refused moves answer 409 with the allowed ones."""
    with conn.transaction():
        consult = visible_consult(conn, staff, access, consult_id, lock=True)
        if body.status in ANSWERING_MOVES:
            require_side(
                staff,
                Permission.ANSWER_CASES,
                consult.target_site_id,
                side="consulted site",
                action=f"move a consult to '{body.status}'",
            )
        else:
            require_side(
                staff,
                Permission.REQUEST_CONSULT,
                consult.requesting_site_id,
                side="requesting site",
                action=f"move a consult to '{body.status}'",
            )
        with consults_errors():
            moved = transition_consult(
                conn, consult_id, body.status, actor=staff.username, now=now, reason=body.reason
            )
    return ConsultPublic.model_validate(moved)


@router.post("/{consult_id}/reply")
def reply_to_consult(
    consult_id: int,
    body: ConsultReply,
    staff: CaseAnswerer,
    conn: ConnDep,
    access: AuditDep,
    now: NowDep,
) -> ConsultReplyPublic:
    """The consulted site's advice: keep monitoring, change thresholds, or start a referral."""
    advice = Advice(
        text=body.advice,
        action=body.action,
        thresholds=body.thresholds,
        thresholds_period=timedelta(days=body.thresholds_days) if body.thresholds_days else None,
        referral_priority=body.referral_priority,
    )
    with conn.transaction():
        consult = visible_consult(conn, staff, access, consult_id, lock=True)
        require_side(
            staff,
            Permission.ANSWER_CASES,
            consult.target_site_id,
            side="consulted site",
            action="reply to this consult",
        )
        with consults_errors():
            answered, referral = answer_consult(
                conn, consult_id, advice, actor=staff.username, now=now
            )
    return ConsultReplyPublic(
        consult=ConsultPublic.model_validate(answered),
        referral_id=referral.referral_id if referral else None,
    )


@router.get("/{consult_id}/audit")
def consult_audit(
    consult_id: int,
    staff: CaseViewer,
    conn: ConnDep,
    access: AuditDep,
    offset: PageOffset = 0,
    limit: PageLimit = 100,
) -> AuditTrailPublic:
    visible_consult(conn, staff, access, consult_id)
    return audit_page(conn, "consult", consult_id, offset=offset, limit=limit)


@router.get("/{consult_id}/fhir")
def consult_fhir(
    consult_id: int, staff: CaseViewer, conn: ConnDep, access: AuditDep, now: NowDep
) -> dict[str, Any]:
    """FHIR R4 Bundle: Patient, Observations, ServiceRequest, Task, Communications."""
    visible_consult(conn, staff, access, consult_id)
    with consults_errors():
        return consult_bundle(conn, consult_id, now=now)
