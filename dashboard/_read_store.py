"""SQL of the dashboard's read model. Latest values and charts come from the per-minute rollups
(`readings_1m`), never from raw readings: each latest value is one backward descent of the
rollup's primary key (device_id, metric, bucket) in a LATERAL subquery."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dashboard._read_models import (
    BP_LOOKBACK,
    CHART_METRICS,
    NEWS2_KIND,
    TILE_METRICS,
    VITALS_LOOKBACK,
    WINDOW_BUCKET_S,
    WINDOW_LENGTH,
    ChartAlert,
    ChartFinding,
    ChartPublic,
    ChartWindow,
    DeviceDetailPublic,
    DevicePublic,
    DeviceStatusEvent,
    Latest,
    LatestBp,
    News2Public,
    WardOverview,
    battery_percent,
    build_tiles,
    chart_json,
    device_state,
    news2_from_finding,
    series_json,
)
from devices import Metric

_BEDS = """
SELECT b.bed_id, b.label, a.resident_id, r.display_name, r.risk_tier, r.risk_tier_until,
       r.risk_tier_after, a.device_id, a.assigned_from, d.model, s.last_seen_at, s.silent_since,
       s.state AS reported_state, s.battery
FROM beds b
LEFT JOIN device_assignments a ON a.bed_id = b.bed_id AND a.assigned_until IS NULL
LEFT JOIN residents r ON r.resident_id = a.resident_id
LEFT JOIN devices d ON d.device_id = a.device_id
LEFT JOIN device_status s ON s.device_id = a.device_id
WHERE b.site_id = %(site)s
ORDER BY b.label, b.bed_id, a.device_id
"""
# Only values measured since the device was assigned to this bed's resident.
_LATEST = """
SELECT dev.device_id, m.metric, l.bucket, l.mean
FROM unnest(%(devices)s::text[], %(froms)s::timestamptz[]) AS dev(device_id, assigned_from)
CROSS JOIN unnest(%(metrics)s::text[]) AS m(metric)
JOIN LATERAL (
    SELECT x.bucket, x.mean FROM readings_1m x
    WHERE x.device_id = dev.device_id AND x.metric = m.metric
      AND x.bucket >= greatest(dev.assigned_from, %(since)s) AND x.bucket <= %(now)s
    ORDER BY x.bucket DESC LIMIT 1
) l ON true
"""
_LATEST_BP = """
SELECT dev.device_id, l.bucket, l.systolic, l.diastolic
FROM unnest(%(devices)s::text[], %(froms)s::timestamptz[]) AS dev(device_id, assigned_from)
JOIN LATERAL (
    SELECT s.bucket, s.mean AS systolic, d.mean AS diastolic
    FROM readings_1m s
    JOIN readings_1m d
      ON d.device_id = s.device_id AND d.metric = %(diastolic)s AND d.bucket = s.bucket
    WHERE s.device_id = dev.device_id AND s.metric = %(systolic)s
      AND s.bucket >= greatest(dev.assigned_from, %(since)s) AND s.bucket <= %(now)s
    ORDER BY s.bucket DESC LIMIT 1
) l ON true
"""
_SITE_OPEN_ALERTS = """
SELECT alert_id, resident_id, kind, channel, severity, state, started_at
FROM alerts WHERE site_id = %s AND state <> 'resolved'
"""


def visible_sites(conn: psycopg.Connection, site_ids: Collection[str]) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(
        "SELECT site_id, name, tier FROM sites WHERE site_id = ANY(%s) ORDER BY name, site_id",
        (list(site_ids),),
    ).fetchall()


def site_name(conn: psycopg.Connection, site_id: str) -> str | None:
    row = conn.execute("SELECT name FROM sites WHERE site_id = %s", (site_id,)).fetchone()
    return None if row is None else str(row[0])


def ward_overview(
    conn: psycopg.Connection, *, site_id: str, name: str, now: datetime
) -> WardOverview:
    cur = conn.cursor(row_factory=dict_row)
    bed_rows = cur.execute(_BEDS, {"site": site_id}).fetchall()
    assigned = [r for r in bed_rows if r["device_id"] is not None]
    devices = [r["device_id"] for r in assigned]
    froms = [r["assigned_from"] for r in assigned]
    latest = [
        Latest(*row)
        for row in conn.execute(
            _LATEST,
            {
                "devices": devices,
                "froms": froms,
                "metrics": [str(m) for m in TILE_METRICS],
                "since": now - VITALS_LOOKBACK,
                "now": now,
            },
        )
    ]
    bps = [
        LatestBp(*row)
        for row in conn.execute(
            _LATEST_BP,
            {
                "devices": devices,
                "froms": froms,
                "systolic": str(Metric.SYSTOLIC_BP),
                "diastolic": str(Metric.DIASTOLIC_BP),
                "since": now - BP_LOOKBACK,
                "now": now,
            },
        )
    ]
    open_alerts = cur.execute(_SITE_OPEN_ALERTS, (site_id,)).fetchall()
    tiles = build_tiles(bed_rows=bed_rows, latest=latest, bps=bps, open_alerts=open_alerts, now=now)
    return WardOverview(site_id=site_id, site_name=name, generated_at=now, beds=tiles)


# -- residents ---------------------------------------------------------------------------------

_RESIDENT_BED = """
LEFT JOIN LATERAL (
    SELECT b.label FROM device_assignments a JOIN beds b ON b.bed_id = a.bed_id
    WHERE a.resident_id = r.resident_id AND a.assigned_until IS NULL
    ORDER BY a.assigned_from DESC LIMIT 1
) bed ON true
"""
_TIER = (
    "CASE WHEN r.risk_tier_until IS NOT NULL AND r.risk_tier_after IS NOT NULL"
    " AND %(now)s >= r.risk_tier_until THEN r.risk_tier_after ELSE r.risk_tier END"
)


def list_residents(
    conn: psycopg.Connection, *, site_ids: list[str], offset: int, limit: int, now: datetime
) -> tuple[list[dict[str, Any]], int]:
    params = {"sites": site_ids, "offset": offset, "limit": limit, "now": now}
    (count,) = conn.execute(  # type: ignore[misc]
        "SELECT count(*) FROM residents WHERE site_id = ANY(%(sites)s)", params
    ).fetchone()
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT r.resident_id, r.display_name, r.site_id, bed.label AS bed_label,"
            f" {_TIER} AS risk_tier FROM residents r {_RESIDENT_BED}"
            " WHERE r.site_id = ANY(%(sites)s)"
            " ORDER BY r.site_id, bed.label NULLS LAST, r.resident_id"
            " OFFSET %(offset)s LIMIT %(limit)s",
            params,
        )
        .fetchall()
    )
    return rows, count


def resident_record(
    conn: psycopg.Connection, resident_id: str, *, now: datetime
) -> dict[str, Any] | None:
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT r.resident_id, r.display_name, r.site_id, s.name AS site_name,"
            f" bed.label AS bed_label, {_TIER} AS risk_tier,"
            " CASE WHEN %(now)s < r.risk_tier_until THEN r.risk_tier_until END"
            " AS risk_tier_until"
            f" FROM residents r JOIN sites s USING (site_id) {_RESIDENT_BED}"
            " WHERE r.resident_id = %(resident)s",
            {"resident": resident_id, "now": now},
        )
        .fetchone()
    )


def latest_news2(conn: psycopg.Connection, resident_id: str) -> News2Public | None:
    row = conn.execute(
        "SELECT evidence, detected_at FROM findings"
        " WHERE resident_id = %s AND kind = %s ORDER BY detected_at DESC LIMIT 1",
        (resident_id, NEWS2_KIND),
    ).fetchone()
    return None if row is None else news2_from_finding(row[0], row[1])


def open_alerts_of(conn: psycopg.Connection, resident_id: str) -> list[dict[str, Any]]:
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT alert_id, resident_id, site_id, kind, channel, severity, state,"
            " escalation_level, started_at, detected_at, last_seen_at, finding_count"
            " FROM alerts WHERE resident_id = %s AND state <> 'resolved'"
            " ORDER BY detected_at DESC, alert_id DESC",
            (resident_id,),
        )
        .fetchall()
    )


# -- chart -------------------------------------------------------------------------------------

# Rollup rows of every device assigned to the resident during the window, each only for the
# part of the window it was assigned to them.
_CHART_SOURCE = """
FROM device_assignments a
JOIN readings_1m x
  ON x.device_id = a.device_id
 AND x.bucket >= greatest(a.assigned_from, %(start)s)
 AND x.bucket < least(coalesce(a.assigned_until, 'infinity'), %(end)s)
