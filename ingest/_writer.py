"""Writes a batch of decoded messages in one transaction (COPY to a staging table, then insert)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from eldercare.db import Backend
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
# Plain PostgreSQL keeps readings_1m itself: recompute every minute bucket this batch touched.
_REFRESH_ROLLUP = """
INSERT INTO readings_1m (bucket, device_id, metric, n, mean, min, max)
SELECT date_trunc('minute', r.ts), r.device_id, r.metric, count(*), avg(r.value),
       min(r.value), max(r.value)
FROM readings r
JOIN (SELECT DISTINCT device_id, metric, date_trunc('minute', ts) AS bucket
      FROM readings_staging) touched
  ON r.device_id = touched.device_id AND r.metric = touched.metric
 AND r.ts >= touched.bucket AND r.ts < touched.bucket + interval '1 minute'
GROUP BY 1, 2, 3
ON CONFLICT (device_id, metric, bucket)
DO UPDATE SET n = excluded.n, mean = excluded.mean, min = excluded.min, max = excluded.max
"""
_QUARANTINE = "INSERT INTO quarantine (topic, payload, reason, received_at) VALUES (%s, %s, %s, %s)"
_DEVICE_STATUS = """
INSERT INTO device_status (device_id, state, state_changed_at, last_seen_at)
VALUES (%(device_id)s, %(state)s, %(changed_at)s, %(at)s)
ON CONFLICT (device_id) DO UPDATE SET
    state = coalesce(excluded.state, device_status.state),
    state_changed_at = coalesce(excluded.state_changed_at, device_status.state_changed_at),
    last_seen_at = greatest(device_status.last_seen_at, excluded.last_seen_at)
"""


@dataclass(frozen=True, slots=True)
class WriteResult:
    readings_offered: int
    readings_stored: int
    quarantined: int
    statuses: int


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
    with conn.transaction():
        if accepted:
            conn.execute(_CREATE_STAGING)
            with conn.cursor().copy(_COPY_STAGING) as copy:
                for message in accepted:
                    for r in message.readings:
                        copy.write_row((r.ts, r.device_id, r.metric, r.value, r.seq, r.received_at))
                        offered += 1
            stored = conn.execute(_INSERT_FROM_STAGING).rowcount
            if backend is Backend.PLAIN:
                conn.execute(_REFRESH_ROLLUP)
            _touch_devices(conn, accepted)
        if rejected:
            conn.cursor().executemany(
                _QUARANTINE,
                [
                    (r.message.topic, r.message.payload, r.reason, r.message.received_at)
                    for r in rejected
                ],
            )
        for status in statuses:
            conn.execute(
                _DEVICE_STATUS,
                {
                    "device_id": status.device_id,
                    "state": status.state,
                    "changed_at": status.message.received_at,
                    "at": status.message.received_at,
                },
            )
    return WriteResult(
        readings_offered=offered,
        readings_stored=stored,
        quarantined=len(rejected),
        statuses=len(statuses),
    )


def _touch_devices(conn: psycopg.Connection, accepted: Sequence[Accepted]) -> None:
    last_seen: dict[str, datetime] = {}
    for message in accepted:
        seen = message.message.received_at
        last_seen[message.device_id] = max(last_seen.get(message.device_id, seen), seen)
    conn.cursor().executemany(
        _DEVICE_STATUS,
        [
            {"device_id": d, "state": None, "changed_at": None, "at": at}
            for d, at in sorted(last_seen.items())
        ],
    )


def load_device_sites(conn: psycopg.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT device_id, site_id FROM devices").fetchall())
