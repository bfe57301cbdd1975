"""Alert subscribers (webhooks, live-stream filters) and their deliveries; `router` also carries
the escalation policy and on-call rota routes (dashboard/routes/escalation.py).

Every route needs MANAGE_SITE and works on the user's own site only: a subscriber of another site
answers 404, as one that does not exist. Subscribers without a site (``site_id`` NULL: they
receive every site's events, such as the built-in ``mqtt-alert-topic``) belong to the
installation, not to any site; they are configured with the deployment (migrations, SQL) and the
API neither shows nor changes them, since a site admin reading their deliveries would see other
sites' alerts.
"""

from __future__ import annotations

from typing import Any, Literal

import psycopg
from fastapi import APIRouter, HTTPException, Response, status
from psycopg.rows import class_row, dict_row

from alerts import Transport
from dashboard._deps import AuditDep, ConnDep, PageLimit, PageOffset, not_found
from dashboard.routes import escalation
from dashboard.routes._alert_models import (
    DeliveriesPublic,
    DeliveryPublic,
    SubscriberCreate,
    SubscriberPublic,
    SubscribersPublic,
    SubscriberUpdate,
)
from dashboard.routes.escalation import Manager, managed_site

subscribers_router = APIRouter(prefix="/alert-subscribers", tags=["alert-subscribers"])

_COLUMNS = (
    "subscriber_id, name, transport, url, site_id, min_severity, kinds, channels, "
    "max_per_minute, active, created_at"
)


def _get(conn: psycopg.Connection, site_id: str, subscriber_id: int) -> SubscriberPublic:
    """A subscriber of `site_id`; 404 for one of another site, a site-less one, or none."""
    cur = conn.cursor(row_factory=class_row(SubscriberPublic))
    row = cur.execute(
        f"SELECT {_COLUMNS} FROM alert_subscribers WHERE subscriber_id = %s AND site_id = %s",
        (subscriber_id, site_id),
    ).fetchone()
    if row is None:
        raise not_found("subscriber")
    return row


def _check(transport: Transport, url: Any, secret: str | None) -> None:
    if transport is Transport.WEBHOOK and (url is None or secret is None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "a webhook needs a url and a secret"
        )


@subscribers_router.get("")
def list_subscribers(
    conn: ConnDep,
    staff: Manager,
    access: AuditDep,
    offset: PageOffset = 0,
    limit: PageLimit = 100,
) -> SubscribersPublic:
    """The subscribers of the user's site."""
    site_id = managed_site(staff, access)
    (count,) = conn.execute(  # type: ignore[misc]
        "SELECT count(*) FROM alert_subscribers WHERE site_id = %s", (site_id,)
    ).fetchone()
    cur = conn.cursor(row_factory=class_row(SubscriberPublic))
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM alert_subscribers WHERE site_id = %s"
        " ORDER BY subscriber_id OFFSET %s LIMIT %s",
        (site_id, offset, limit),
    ).fetchall()
    return SubscribersPublic(data=rows, count=count)


@subscribers_router.post("", status_code=status.HTTP_201_CREATED)
def create_subscriber(
    conn: ConnDep, staff: Manager, access: AuditDep, body: SubscriberCreate
) -> SubscriberPublic:
    """Register a receiver and its filter (minimum severity, kinds, channels) for the user's
    site; `site_id` defaults to it, and another site answers 404."""
    site_id = managed_site(staff, access, body.site_id)
    _check(body.transport, body.url, body.secret)
    try:
        (subscriber_id,) = conn.execute(  # type: ignore[misc]
            "INSERT INTO alert_subscribers (name, transport, url, secret, site_id, min_severity,"
            " kinds, channels, max_per_minute, active)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING subscriber_id",
            (
                body.name,
                body.transport,
                str(body.url) if body.url else None,
                body.secret,
                site_id,
                body.min_severity,
                body.kinds,
                [str(c) for c in body.channels],
                body.max_per_minute,
                body.active,
            ),
        ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        conn.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, f"{body.name!r} already exists") from exc
    return _get(conn, site_id, subscriber_id)


