"""A small registered network for the read-model tests: two care homes, beds with mattresses (and
a BP cuff on the first bed of home-a), and helpers that write what ingest and the alerts stage
would have written (rollups, device status, alerts, findings)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from devices import BP_CUFF
from eldercare.registry import Bedside, register_bedside
from tests.utils.ward import registered_ward

HOME_A, HOME_B = "home-a", "home-b"


def minute(now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)).replace(second=0, microsecond=0)


def build_world(conn: psycopg.Connection, *, since: datetime) -> None:
    registered_ward(conn, site_id=HOME_A, residents=3, since=since)
    registered_ward(conn, site_id=HOME_B, residents=2, since=since)
    register_bedside(
        conn,
        Bedside(
            site_id=HOME_A,
            resident_id=f"{HOME_A}-r001",
            display_name="Wang Fang",
            bed_id=f"{HOME_A}-bed001",
            device_id=f"{HOME_A}-cuff001",
            device_model=BP_CUFF.key,
        ),
        since=since,
    )


def rollup(
    conn: psycopg.Connection,
    device_id: str,
    metric: str,
    bucket: datetime,
    mean: float,
    *,
    n: int = 60,
    low: float | None = None,
    high: float | None = None,
) -> None:
    conn.execute(
        "INSERT INTO readings_1m (bucket, device_id, metric, n, mean, min, max, total)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            bucket,
            device_id,
            metric,
            n,
            mean,
            mean if low is None else low,
            mean if high is None else high,
            mean * n,
        ),
    )


def seen(conn: psycopg.Connection, device_id: str, at: datetime, silent_since: Any = None) -> None:
    conn.execute(
        "INSERT INTO device_status (device_id, state, state_changed_at, last_seen_at, silent_since)"
        " VALUES (%s, 'online', %s, %s, %s)",
        (device_id, at - timedelta(hours=1), at, silent_since),
    )


def alert(
    conn: psycopg.Connection,
    resident_id: str,
    kind: str,
    *,
    severity: str,
    channel: str = "clinical",
    started_at: datetime,
    state: str = "open",
    site_id: str = HOME_A,
) -> int:
    row = conn.execute(
        "INSERT INTO alerts (resident_id, site_id, kind, channel, severity, state, started_at,"
        " detected_at, last_seen_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING alert_id",
        (resident_id, site_id, kind, channel, severity, state, started_at, started_at, started_at),
    ).fetchone()
    assert row is not None
    return int(row[0])


def finding(
    conn: psycopg.Connection,
    resident_id: str,
    kind: str,
    *,
    at: datetime,
    evidence: dict[str, Any],
    device_id: str | None = None,
    channel: str = "clinical",
    alert_id: int | None = None,
    severity: str = "medium",
) -> None:
    conn.execute(
        "INSERT INTO findings (resident_id, device_id, kind, severity, channel, started_at,"
        " detected_at, evidence, detector, detector_version, alert_id)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'test', '1', %s)",
        (resident_id, device_id, kind, severity, channel, at, at, Jsonb(evidence), alert_id),
    )
