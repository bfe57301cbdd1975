"""Writes a batch of decoded messages in one transaction (COPY to a staging table, then insert)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from eldercare.db import Backend
from ingest._availability import AvailabilityEvent, record_events
from ingest._records import Accepted, Decoded, Rejected, StatusUpdate

# Duplicates (same device, metric and device timestamp) are skipped by the primary key, so a message
# re-delivered after a crash or a broker restart never creates a second row.
_CREATE_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS readings_staging (
    ts timestamptz, device_id text, metric text, value double precision, seq bigint,
    received_at timestamptz
) ON COMMIT DELETE ROWS
"""
_COPY_STAGING = "COPY readings_staging (ts, device_id, metric, value, seq, received_at) FROM STDIN"
_INSERT_FROM_STAGING = """
INSERT INTO readings (ts, device_id, metric, value, seq, received_at)
SELECT DISTINCT ON (device_id, metric, ts) ts, device_id, metric, value, seq, received_at
FROM readings_staging
ORDER BY device_id, metric, ts, received_at
ON CONFLICT (device_id, metric, ts) DO NOTHING
"""
# Plain PostgreSQL keeps readings_1m itself: merge only the rows this statement inserted into their
# minute buckets (count, exact sum, min, max), so a batch costs what it adds and duplicates cost
# nothing. Buckets are upserted in key order so concurrent workers cannot deadlock on them.
_INSERT_AND_ROLL_UP = f"""
WITH inserted AS ({_INSERT_FROM_STAGING.strip()}
    RETURNING ts, device_id, metric, value
), merged AS (
    INSERT INTO readings_1m AS r (bucket, device_id, metric, n, total, mean, min, max)
    SELECT date_trunc('minute', ts), device_id, metric, count(*), sum(value), avg(value),
           min(value), max(value)
    FROM inserted
    GROUP BY 1, 2, 3
    ORDER BY 2, 3, 1
    ON CONFLICT (device_id, metric, bucket) DO UPDATE SET
        n = r.n + excluded.n,
        total = r.total + excluded.total,
        mean = (r.total + excluded.total) / (r.n + excluded.n),
        min = least(r.min, excluded.min),
        max = greatest(r.max, excluded.max)
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM merged)
"""
_QUARANTINE = "INSERT INTO quarantine (topic, payload, reason, received_at) VALUES (%s, %s, %s, %s)"
_DEVICE_STATUS = """
INSERT INTO device_status (device_id, state, state_changed_at, last_seen_at, battery, battery_at)
VALUES (%(device_id)s, %(state)s, %(changed_at)s, %(at)s, %(battery)s,
        CASE WHEN %(battery)s::real IS NOT NULL THEN %(at)s END)
ON CONFLICT (device_id) DO UPDATE SET
    state = coalesce(excluded.state, device_status.state),
    state_changed_at = coalesce(excluded.state_changed_at, device_status.state_changed_at),
    last_seen_at = greatest(device_status.last_seen_at, excluded.last_seen_at),
    battery = coalesce(excluded.battery, device_status.battery),
    battery_at = coalesce(excluded.battery_at, device_status.battery_at)
"""


_RESUME = """
UPDATE device_status s SET silent_since = NULL
FROM (SELECT device_id, silent_since FROM device_status
      WHERE device_id = ANY(%s) AND silent_since IS NOT NULL
      ORDER BY device_id FOR UPDATE) AS was
WHERE s.device_id = was.device_id
RETURNING was.device_id, was.silent_since
"""
_PREVIOUS_STATE = "SELECT state FROM device_status WHERE device_id = %s FOR UPDATE"


@dataclass(frozen=True, slots=True)
class WriteResult:
    readings_offered: int
    readings_stored: int
    quarantined: int
    statuses: int
    events: int = 0


