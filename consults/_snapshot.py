"""What travels with a consult or a referral: a snapshot of the resident's recent data.

The snapshot is JSON (stored in `consults.snapshot` / `referrals.handover`) so the specialist sees
exactly what the care home saw when it asked, even after new readings arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from consults._errors import NotFound

SNAPSHOT_WINDOW = timedelta(hours=24)
_MAX_FINDINGS = 50

_RESIDENT = """
SELECT r.resident_id, r.display_name, r.site_id, r.risk_tier, r.risk_tier_until,
       s.name AS site_name, s.tier AS site_tier
FROM residents r JOIN sites s USING (site_id) WHERE r.resident_id = %s
"""
# Readings are attributed to the resident the device was assigned to at the time of each bucket.
_ATTRIBUTED = """
WITH mine AS (
    SELECT r1.bucket, r1.metric, r1.n, r1.mean, r1.min, r1.max
    FROM readings_1m r1
    JOIN device_assignments da ON da.device_id = r1.device_id
         AND r1.bucket >= da.assigned_from
         AND (da.assigned_until IS NULL OR r1.bucket < da.assigned_until)
    WHERE da.resident_id = %(resident_id)s
      AND r1.bucket >= %(since)s AND r1.bucket < %(until)s
)
"""
_SUMMARY = (
    _ATTRIBUTED
    + """
SELECT metric, sum(n)::bigint AS n, sum(mean * n) / sum(n) AS mean, min(min) AS min,
       max(max) AS max,
       (array_agg(mean ORDER BY bucket DESC))[1] AS last, max(bucket) AS last_at
FROM mine GROUP BY metric ORDER BY metric
"""
)
_HOURLY = (
    _ATTRIBUTED
    + """
SELECT metric, date_trunc('hour', bucket) AS hour, sum(n)::bigint AS n,
       sum(mean * n) / sum(n) AS mean, min(min) AS min, max(max) AS max
FROM mine GROUP BY metric, hour ORDER BY metric, hour
"""
)
_OPEN_ALERTS = """
SELECT alert_id, kind, channel, severity, state, escalation_level, started_at, detected_at,
       last_seen_at, finding_count
FROM alerts WHERE resident_id = %s AND state <> 'resolved' ORDER BY detected_at DESC
"""
_FINDINGS = """
SELECT finding_id, alert_id, kind, severity, channel, started_at, detected_at, evidence, detector,
       detector_version
FROM findings
WHERE resident_id = %(resident_id)s
  AND (detected_at >= %(since)s OR alert_id = ANY(%(alert_ids)s))
  AND detected_at <= %(until)s
ORDER BY detected_at DESC LIMIT %(limit)s
"""


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 text; the rest as JSON takes it."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [jsonable(dict(row)) for row in rows]


def resident_row(conn: psycopg.Connection, resident_id: str) -> dict[str, Any]:
    row = conn.cursor(row_factory=dict_row).execute(_RESIDENT, (resident_id,)).fetchone()
    if row is None:
        raise NotFound(f"no resident {resident_id!r}")
    return row


def build_snapshot(conn: psycopg.Connection, resident_id: str, *, now: datetime) -> dict[str, Any]:
    """Resident, 24 h vitals summary and hourly chart series, open alerts, recent findings."""
    resident = resident_row(conn, resident_id)
    cur = conn.cursor(row_factory=dict_row)
    params = {"resident_id": resident_id, "since": now - SNAPSHOT_WINDOW, "until": now}
    summary = cur.execute(_SUMMARY, params).fetchall()
    hourly = cur.execute(_HOURLY, params).fetchall()
    alerts = cur.execute(_OPEN_ALERTS, (resident_id,)).fetchall()
    findings = cur.execute(
        _FINDINGS,
        {**params, "alert_ids": [a["alert_id"] for a in alerts], "limit": _MAX_FINDINGS},
    ).fetchall()
    charts: dict[str, list[dict[str, Any]]] = {}
    for row in hourly:
        charts.setdefault(row["metric"], []).append(
            jsonable({k: row[k] for k in ("hour", "n", "mean", "min", "max")})
        )
    return {
        "taken_at": now.isoformat(),
        "window_hours": SNAPSHOT_WINDOW.total_seconds() / 3600,
        "resident": jsonable(resident),
        "vitals_24h": _rows(summary),
        "charts": charts,
        "open_alerts": _rows(alerts),
        "findings": _rows(findings),
    }