WHERE a.resident_id = %(resident)s
  AND a.assigned_from < %(end)s AND (a.assigned_until IS NULL OR a.assigned_until > %(start)s)
  AND x.metric = ANY(%(metrics)s)
"""
# Each series is built as JSON by PostgreSQL (one row per metric): parsing thousands of
# timestamps into Python objects and serialising them again cost more than the query itself.
# Values are rounded to 2 decimals in float arithmetic (numeric casts cost twice as much).
_POINT = (
    "json_build_array({b}, round({mean} * 100) / 100, round({low} * 100) / 100,"
    " round({high} * 100) / 100)"
)
_CHART_1M = f"""
SELECT x.metric,
       json_agg({_POINT.format(b="x.bucket", mean="x.mean", low="x.min", high="x.max")}
                ORDER BY x.bucket)::text
{_CHART_SOURCE}
GROUP BY x.metric
"""
# Coarser buckets: the mean weighted by each minute's sample count.
_CHART_BINNED = f"""
SELECT metric,
       json_agg({_POINT.format(b="b", mean="mean", low="low", high="high")} ORDER BY b)::text
FROM (
    SELECT x.metric, date_bin(%(bin)s, x.bucket, %(start)s) AS b,
           sum(x.mean * x.n) / sum(x.n) AS mean, min(x.min) AS low, max(x.max) AS high
    {_CHART_SOURCE}
    GROUP BY 1, 2
) binned
GROUP BY metric
"""
_CHART_ALERTS = """
SELECT alert_id, kind, channel, severity, state, started_at, resolved_at FROM alerts
WHERE resident_id = %(resident)s AND started_at < %(end)s
  AND (resolved_at IS NULL OR resolved_at >= %(start)s)
