"""Alerts of the user's home sites: list, detail, audit, outbox events, the live stream (all
VIEW_WARD), and acknowledge/resolve/escalate (ACT_ON_ALERTS), acting as the logged-in user.

An alert of a site the user does not work at answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

import anyio
import psycopg
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from psycopg.rows import class_row, dict_row
from psycopg_pool import ConnectionPool
from sse_starlette import EventSourceResponse, ServerSentEvent

from alerts import (
    Alert,
    AlertError,
    AlertEvent,
    AlertNotFound,
    AlertState,
    EventCursor,
    SubscriberFilter,
    acknowledge_alert,
    escalate_alert,
    read_events,
    resolve_alert,
    tail_start,
)
from analytics import Channel, Severity
from dashboard._access import Permission, StaffIdentity
from dashboard._deps import (
    AccessRecord,
    AuditDep,
    ConnDep,
    NowDep,
    PageLimit,
    PageOffset,
    WardReader,
    get_now,
    not_found,
    permit,
    session_token,
)
from dashboard._models import AlertPublic, AlertsPublic
from dashboard._staff_store import identity_for_token
from dashboard.routes._alert_models import (
    AlertDetailPublic,
    AlertEventPublic,
    AlertEventsPublic,
    AuditEntriesPublic,
    AuditEntryPublic,
    StaffAction,
)

router = APIRouter(prefix="/alerts", tags=["alerts"])

Actor = Annotated[StaffIdentity, Depends(permit(Permission.ACT_ON_ALERTS))]

_COLUMNS = (
    "alert_id, resident_id, site_id, kind, channel, severity, state, escalation_level, "
    "started_at, detected_at, last_seen_at, finding_count"
)
_DETAIL_COLUMNS = (
    f"{_COLUMNS}, policy, next_escalation_at, acknowledged_at, acknowledged_by, resolved_at, "
    "resolved_by, previous_alert_id"
)
_FILTER = (
    "WHERE site_id = ANY(%(site_ids)s)"
    " AND (%(resident_id)s::text IS NULL OR resident_id = %(resident_id)s)"
    " AND (%(state)s::text IS NULL OR state = %(state)s)"
    " AND (%(channel)s::text IS NULL OR channel = %(channel)s)"
)
_AUDIT = (
    "SELECT audit_id, alert_id, action, actor, note, at, escalation_level FROM alert_audit"
    " WHERE alert_id = %s ORDER BY audit_id"
)
# How often the live stream looks for new outbox events when idle.
_STREAM_POLL_S = 0.5
# How often an open stream checks that its session still stands (logout, expiry, deactivation
# end the stream within this long; the browser's reconnect then gets 401).
_SESSION_CHECK_S = 5.0


def _sites(staff: StaffIdentity, site_id: str | None) -> frozenset[str]:
    """The user's home sites, narrowed to `site_id` when given: a site the user does not work
    at narrows to nothing, never widens."""
    return staff.home_site_ids if site_id is None else staff.home_site_ids & {site_id}


def _name_site(access: AccessRecord, site_ids: frozenset[str]) -> None:
    if len(site_ids) == 1:
        access.subject(site_id=next(iter(site_ids)))


@router.get("")
def list_alerts(
    conn: ConnDep,
    staff: WardReader,
    access: AuditDep,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    resident_id: Annotated[str | None, Query(max_length=64)] = None,
    state: AlertState | None = None,
    channel: Channel | None = None,
    offset: PageOffset = 0,
    limit: PageLimit = 100,
) -> AlertsPublic:
    """Alerts of the user's home sites, newest first, optionally for one site, resident, state
    and channel (a site or resident the user does not see gives an empty list)."""
    site_ids = _sites(staff, site_id)
    _name_site(access, site_ids)
    access.subject(resident_id=resident_id)
    params = {
        "site_ids": list(site_ids),
        "resident_id": resident_id,
        "state": state,
        "channel": channel,
        "offset": offset,
        "limit": limit,
    }
    (count,) = conn.execute(f"SELECT count(*) FROM alerts {_FILTER}", params).fetchone()  # type: ignore[misc]
    cur = conn.cursor(row_factory=class_row(AlertPublic))
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM alerts {_FILTER}"
        " ORDER BY detected_at DESC, alert_id DESC OFFSET %(offset)s LIMIT %(limit)s",
        params,
    ).fetchall()
    return AlertsPublic(data=rows, count=count)


@router.get("/stream", response_class=EventSourceResponse)
async def stream_alerts(
    request: Request,
    staff: WardReader,  # `ConnDep` is
    # function-scoped: the connection goes back to the pool before the stream starts.
    session: Annotated[str, Depends(session_token)],
    access: AuditDep,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    min_severity: Severity = Severity.LOW,
    kind: Annotated[list[str] | None, Query()] = None,
    channel: Annotated[list[Channel] | None, Query()] = None,
    subscriber_id: int | None = None,
    after: Annotated[str | None, Query(pattern=r"^\d+-\d+$")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    last_event_id: Annotated[str | None, Header(pattern=r"^\d+-\d+$")] = None,
) -> EventSourceResponse:
    """Live alert events of the user's home sites (Server-Sent Events), filtered by query
    parameters or by a registered `sse` subscriber of one of those sites. Each event's `id` is a
    resume token: reconnecting with ``Last-Event-ID`` (or ``?after=``) continues without gaps;
    without one, the stream starts with events from now on. `limit` ends the stream after that
    many events. A browser's EventSource authenticates with the session cookie; the stream ends
    soon after that session does."""
    pool: ConnectionPool = request.app.state.pool
    if subscriber_id is not None:
        flt = await anyio.to_thread.run_sync(_subscriber_filter, pool, staff, subscriber_id)
        site_ids = _sites(staff, flt.site_id)
    else:
        site_ids = _sites(staff, site_id)
        flt = SubscriberFilter(
            min_severity=min_severity,
            kinds=frozenset(kind) if kind else None,
            channels=frozenset(channel or [Channel.CLINICAL]),
        )
    _name_site(access, site_ids)
    resume = last_event_id or after
    start = EventCursor.parse(resume) if resume else None
    still_allowed = functools.partial(_session_still_sees, session=session, site_ids=site_ids)
    return EventSourceResponse(_events(pool, flt, site_ids, start, limit, still_allowed), ping=15)


def _session_still_sees(
    conn: psycopg.Connection, *, session: str, site_ids: frozenset[str]
) -> bool:
    identity = identity_for_token(conn, session, now=get_now())
    return (
        identity is not None
        and identity.can(Permission.VIEW_WARD)
        and site_ids <= identity.home_site_ids
    )


def _subscriber_filter(
    pool: ConnectionPool, staff: StaffIdentity, subscriber_id: int
) -> SubscriberFilter:
    """An active `sse` subscriber's filter, when the subscriber belongs to one of the user's home
    sites (one for every site, with no `site_id`, is not the user's to read)."""
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT site_id, min_severity, kinds, channels FROM alert_subscribers"
            " WHERE subscriber_id = %s AND transport = 'sse' AND active"
            " AND site_id = ANY(%s)",
            (subscriber_id, list(staff.home_site_ids)),
        ).fetchone()
    if row is None:
        raise not_found("active sse subscriber")
    site, severity, kinds, channels = row
    return SubscriberFilter(
        site_id=site,
        min_severity=Severity(severity),
        kinds=frozenset(kinds) if kinds is not None else None,
        channels=frozenset(Channel(c) for c in channels),
    )


