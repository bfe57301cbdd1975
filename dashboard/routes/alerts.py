from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
import psycopg
from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from psycopg.rows import class_row, dict_row
from psycopg_pool import ConnectionPool
from sse_starlette import EventSourceResponse, ServerSentEvent

from alerts import (
    Alert,
    AlertNotFound,
    AlertState,
    AlertStateError,
    EventCursor,
    SubscriberFilter,
    acknowledge_alert,
    escalate_alert,
    read_events,
    resolve_alert,
    tail_start,
)
from analytics import Channel, Severity
from dashboard._deps import Authenticated, ConnDep
from dashboard._models import AlertPublic, AlertsPublic
from dashboard.routes._alert_models import (
    AlertDetailPublic,
    AlertEventPublic,
    AlertEventsPublic,
    AuditEntriesPublic,
    AuditEntryPublic,
    StaffAction,
)

router = APIRouter(prefix="/alerts", tags=["alerts"], dependencies=[Authenticated])

_COLUMNS = (
    "alert_id, resident_id, site_id, kind, channel, severity, state, escalation_level, "
    "started_at, detected_at, last_seen_at, finding_count"
)
_DETAIL_COLUMNS = (
    f"{_COLUMNS}, policy, next_escalation_at, acknowledged_at, acknowledged_by, resolved_at, "
    "resolved_by, previous_alert_id"
)
_FILTER = (
    "WHERE (%(site_id)s::text IS NULL OR site_id = %(site_id)s)"
    " AND (%(state)s::text IS NULL OR state = %(state)s)"
    " AND (%(channel)s::text IS NULL OR channel = %(channel)s)"
)
_AUDIT = (
    "SELECT audit_id, alert_id, action, actor, note, at, escalation_level FROM alert_audit"
    " WHERE alert_id = %s ORDER BY audit_id"
)
# How often the live stream looks for new outbox events when idle.
_STREAM_POLL_S = 0.5


@router.get("")
def list_alerts(
    conn: ConnDep,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    state: AlertState | None = None,
    channel: Channel | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertsPublic:
    """Alerts, newest first, optionally for one site, state and channel."""
    params = {
        "site_id": site_id,
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
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    min_severity: Severity = Severity.LOW,
    kind: Annotated[list[str] | None, Query()] = None,
    channel: Annotated[list[Channel] | None, Query()] = None,
    subscriber_id: int | None = None,
    after: Annotated[str | None, Query(pattern=r"^\d+-\d+$")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    last_event_id: Annotated[str | None, Header(pattern=r"^\d+-\d+$")] = None,
) -> EventSourceResponse:
    """Live alert events for dashboards (Server-Sent Events), filtered by query parameters or by
    a registered `sse` subscriber's filter. Each event's `id` is a resume token: reconnecting
    with ``Last-Event-ID`` (or ``?after=``) continues without gaps; without one, the stream
    starts with events from now on. `limit` ends the stream after that many events."""
    pool: ConnectionPool = request.app.state.pool
    if subscriber_id is not None:
        flt = await anyio.to_thread.run_sync(_subscriber_filter, pool, subscriber_id)
    else:
        flt = SubscriberFilter(
            site_id=site_id,
            min_severity=min_severity,
            kinds=frozenset(kind) if kind else None,
            channels=frozenset(channel or [Channel.CLINICAL]),
        )
    token = last_event_id or after
    start = EventCursor.parse(token) if token else None
    return EventSourceResponse(_events(pool, flt, start, limit), ping=15)


def _subscriber_filter(pool: ConnectionPool, subscriber_id: int) -> SubscriberFilter:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT site_id, min_severity, kinds, channels FROM alert_subscribers"
            " WHERE subscriber_id = %s AND transport = 'sse' AND active",
            (subscriber_id,),
        ).fetchone()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no active sse subscriber with that id")
    site, severity, kinds, channels = row
    return SubscriberFilter(
        site_id=site,
        min_severity=Severity(severity),
        kinds=frozenset(kinds) if kinds is not None else None,
        channels=frozenset(Channel(c) for c in channels),
    )


async def _events(
    pool: ConnectionPool, flt: SubscriberFilter, start: EventCursor | None, limit: int | None
) -> AsyncIterator[ServerSentEvent]:
    def with_conn(read: Callable[[psycopg.Connection], Any]) -> Any:
        with pool.connection() as conn:
            return read(conn)

    cursor = start or await anyio.to_thread.run_sync(with_conn, tail_start)
    sent = 0
    while True:
        batch = await anyio.to_thread.run_sync(
            with_conn, functools.partial(read_events, after=cursor, limit=200)
        )
        for event in batch:
            cursor = EventCursor(event.tx, event.seq)
            if not flt.matches(event):
                continue
            yield ServerSentEvent(
                data=json.dumps(event.payload), event=str(event.event_type), id=cursor.token()
            )
            sent += 1
            if limit is not None and sent >= limit:
                return
        if not batch:
            await anyio.sleep(_STREAM_POLL_S)


@router.get("/{alert_id}")
def get_alert(conn: ConnDep, alert_id: int) -> AlertDetailPublic:
    """One alert with its escalation state and audit trail."""
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(f"SELECT {_DETAIL_COLUMNS} FROM alerts WHERE alert_id = %s", (alert_id,))
        .fetchone()
    )
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alert {alert_id} does not exist")
    return AlertDetailPublic(**row, audit=_audit(conn, alert_id))