def write_batch(
    conn: psycopg.Connection,
    batch: Sequence[Decoded],
    *,
    device_sites: dict[str, str],
    backend: Backend,
) -> WriteResult:
    """Write a batch in one transaction. `device_sites` maps every registered device to its site."""
    accepted: list[Accepted] = []
    statuses: list[StatusUpdate] = []
    rejected: list[Rejected] = []
    for item in batch:
        if isinstance(item, Rejected):
            rejected.append(item)
            continue
        known_site = device_sites.get(item.device_id)
        if known_site is None:
            rejected.append(Rejected(item.message, f"unknown device {item.device_id!r}"))
        elif known_site != item.site_id:
            rejected.append(
                Rejected(
                    item.message,
                    f"device {item.device_id!r} belongs to site {known_site!r}, "
                    f"not {item.site_id!r}",
                )
            )
        elif isinstance(item, Accepted):
            accepted.append(item)
        else:
            statuses.append(item)

    offered = stored = 0
    events: list[AvailabilityEvent] = []
    with conn.transaction():
        if accepted:
            conn.execute(_CREATE_STAGING)
            with conn.cursor().copy(_COPY_STAGING) as copy:
                for message in accepted:
                    for r in message.readings:
                        copy.write_row((r.ts, r.device_id, r.metric, r.value, r.seq, r.received_at))
                        offered += 1
            if backend is Backend.PLAIN:
                row = conn.execute(_INSERT_AND_ROLL_UP).fetchone()
                stored = row[0] if row else 0
            else:  # readings_1m is a continuous aggregate: never written here
                stored = conn.execute(_INSERT_FROM_STAGING).rowcount
            events += _touch_devices(conn, accepted)
        if rejected:
            conn.cursor().executemany(
                _QUARANTINE,
                [
                    (r.message.topic, r.message.payload, r.reason, r.message.received_at)
                    for r in rejected
                ],
            )
        for status in statuses:
            events += _set_state(conn, status)
        if events:
            record_events(conn, events)
    return WriteResult(
        readings_offered=offered,
        readings_stored=stored,
        quarantined=len(rejected),
        statuses=len(statuses),
        events=len(events),
    )


def _touch_devices(
    conn: psycopg.Connection, accepted: Sequence[Accepted]
) -> list[AvailabilityEvent]:
    """Record when data last arrived; a silent device that sends again has 'resumed'."""
    last_seen: dict[str, datetime] = {}
    for message in accepted:
        seen = message.message.received_at
        last_seen[message.device_id] = max(last_seen.get(message.device_id, seen), seen)
    devices = sorted(last_seen)
    resumed = conn.execute(_RESUME, (devices,)).fetchall()
    conn.cursor().executemany(
        _DEVICE_STATUS,
        [
            {"device_id": d, "state": None, "changed_at": None, "at": last_seen[d], "battery": None}
            for d in devices
        ],
    )
    return [
        AvailabilityEvent(
            device_id=device_id,
            kind="resumed",
            at=last_seen[device_id],
            detail={"silent_since": silent_since.isoformat()},
        )
        for device_id, silent_since in sorted(resumed)
    ]


def _set_state(conn: psycopg.Connection, status: StatusUpdate) -> list[AvailabilityEvent]:
    """Apply a birth/last-will message; an actual change of state is an event.

    Retained status messages arrive again on every (re)subscription: same state, no event.
    """
    at = status.message.received_at
    row = conn.execute(_PREVIOUS_STATE, (status.device_id,)).fetchone()
    previous = row[0] if row else None
    changed = previous != status.state
    conn.execute(
        _DEVICE_STATUS,
        {
            "device_id": status.device_id,
            "state": status.state,
            "changed_at": at if changed else None,
            "at": at,
            "battery": status.battery,
        },
    )
    if not changed:
        return []
    return [
        AvailabilityEvent(
            device_id=status.device_id,
            kind=status.state,
            at=at,
            detail={"previous": previous} if previous else {},
        )
    ]


def load_device_sites(conn: psycopg.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT device_id, site_id FROM devices").fetchall())
