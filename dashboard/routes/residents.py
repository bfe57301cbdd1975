"""Residents' records: the list of a home's residents, one resident's page (NEWS2, open alerts,
risk tier, last night's sleep), their 24 h / 7 d chart from the rollups, and notes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from analytics import sleep_summaries
from dashboard._access import Permission, StaffIdentity
from dashboard._deps import (
    AuditDep,
    ConnDep,
    NowDep,
    PageLimit,
    PageOffset,
    RecordReader,
    WardReader,
    permit,
    require_resident,
)
from dashboard._models import AlertPublic
from dashboard._read_models import (
    ChartPublic,
    ChartWindow,
    News2Public,
    NotePublic,
    NotesPublic,
    ResidentListItem,
    ResidentsPublic,
)
from dashboard._read_store import (
    add_note,
    chart,
    latest_news2,
    list_notes,
    list_residents,
    open_alerts_of,
    resident_record,
)
from dashboard.routes.resident_analytics import SleepSummaryPublic

router = APIRouter(prefix="/residents", tags=["residents"])

NoteWriter = Annotated[StaffIdentity, Depends(permit(Permission.WRITE_NOTES))]


class ResidentPublic(BaseModel):
    resident_id: str
    display_name: str
    site_id: str
    site_name: str
    bed_label: str | None
    risk_tier: str
    risk_tier_until: datetime | None = Field(
        description="When a temporary (raised) tier ends; null when the tier is not temporary."
    )
    news2: News2Public | None
    open_alerts: list[AlertPublic]
    latest_sleep: SleepSummaryPublic | None


class NoteBody(BaseModel):
    body: str = Field(min_length=1, max_length=4000)


@router.get("")
def get_residents(
    conn: ConnDep,
    staff: WardReader,
    now: NowDep,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: PageOffset = 0,
    limit: PageLimit = 100,
) -> ResidentsPublic:
    """Residents of the user's home site(s) (`site_id` narrows it; another site gives none)."""
    sites = sorted(staff.home_site_ids if site_id is None else staff.home_site_ids & {site_id})
    rows, count = list_residents(conn, site_ids=sites, offset=offset, limit=limit, now=now)
    return ResidentsPublic(data=[ResidentListItem(**r) for r in rows], count=count)


@router.get("/{resident_id}")
def get_resident(
    resident_id: str, conn: ConnDep, staff: RecordReader, access: AuditDep, now: NowDep
) -> ResidentPublic:
    require_resident(conn, staff, access, resident_id)
    record = resident_record(conn, resident_id, now=now)
    if record is None:  # deleted between the check and the read
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no resident you can see with that id")
    nights = sleep_summaries(conn, resident_id=resident_id, limit=1)
    return ResidentPublic(
        **record,
        news2=latest_news2(conn, resident_id),
        open_alerts=[AlertPublic(**a) for a in open_alerts_of(conn, resident_id)],
        latest_sleep=SleepSummaryPublic.model_validate(nights[0]) if nights else None,
    )


@router.get("/{resident_id}/chart", response_model=ChartPublic)
def get_chart(
    resident_id: str,
    conn: ConnDep,
    staff: RecordReader,
    access: AuditDep,
    now: NowDep,
    window: ChartWindow = ChartWindow.DAY,
) -> Response:
    """The resident's vitals over the last 24 h (1-minute buckets) or 7 days (10-minute buckets),
    from the per-minute rollups only, with the alerts and findings of the window to overlay."""
    require_resident(conn, staff, access, resident_id)
    # JSON built by the database (see _read_store.chart): up to ~10,000 points.
    body = chart(conn, resident_id=resident_id, window=window, now=now)
    return Response(body, media_type="application/json")


@router.get("/{resident_id}/notes")
def get_notes(
    resident_id: str,
    conn: ConnDep,
    staff: RecordReader,
    access: AuditDep,
    offset: PageOffset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> NotesPublic:
    """Notes on the resident, newest first."""
    require_resident(conn, staff, access, resident_id)
    rows, count = list_notes(conn, resident_id=resident_id, offset=offset, limit=limit)
    return NotesPublic(data=[NotePublic(**r) for r in rows], count=count)


@router.post("/{resident_id}/notes", status_code=status.HTTP_201_CREATED)
def post_note(
    resident_id: str,
    body: NoteBody,
    conn: ConnDep,
    staff: NoteWriter,
    access: AuditDep,
    now: NowDep,
) -> NotePublic:
    """Add a note; its author is the logged-in user."""
    require_resident(conn, staff, access, resident_id)
    row = add_note(
        conn,
        resident_id=resident_id,
        author_user_id=staff.user_id,
        author=staff.username,
        body=body.body,
        at=now,
    )
    return NotePublic(**row)
