from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from psycopg.rows import class_row

from alerts import AlertState
from dashboard._deps import Authenticated, ConnDep
from dashboard._models import AlertPublic, AlertsPublic

router = APIRouter(prefix="/alerts", tags=["alerts"], dependencies=[Authenticated])

_COLUMNS = (
    "alert_id, resident_id, site_id, kind, channel, severity, state, escalation_level, "
    "started_at, detected_at, last_seen_at, finding_count"
)
_FILTER = (
    "WHERE (%(site_id)s::text IS NULL OR site_id = %(site_id)s)"
    " AND (%(state)s::text IS NULL OR state = %(state)s)"
)


@router.get("")
def list_alerts(
    conn: ConnDep,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    state: AlertState | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertsPublic:
    """Alerts, newest first, optionally for one site and state."""
    params = {"site_id": site_id, "state": state, "offset": offset, "limit": limit}
    (count,) = conn.execute(f"SELECT count(*) FROM alerts {_FILTER}", params).fetchone()  # type: ignore[misc]
    cur = conn.cursor(row_factory=class_row(AlertPublic))
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM alerts {_FILTER}"
        " ORDER BY detected_at DESC, alert_id DESC OFFSET %(offset)s LIMIT %(limit)s",
        params,
    ).fetchall()
    return AlertsPublic(data=rows, count=count)
