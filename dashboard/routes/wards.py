"""Sites and the ward overview: one tile per bed, also as a live Server-Sent Events stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

import anyio
import psycopg
from fastapi import APIRouter, Query, Request, Response
from psycopg_pool import ConnectionPool
from sse_starlette import EventSourceResponse, ServerSentEvent

from alerts import EventCursor, read_events, tail_start
from dashboard._access import StaffIdentity
from dashboard._deps import (
    AuditDep,
    ConnDep,
    NowDep,
    StaffDep,
    WardReader,
    not_found,
)
from dashboard._read_models import SitePublic, WardOverview
from dashboard._read_store import site_name, visible_sites, ward_overview

router = APIRouter(tags=["wards"])


# The stream sends the overview every 3 s (the dashboard contract), and at once when an alert
# event of the site arrives; between sends it looks for alert events every half second.
WARD_REFRESH_S = 3.0
_EVENT_POLL_S = 0.5


@router.get("/sites")
def list_sites(conn: ConnDep, staff: StaffDep) -> list[SitePublic]:
    """The sites the logged-in user may see: their home site(s) and the sites of their cases."""
    sites = visible_sites(conn, staff.home_site_ids | staff.case_site_ids)
    return [SitePublic(**s) for s in sites]


def _ward_site(
    conn: psycopg.Connection, staff: StaffIdentity, access: AuditDep, site_id: str
) -> str:
    access.subject(site_id=site_id)
    name = site_name(conn, site_id) if staff.sees_home(site_id) else None
    if name is None:
        raise not_found("site")
    return name


@router.get("/sites/{site_id}/ward", response_model=WardOverview)
def get_ward(
    site_id: str, conn: ConnDep, staff: WardReader, access: AuditDep, now: NowDep
) -> Response:
    """One tile per bed, ordered by bed label: presence, vitals from the latest per-minute
    rollups, last BP, the most severe open clinical alert and, apart from it, the data-quality
    state."""
    name = _ward_site(conn, staff, access, site_id)
    overview = ward_overview(conn, site_id=site_id, name=name, now=now)
    # Serialised once here: the model was validated when built, and a 100-bed ward is big
    # enough that FastAPI's second validation pass shows in the latency.
    return Response(overview.model_dump_json(), media_type="application/json")


@router.get("/sites/{site_id}/ward/stream", response_class=EventSourceResponse)
async def stream_ward(
    request: Request,
    site_id: str,
    staff: WardReader,
    access: AuditDep,
    now: NowDep,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> EventSourceResponse:
    """Live ward overview (SSE): an event ``ward`` with the overview at once, then every 3 s, and
    immediately when an alert event of this site arrives. `limit` ends the stream after that
    many events."""
    pool: ConnectionPool = request.app.state.pool

    def check() -> str:
        with pool.connection() as conn:
            return _ward_site(conn, staff, access, site_id)

    name = await anyio.to_thread.run_sync(check)
    # The injected clock at the request, advanced by real time for later events.
    offset = now - datetime.now(UTC)
    return EventSourceResponse(
        _ward_events(pool, site_id, name, offset=offset, limit=limit), ping=15
    )


async def _ward_events(
    pool: ConnectionPool, site_id: str, name: str, *, offset: timedelta, limit: int | None
) -> AsyncIterator[ServerSentEvent]:
    def overview() -> str:
        with pool.connection() as conn:
            ward = ward_overview(conn, site_id=site_id, name=name, now=datetime.now(UTC) + offset)
        return ward.model_dump_json()

    def start() -> EventCursor:
        with pool.connection() as conn:
            return tail_start(conn)

    def site_event_after(cursor: EventCursor) -> tuple[EventCursor, bool]:
        with pool.connection() as conn:
            events = read_events(conn, after=cursor, limit=500)
        if not events:
            return cursor, False
        last = events[-1]
        return EventCursor(last.tx, last.seq), any(e.site_id == site_id for e in events)

    cursor = await anyio.to_thread.run_sync(start)
    sent = 0
    while True:
        data = await anyio.to_thread.run_sync(overview)
        yield ServerSentEvent(data=data, event="ward")
        sent += 1
        if limit is not None and sent >= limit:
            return
        waited = 0.0
        while waited < WARD_REFRESH_S:
            await anyio.sleep(_EVENT_POLL_S)
            waited += _EVENT_POLL_S
            cursor, changed = await anyio.to_thread.run_sync(site_event_after, cursor)
            if changed:
                break
