"""The batch writer on a real PostgreSQL: idempotent, order-tolerant, keeps every rejection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from devices import (
    Metric,
    Sample,
    StatusMessage,
    Topics,
    VitalsMessage,
    encode_status,
    encode_vitals,
)
from eldercare.db import Backend
from ingest import RawMessage, decode, load_device_sites, write_batch
from tests.utils.ward import registered_ward

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
TOPICS = Topics("writer-test")


def vitals(device_id: str, seq: int, *samples: tuple[datetime, float], site: str = "home-a"):
    message = VitalsMessage(
        seq=seq,
        samples=tuple(
            Sample(device_ts=ts, values=((Metric.HEART_RATE, hr), (Metric.BED_PRESENCE, 1.0)))
            for ts, hr in samples
        ),
    )
    raw = RawMessage(
        topic=f"writer-test/v1/{site}/{device_id}/vitals",
        payload=encode_vitals(message),
        qos=1,
        mid=seq,
        received_at=T0 + timedelta(minutes=5),
    )
    return decode(raw, TOPICS)


def test_batch_is_stored_once_even_when_written_again(conn: psycopg.Connection) -> None:
    registered_ward(conn, site_id="home-a", residents=1, since=T0 - timedelta(days=1))
    sites = load_device_sites(conn)
    batch = [
        vitals("home-a-mat001", 1, (T0, 70.0), (T0 + timedelta(seconds=1), 72.0)),
        vitals("home-a-mat001", 2, (T0 + timedelta(seconds=2), 74.0)),
    ]
    first = write_batch(conn, batch, device_sites=sites, backend=Backend.PLAIN)
    again = write_batch(conn, batch, device_sites=sites, backend=Backend.PLAIN)
    assert (first.readings_offered, first.readings_stored) == (6, 6)
    assert (again.readings_offered, again.readings_stored) == (6, 0)
    assert conn.execute("SELECT count(*) FROM readings").fetchone() == (6,)


def test_late_sample_is_stored_in_place_and_rollup_recomputed(conn: psycopg.Connection) -> None:
    registered_ward(conn, site_id="home-a", residents=1, since=T0 - timedelta(days=1))
    sites = load_device_sites(conn)
    write_batch(
        conn,
        [vitals("home-a-mat001", 2, (T0 + timedelta(seconds=30), 80.0))],
        device_sites=sites,
        backend=Backend.PLAIN,
    )
    write_batch(  # arrives later, measured earlier
        conn,
        [vitals("home-a-mat001", 1, (T0 + timedelta(seconds=10), 60.0))],
        device_sites=sites,
        backend=Backend.PLAIN,
    )
    values = conn.execute(
        "SELECT value FROM readings WHERE metric = 'heart_rate' ORDER BY ts"
    ).fetchall()
    assert values == [(60.0,), (80.0,)]
    rollup = conn.execute(
        "SELECT bucket, n, mean, min, max FROM readings_1m WHERE metric = 'heart_rate'"
    ).fetchall()
    assert rollup == [(T0, 2, 70.0, 60.0, 80.0)]


def test_unknown_device_wrong_site_and_bad_payload_are_quarantined_with_reasons(
    conn: psycopg.Connection,
) -> None:
    registered_ward(conn, site_id="home-a", residents=1, since=T0 - timedelta(days=1))
    sites = load_device_sites(conn)
    bad = RawMessage(
        topic="writer-test/v1/home-a/home-a-mat001/vitals",
        payload=b'{"schema": 1, "seq": "x"}',
        qos=1,
        mid=9,
        received_at=T0,
    )
    batch = [
        vitals("ghost-device", 1, (T0, 70.0)),
        vitals("home-a-mat001", 1, (T0, 70.0), site="home-b"),
        decode(bad, TOPICS),
        vitals("home-a-mat001", 3, (T0, 71.0)),  # valid, interleaved: must be stored
    ]
    result = write_batch(conn, batch, device_sites=sites, backend=Backend.PLAIN)
    assert result.quarantined == 3
    assert result.readings_stored == 2
    rows = conn.execute("SELECT topic, payload, reason FROM quarantine ORDER BY 1, 3").fetchall()
    reasons = [reason for _, _, reason in rows]
    assert any("unknown device 'ghost-device'" in r for r in reasons)
    assert any("belongs to site 'home-a', not 'home-b'" in r for r in reasons)
    assert any("schema violation" in r and "seq" in r for r in reasons)
    assert bytes(next(p for _, p, r in rows if "schema" in r)) == bad.payload


def test_status_and_data_update_device_availability(conn: psycopg.Connection) -> None:
    registered_ward(conn, site_id="home-a", residents=1, since=T0 - timedelta(days=1))
    sites = load_device_sites(conn)
    status = RawMessage(
        topic="writer-test/v1/home-a/home-a-mat001/status",
        payload=encode_status(StatusMessage(state="offline", device_ts=None)),
        qos=1,
        mid=4,
        received_at=T0,
    )
    write_batch(conn, [decode(status, TOPICS)], device_sites=sites, backend=Backend.PLAIN)
    write_batch(
        conn, [vitals("home-a-mat001", 5, (T0, 70.0))], device_sites=sites, backend=Backend.PLAIN
    )
    row = conn.execute("SELECT state, state_changed_at, last_seen_at FROM device_status").fetchone()
    assert row == ("offline", T0, T0 + timedelta(minutes=5))
