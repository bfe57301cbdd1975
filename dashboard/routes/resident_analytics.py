"""A resident's analytics: nightly sleep summaries and detector overrides with their audit trail.

Overrides are a clinician's per-resident detector parameters (`<detector>.<parameter>`); every
change is audited under the logged-in user's username. Reading needs the right to read the
resident's record (their home site's ward staff, or a site a consult or referral of theirs is
addressed to); changing an override needs OVERRIDE_THRESHOLDS as well. Consults' time-bounded
advice lives under `/network/.../thresholds`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from analytics import (
    clear_detector_override,
    detector_override_audit,
    detector_overrides,
    set_detector_override,
    sleep_summaries,
)
from dashboard._access import Permission, StaffIdentity
from dashboard._deps import AuditDep, ConnDep, NowDep, RecordReader, permit, require_resident

router = APIRouter(prefix="/residents", tags=["resident analytics"])

OverrideSetter = Annotated[StaffIdentity, Depends(permit(Permission.OVERRIDE_THRESHOLDS))]


class SleepSummaryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    resident_id: str
    night: date
    time_in_bed_s: float
    bed_entry: datetime | None
    sleep_onset: datetime | None
    wake_time: datetime | None
    final_exit: datetime | None
    total_sleep_s: float
    sleep_efficiency: float | None
    sleep_latency_s: float | None
    awakenings: int
    bed_exits: int
    hr_asleep_mean: float | None
    rr_asleep_mean: float | None
    sleep_source: str
    coverage: float
    compared_with: dict[str, dict[str, Any]]


class SleepSummariesPublic(BaseModel):
    data: list[SleepSummaryPublic]
    count: int


class OverridePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    parameter: str
    value: float
    set_by: str
    reason: str
    set_at: datetime


class OverridesPublic(BaseModel):
    data: list[OverridePublic]
    count: int


class OverrideSet(BaseModel):
    value: float
    reason: str = Field(min_length=1, max_length=1000)


class AuditPublic(BaseModel):
    parameter: str
    action: str
    old_value: float | None
    new_value: float | None
    changed_by: str
    reason: str
    changed_at: datetime


class AuditListPublic(BaseModel):
    data: list[AuditPublic]
    count: int


@router.get("/{resident_id}/sleep")
def list_sleep(
    resident_id: str,
    staff: RecordReader,
    conn: ConnDep,
    access: AuditDep,
    limit: Annotated[int, Query(ge=1, le=90)] = 14,
) -> SleepSummariesPublic:
    """Nightly sleep summaries, newest first, each compared with the resident's recent nights."""
    require_resident(conn, staff, access, resident_id)
    nights = sleep_summaries(conn, resident_id=resident_id, limit=limit)
    data = [SleepSummaryPublic.model_validate(n) for n in nights]
    return SleepSummariesPublic(data=data, count=len(data))


def _overrides(conn: psycopg.Connection, resident_id: str) -> OverridesPublic:
    data = [
        OverridePublic.model_validate(o) for o in detector_overrides(conn, resident_id=resident_id)
    ]
    return OverridesPublic(data=data, count=len(data))


@router.get("/{resident_id}/detector-overrides")
def list_overrides(
    resident_id: str, staff: RecordReader, conn: ConnDep, access: AuditDep
) -> OverridesPublic:
    require_resident(conn, staff, access, resident_id)
    return _overrides(conn, resident_id)


@router.put("/{resident_id}/detector-overrides/{parameter}")
def put_override(
    resident_id: str,
    parameter: str,
    body: OverrideSet,
    staff: OverrideSetter,
    conn: ConnDep,
    access: AuditDep,
    now: NowDep,
) -> OverridesPublic:
    """Set one detector parameter for this resident (validated against its declared range)."""
    require_resident(conn, staff, access, resident_id)
    try:
        set_detector_override(
            conn,
            resident_id=resident_id,
            parameter=parameter,
            value=body.value,
            clinician=staff.username,
            reason=body.reason,
            at=now,
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return _overrides(conn, resident_id)


@router.delete("/{resident_id}/detector-overrides/{parameter}")
def delete_override(
    resident_id: str,
    parameter: str,
    staff: OverrideSetter,
    conn: ConnDep,
    access: AuditDep,
    now: NowDep,
    reason: Annotated[str, Query(min_length=1, max_length=1000)],
) -> OverridesPublic:
    require_resident(conn, staff, access, resident_id)
    cleared = clear_detector_override(
        conn,
        resident_id=resident_id,
        parameter=parameter,
        clinician=staff.username,
        reason=reason,
        at=now,
    )
    if not cleared:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no override of {parameter!r}")
    return _overrides(conn, resident_id)


@router.get("/{resident_id}/detector-overrides/audit")
def list_override_audit(
    resident_id: str, staff: RecordReader, conn: ConnDep, access: AuditDep
) -> AuditListPublic:
    require_resident(conn, staff, access, resident_id)
    data = [
        AuditPublic.model_validate(a)
        for a in detector_override_audit(conn, resident_id=resident_id)
    ]
    return AuditListPublic(data=data, count=len(data))