def stream_admits(flt: SubscriberFilter, site_ids: frozenset[str], event: AlertEvent) -> bool:
    """Whether the stream sends `event`: only events of the user's sites, whatever the filter."""
    return event.site_id in site_ids and flt.matches(event)


async def _events(
    pool: ConnectionPool,
    flt: SubscriberFilter,
    site_ids: frozenset[str],
    start: EventCursor | None,
    limit: int | None,
    still_allowed: Callable[[psycopg.Connection], bool],
) -> AsyncIterator[ServerSentEvent]:
    def with_conn(read: Callable[[psycopg.Connection], Any]) -> Any:
        with pool.connection() as conn:
            return read(conn)

    cursor = start or await anyio.to_thread.run_sync(with_conn, tail_start)
    sent = 0
    checked = time.monotonic()
    while True:
        if time.monotonic() - checked >= _SESSION_CHECK_S:
            if not await anyio.to_thread.run_sync(with_conn, still_allowed):
                return
            checked = time.monotonic()
        batch = await anyio.to_thread.run_sync(
            with_conn, functools.partial(read_events, after=cursor, limit=200)
        )
        for event in batch:
            cursor = EventCursor(event.tx, event.seq)
            if not stream_admits(flt, site_ids, event):
                continue
            yield ServerSentEvent(
                data=json.dumps(event.payload), event=str(event.event_type), id=cursor.token()
            )
            sent += 1
            if limit is not None and sent >= limit:
                return
        if not batch:
            await anyio.sleep(_STREAM_POLL_S)