def _audit(conn: psycopg.Connection, alert_id: int) -> list[AuditEntryPublic]:
    cur = conn.cursor(row_factory=class_row(AuditEntryPublic))
    return cur.execute(_AUDIT, (alert_id,)).fetchall()


@router.get("/{alert_id}/audit")
def alert_audit(conn: ConnDep, alert_id: int) -> AuditEntriesPublic:
    """Who acknowledged, resolved or escalated this alert, when, with their note."""
    entries = _audit(conn, alert_id)
    return AuditEntriesPublic(data=entries, count=len(entries))


@router.get("/{alert_id}/events")
def alert_events(conn: ConnDep, alert_id: int) -> AlertEventsPublic:
    """This alert's outbox events, oldest first (the payloads receivers got)."""
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
    action: Action,
    alert_id: int,
    body: StaffAction,
    staff_id: str | None,
) -> AlertDetailPublic:
    actor = body.actor or staff_id
    if not actor:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "say who acts: 'actor' in the body or the X-Staff-Id header",
        )
    try:
        action(conn, alert_id=alert_id, actor=actor, note=body.note, at=datetime.now(UTC))
    except AlertNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except AlertStateError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return get_alert(conn, alert_id)


StaffHeader = Annotated[str | None, Header(alias="X-Staff-Id", max_length=128)]


@router.post("/{alert_id}/acknowledge")
def acknowledge(
    conn: ConnDep, alert_id: int, body: StaffAction, x_staff_id: StaffHeader = None
) -> AlertDetailPublic:
    """Take the alert: escalation and reminders stop. 409 unless it is open."""
    return _act(conn, acknowledge_alert, alert_id, body, x_staff_id)


@router.post("/{alert_id}/resolve")
def resolve(
    conn: ConnDep, alert_id: int, body: StaffAction, x_staff_id: StaffHeader = None
) -> AlertDetailPublic:
    """Close the episode. A finding detected later opens a new, linked alert."""
    return _act(conn, resolve_alert, alert_id, body, x_staff_id)


@router.post("/{alert_id}/escalate")
def escalate(
    conn: ConnDep, alert_id: int, body: StaffAction, x_staff_id: StaffHeader = None
) -> AlertDetailPublic:
    """Escalate by hand to the next step of the alert's policy."""
    return _act(conn, escalate_alert, alert_id, body, x_staff_id)