ORDER BY started_at
"""
_CHART_FINDINGS = """
SELECT kind, severity, started_at AS start, detected_at FROM findings
WHERE resident_id = %(resident)s AND detected_at >= %(start)s AND detected_at < %(end)s
ORDER BY detected_at LIMIT 1000
"""


def chart(conn: psycopg.Connection, *, resident_id: str, window: ChartWindow, now: datetime) -> str:
    """The chart as JSON text (`ChartPublic`'s shape)."""
    bucket_s = WINDOW_BUCKET_S[window]
    start, end = now - WINDOW_LENGTH[window], now
    params = {
        "resident": resident_id,
        "start": start,
        "end": end,
        "metrics": [str(m) for m in CHART_METRICS],
        "bin": timedelta(seconds=bucket_s),
    }
    sql = _CHART_1M if bucket_s == 60 else _CHART_BINNED
    series = series_json(conn.execute(sql, params))
    cur = conn.cursor(row_factory=dict_row)
    alerts = [ChartAlert(**r) for r in cur.execute(_CHART_ALERTS, params)]
    findings = [ChartFinding(**r) for r in cur.execute(_CHART_FINDINGS, params)]
    head = ChartPublic(
        resident_id=resident_id,
        window=window,
        start=start,
        end=end,
        bucket_seconds=bucket_s,
        series=[],
        alerts=alerts,
        findings=findings,
    )
    return chart_json(head, series)


# -- notes -------------------------------------------------------------------------------------

_NOTE_COLUMNS = "note_id, resident_id, author, body, created_at"


def add_note(
    conn: psycopg.Connection,
    *,
    resident_id: str,
    author_user_id: int,
    author: str,
    body: str,
    at: datetime,
) -> dict[str, Any]:
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "INSERT INTO resident_notes (resident_id, author_user_id, author, body, created_at)"
            f" VALUES (%s, %s, %s, %s, %s) RETURNING {_NOTE_COLUMNS}",
            (resident_id, author_user_id, author, body, at),
        )
        .fetchone()
    )
    assert row is not None
    return row