def _visible(
    conn: psycopg.Connection, staff: StaffIdentity, access: AccessRecord, alert_id: int
) -> dict[str, Any]:
    """The alert's row when it belongs to one of the user's home sites (and name its resident
    for the access audit); 404 otherwise, the same as for an alert that does not exist."""
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(f"SELECT {_DETAIL_COLUMNS} FROM alerts WHERE alert_id = %s", (alert_id,))
        .fetchone()
    )
    if row is None or not staff.sees_home(row["site_id"]):
        raise not_found("alert")
    access.subject(resident_id=row["resident_id"], site_id=row["site_id"])
    return row


def _detail(conn: psycopg.Connection, row: dict[str, Any]) -> AlertDetailPublic:
    return AlertDetailPublic(**row, audit=_audit(conn, row["alert_id"]))


def _audit(conn: psycopg.Connection, alert_id: int) -> list[AuditEntryPublic]:
    cur = conn.cursor(row_factory=class_row(AuditEntryPublic))
    return cur.execute(_AUDIT, (alert_id,)).fetchall()


@router.get("/{alert_id}")
def get_alert(
    conn: ConnDep, staff: WardReader, access: AuditDep, alert_id: int
) -> AlertDetailPublic:
    """One alert with its escalation state and audit trail."""
    return _detail(conn, _visible(conn, staff, access, alert_id))


@router.get("/{alert_id}/audit")
def alert_audit(
    conn: ConnDep, staff: WardReader, access: AuditDep, alert_id: int
) -> AuditEntriesPublic:
    """Who acknowledged, resolved or escalated this alert, when, with their note."""
    _visible(conn, staff, access, alert_id)
    entries = _audit(conn, alert_id)
    return AuditEntriesPublic(data=entries, count=len(entries))


@router.get("/{alert_id}/events")
def alert_events(
    conn: ConnDep, staff: WardReader, access: AuditDep, alert_id: int
) -> AlertEventsPublic:
    """This alert's outbox events, oldest first (the payloads receivers got)."""
    _visible(conn, staff, access, alert_id)
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(
        "SELECT seq, event_id::text AS event_id, event_type, alert_id, occurred_at, payload"
        " FROM alert_events WHERE alert_id = %s ORDER BY seq",
        (alert_id,),
    ).fetchall()
    return AlertEventsPublic(data=[AlertEventPublic(**r) for r in rows], count=len(rows))


Action = Callable[..., Alert]


def _act(
    conn: psycopg.Connection,
    staff: StaffIdentity,
    access: AccessRecord,
    action: Action,
    alert_id: int,
    body: StaffAction,
    now: datetime,
) -> AlertDetailPublic:
    """Apply `action` as the logged-in user to an alert of one of their home sites."""
    _visible(conn, staff, access, alert_id)
    try:
        action(conn, alert_id=alert_id, actor=staff.username, note=body.note, at=now)
    except AlertNotFound as exc:
        raise not_found("alert") from exc
    except AlertError as exc:  # a forbidden transition, or no policy to escalate along
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return _detail(conn, _visible(conn, staff, access, alert_id))


@router.post("/{alert_id}/acknowledge")
def acknowledge(
    conn: ConnDep,
    staff: Actor,
    access: AuditDep,
    now: NowDep,
    alert_id: int,
    body: StaffAction,
) -> AlertDetailPublic:
    """Take the alert: escalation and reminders stop. 409 unless it is open."""
    return _act(conn, staff, access, acknowledge_alert, alert_id, body, now)


@router.post("/{alert_id}/resolve")
def resolve(
    conn: ConnDep,
    staff: Actor,
    access: AuditDep,
    now: NowDep,
    alert_id: int,
    body: StaffAction,
) -> AlertDetailPublic:
    """Close the episode. A finding detected later opens a new, linked alert."""
    return _act(conn, staff, access, resolve_alert, alert_id, body, now)


@router.post("/{alert_id}/escalate")
def escalate(
    conn: ConnDep,
    staff: Actor,
    access: AuditDep,
    now: NowDep,
    alert_id: int,
    body: StaffAction,
) -> AlertDetailPublic:
    """Escalate by hand to the next step of the alert's policy."""
    return _act(conn, staff, access, escalate_alert, alert_id, body, now)