@subscribers_router.get("/{subscriber_id}")
def get_subscriber(
    conn: ConnDep, staff: Manager, access: AuditDep, subscriber_id: int
) -> SubscriberPublic:
    return _get(conn, managed_site(staff, access), subscriber_id)


@subscribers_router.patch("/{subscriber_id}")
def update_subscriber(
    conn: ConnDep, staff: Manager, access: AuditDep, subscriber_id: int, body: SubscriberUpdate
) -> SubscriberPublic:
    """Change a filter, the URL, the secret, the rate limit, or pause it (`active: false`)."""
    site_id = managed_site(staff, access)
    current = _get(conn, site_id, subscriber_id)
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        return current
    values = {
        k: (str(v) if k == "url" and v is not None else v)
        for k, v in changes.items()
        if k != "channels"
    }
    if "channels" in changes:
        values["channels"] = [str(c) for c in changes["channels"]]
    assignments = ", ".join(f"{column} = %({column})s" for column in values)
    try:
        conn.execute(
            f"UPDATE alert_subscribers SET {assignments} WHERE subscriber_id = %(id)s",
            {**values, "id": subscriber_id},
        )
    except psycopg.errors.CheckViolation as exc:
        conn.rollback()
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "a webhook needs a url and a secret"
        ) from exc
    return _get(conn, site_id, subscriber_id)


@subscribers_router.delete("/{subscriber_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_subscriber(
    conn: ConnDep, staff: Manager, access: AuditDep, subscriber_id: int
) -> Response:
    """Remove a subscriber and its delivery records (pause it instead to keep them)."""
    deleted = conn.execute(
        "DELETE FROM alert_subscribers WHERE subscriber_id = %s AND site_id = %s",
        (subscriber_id, managed_site(staff, access)),
    )
    if deleted.rowcount == 0:
        raise not_found("subscriber")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@subscribers_router.get("/{subscriber_id}/deliveries")
def list_deliveries(
    conn: ConnDep,
    staff: Manager,
    access: AuditDep,
    subscriber_id: int,
    state: Literal["pending", "delivered", "dead"] | None = None,
    offset: PageOffset = 0,
    limit: PageLimit = 100,
) -> DeliveriesPublic:
    """Deliveries to this subscriber, newest first; ``state=dead`` lists the dead letters."""
    _get(conn, managed_site(staff, access), subscriber_id)
    params = {"s": subscriber_id, "state": state, "offset": offset, "limit": limit}
    where = "WHERE subscriber_id = %(s)s AND (%(state)s::text IS NULL OR state = %(state)s)"
    (count,) = conn.execute(f"SELECT count(*) FROM alert_deliveries {where}", params).fetchone()  # type: ignore[misc]
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT delivery_id, event_id::text AS event_id, subscriber_id, state, attempts,"
            " next_attempt_at, last_error, digest_size, delivered_at, created_at"
            f" FROM alert_deliveries {where}"
            " ORDER BY delivery_id DESC OFFSET %(offset)s LIMIT %(limit)s",
            params,
        )
        .fetchall()
    )
    return DeliveriesPublic(data=[DeliveryPublic(**r) for r in rows], count=count)


@subscribers_router.post("/{subscriber_id}/deliveries/{delivery_id}/retry")
def retry_delivery(
    conn: ConnDep, staff: Manager, access: AuditDep, subscriber_id: int, delivery_id: int
) -> DeliveryPublic:
    """Send a dead letter again (after the receiver was fixed): back to pending, due now."""
    _get(conn, managed_site(staff, access), subscriber_id)
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "UPDATE alert_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now()"
            " WHERE delivery_id = %s AND subscriber_id = %s AND state = 'dead'"
            " RETURNING delivery_id, event_id::text AS event_id, subscriber_id, state, attempts,"
            " next_attempt_at, last_error, digest_size, delivered_at, created_at",
            (delivery_id, subscriber_id),
        )
        .fetchone()
    )
    if row is None:
        raise not_found("dead delivery")
    return DeliveryPublic(**row)


router = APIRouter()
router.include_router(subscribers_router)
router.include_router(escalation.policies_router)
router.include_router(escalation.rota_router)