def list_notes(
    conn: psycopg.Connection, *, resident_id: str, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    (count,) = conn.execute(  # type: ignore[misc]
        "SELECT count(*) FROM resident_notes WHERE resident_id = %s", (resident_id,)
    ).fetchone()
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            f"SELECT {_NOTE_COLUMNS} FROM resident_notes WHERE resident_id = %s"
            " ORDER BY created_at DESC, note_id DESC OFFSET %s LIMIT %s",
            (resident_id, offset, limit),
        )
        .fetchall()
    )
    return rows, count


# -- devices -----------------------------------------------------------------------------------

_DEVICES = """
SELECT d.device_id, d.model, d.site_id, a.resident_id, b.label AS bed_label,
       s.last_seen_at, s.silent_since, s.state AS reported_state, s.battery,
       (SELECT count(*) FROM quarantine q
         WHERE split_part(q.topic, '/', -2) = d.device_id AND q.received_at >= %(day_ago)s)
         AS quarantined_24h,
       (SELECT count(*) FROM quarantine q WHERE split_part(q.topic, '/', -2) = d.device_id)
         AS quarantined_total,
       ARRAY(SELECT DISTINCT al.kind FROM findings f JOIN alerts al ON al.alert_id = f.alert_id
              WHERE f.device_id = d.device_id AND f.channel = 'data_quality'
                AND al.state <> 'resolved' ORDER BY al.kind) AS open_data_quality
FROM devices d
LEFT JOIN device_assignments a ON a.device_id = d.device_id AND a.assigned_until IS NULL
LEFT JOIN beds b ON b.bed_id = a.bed_id
LEFT JOIN device_status s ON s.device_id = d.device_id
"""


def _device(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    state = device_state(
        model=row["model"],
        last_seen_at=row["last_seen_at"],
        silent_since=row.pop("silent_since"),
        now=now,
        reported=row.pop("reported_state"),
    )
    return {**row, "state": state, "battery_pct": battery_percent(row.pop("battery"))}


def list_devices(
    conn: psycopg.Connection, *, site_ids: list[str], offset: int, limit: int, now: datetime
) -> tuple[list[DevicePublic], int]:
    params = {"sites": site_ids, "offset": offset, "limit": limit, "day_ago": now - timedelta(1)}
    (count,) = conn.execute(  # type: ignore[misc]
        "SELECT count(*) FROM devices WHERE site_id = ANY(%(sites)s)", params
    ).fetchone()
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            f"{_DEVICES} WHERE d.site_id = ANY(%(sites)s)"
            " ORDER BY d.site_id, d.device_id OFFSET %(offset)s LIMIT %(limit)s",
            params,
        )
        .fetchall()
    )
    return [DevicePublic(**_device(r, now)) for r in rows], count


def device_detail(
    conn: psycopg.Connection, device_id: str, *, now: datetime
) -> DeviceDetailPublic | None:
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(
        f"{_DEVICES} WHERE d.device_id = %(device)s",
        {"device": device_id, "day_ago": now - timedelta(1)},
    ).fetchone()
    if row is None:
        return None
    reasons = conn.execute(
        "SELECT reason, count(*) FROM quarantine WHERE split_part(topic, '/', -2) = %s"
        " GROUP BY reason ORDER BY reason",
        (device_id,),
    ).fetchall()
    events = cur.execute(
        "SELECT kind, at, detail FROM data_quality_events WHERE device_id = %s"
        " ORDER BY at DESC LIMIT 20",
        (device_id,),
    ).fetchall()
    return DeviceDetailPublic(
        **_device(row, now),
        quarantine_by_reason=dict(reasons),
        recent_status=[DeviceStatusEvent(**e) for e in events],
    )


def device_site(conn: psycopg.Connection, device_id: str) -> str | None:
    row = conn.execute("SELECT site_id FROM devices WHERE device_id = %s", (device_id,)).fetchone()
    return None if row is None else str(row[0])
