"""Nightly sleep summaries: computed from stored readings, stored, and read back."""

from __future__ import annotations

import json
from datetime import date

import psycopg

from analytics._sleep import SleepSummary, compare_with_recent, night_window, sleep_summary
from analytics._types import ResidentSample
from devices import Metric

_METRICS = [
    str(m)
    for m in (
        Metric.BED_PRESENCE,
        Metric.SLEEP_STATE,
        Metric.MOVEMENT,
        Metric.HEART_RATE,
        Metric.RESPIRATION_RATE,
    )
]
# Readings of every device assigned to the resident at the reading's time (mattress and pillow).
_NIGHT_READINGS = """
SELECT r.ts, r.device_id, r.metric, r.value
FROM readings r
JOIN device_assignments a
  ON a.device_id = r.device_id
 AND r.ts >= a.assigned_from AND (a.assigned_until IS NULL OR r.ts < a.assigned_until)
WHERE a.resident_id = %s AND r.ts >= %s AND r.ts < %s AND r.metric = ANY(%s)
"""
_UPSERT = """
INSERT INTO sleep_summaries (resident_id, night, summary) VALUES (%s, %s, %s)
ON CONFLICT (resident_id, night) DO UPDATE SET summary = EXCLUDED.summary, computed_at = now()
"""
_RECENT = """
SELECT summary FROM sleep_summaries
WHERE resident_id = %s AND (%s::date IS NULL OR night < %s::date)
ORDER BY night DESC LIMIT %s
"""


def store_sleep_summary(conn: psycopg.Connection, summary: SleepSummary) -> None:
    conn.execute(_UPSERT, (summary.resident_id, summary.night, json.dumps(summary.to_json())))


def sleep_summaries(
    conn: psycopg.Connection, *, resident_id: str, before: date | None = None, limit: int = 14
) -> list[SleepSummary]:
    """The resident's stored nights, newest first (for the dashboard and consult snapshots)."""
    rows = conn.execute(_RECENT, (resident_id, before, before, limit)).fetchall()
    return [SleepSummary.from_json(row[0]) for row in rows]


def summarize_night(
    conn: psycopg.Connection,
    *,
    resident_id: str,
    night: date,
    utc_offset_h: float = 0.0,
    history_nights: int = 14,
) -> SleepSummary:
    """Compute one night from stored readings, compare it with the recent nights, store it."""
    start, end = night_window(night, utc_offset_h=utc_offset_h)
    rows = conn.execute(_NIGHT_READINGS, (resident_id, start, end, _METRICS)).fetchall()
    samples = [
        ResidentSample(ts=ts, resident_id=resident_id, device_id=d, metric=Metric(m), value=v)
        for ts, d, m, v in rows
    ]
    summary = sleep_summary(
        samples, resident_id=resident_id, night=night, utc_offset_h=utc_offset_h
    )
    recent = sleep_summaries(conn, resident_id=resident_id, before=night, limit=history_nights)
    summary = compare_with_recent(summary, recent)
    store_sleep_summary(conn, summary)
    return summary
