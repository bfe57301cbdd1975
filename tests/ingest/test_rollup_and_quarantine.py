"""The incremental readings_1m merge stays exact; quarantined messages are listed, replayed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from typer.testing import CliRunner

from devices import Topics
from eldercare.cli import app
from eldercare.db import Backend
from eldercare.registry import Bedside, register_bedside
from eldercare.settings import Settings
from ingest import (
    IngestService,
    RawMessage,
    Rejected,
    decode,
    list_quarantine,
    load_device_sites,
    replay_quarantine,
    write_batch,
)
from tests.ingest.support import T0, vitals_payload
from tests.utils.ward import registered_ward

TOPICS = Topics("rq")
RECOMPUTED = """
SELECT date_trunc('minute', ts), device_id, metric, count(*)::int, avg(value), min(value),
       max(value)
FROM readings GROUP BY 1, 2, 3 ORDER BY 2, 3, 1
"""
ROLLUP = "SELECT bucket, device_id, metric, n, mean, min, max FROM readings_1m ORDER BY 2, 3, 1"


def _raw(device: str, seq: int, ts: datetime, hr: float, site: str = "home-a") -> RawMessage:
    return RawMessage(
        topic=f"rq/v1/{site}/{device}/vitals",
        payload=vitals_payload(seq, ts, hr),
        qos=1,
        mid=seq,
        received_at=T0 + timedelta(hours=1),
    )


def test_rollup_merges_batches_and_ignores_duplicates(conn: psycopg.Connection) -> None:
    beds = registered_ward(conn, site_id="home-a", residents=2, since=T0 - timedelta(days=1))
    devices = [b.bedside.device_id for b in beds]
    sites = load_device_sites(conn)
    messages = [
        _raw(devices[i % 2], i, T0 + timedelta(seconds=7 * i), 50.0 + (i * 37) % 90)
        for i in range(40)
    ]
    # Out of order, overlapping batches, and the same messages again.
    for chunk in (messages[20:], messages[:25], messages[10:30], messages):
        batch = [decode(m, TOPICS) for m in chunk]
        write_batch(conn, batch, device_sites=sites, backend=Backend.PLAIN)
    assert conn.execute("SELECT count(*) FROM readings").fetchone() == (80,)
    rollup = conn.execute(ROLLUP).fetchall()
    expected = conn.execute(RECOMPUTED).fetchall()
    assert len(rollup) == len(expected)
    for got, want in zip(rollup, expected, strict=True):
        assert got[:4] == want[:4] and got[5:] == want[5:]
        assert abs(got[4] - want[4]) < 1e-9


def test_rejected_message_is_listed_and_replayed_after_the_device_is_registered(
    conn: psycopg.Connection,
) -> None:
    registered_ward(conn, site_id="home-a", residents=1, since=T0 - timedelta(days=1))
    late_device = _raw("home-a-new01", 1, T0, 72.0)
    bad_json = RawMessage("rq/v1/home-a/home-a-mat001/vitals", b"{oops", 1, 2, T0)
    write_batch(
        conn,
        [decode(late_device, TOPICS), decode(bad_json, TOPICS)],
        device_sites=load_device_sites(conn),
        backend=Backend.PLAIN,
    )
    listed = list_quarantine(conn)
    assert {q.reason.split(":")[0] for q in listed} == {
        "unknown device 'home-a-new01'",
        "not valid JSON",
    }
    assert all(q.topic and q.payload and q.received_at for q in listed)

    register_bedside(
        conn,
        Bedside(
            site_id="home-a",
            resident_id="home-a-res-new",
            display_name="New",
            bed_id="home-a-bed-new",
            device_id="home-a-new01",
            device_model="smart_mattress",
        ),
        since=T0 - timedelta(days=1),
    )
    now = datetime(2026, 11, 25, tzinfo=UTC)
    outcomes = replay_quarantine(conn, namespace="rq", now=now)
    assert sorted((o.replayed, o.reason.split(":")[0]) for o in outcomes) == [
        (False, "not valid JSON"),
        (True, "2 reading(s) stored, 0 already present"),
    ]
    assert conn.execute("SELECT count(*) FROM readings").fetchone() == (2,)
    pending = list_quarantine(conn)
    assert len(pending) == 1 and pending[0].reason.startswith("not valid JSON")
    assert len(list_quarantine(conn, include_replayed=True)) == 2
    assert replay_quarantine(conn, namespace="rq", now=now)[0].replayed is False  # idempotent


def test_quarantine_and_status_commands(conn: psycopg.Connection, database_url: str) -> None:
    registered_ward(conn, site_id="home-a", residents=1, since=T0 - timedelta(days=1))
    ghost = _raw("ghost", 1, T0, 70.0)
    write_batch(
        conn,
        [decode(ghost, TOPICS)],
        device_sites=load_device_sites(conn),
        backend=Backend.PLAIN,
    )
    env = {"ELDERCARE_DATABASE_URL": database_url, "ELDERCARE_MQTT_NAMESPACE": "rq"}
    runner = CliRunner()
    listed = runner.invoke(app, ["quarantine", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "unknown device 'ghost'" in listed.output and "1 message(s)" in listed.output
    replayed = runner.invoke(app, ["quarantine", "replay"], env=env)
    assert replayed.exit_code == 0, replayed.output
    assert "0 replayed, 1 still rejected" in replayed.output
    status = runner.invoke(app, ["status"], env=env)
    assert status.exit_code == 0, status.output
    assert "1 message(s) awaiting replay" in status.output


def test_a_message_the_database_refuses_is_quarantined_and_the_rest_stored(
    settings: Settings, conn: psycopg.Connection, database_url: str
) -> None:
    registered_ward(conn, site_id="home-a", residents=1, since=T0 - timedelta(days=1))
    # A NUL in a topic cannot be stored as text (brokers refuse such topics; this is the fallback).
    refused = Rejected(RawMessage("rq/v1/home-a/x\x00y/vitals", b"{}", 1, 1, T0), "bad topic")
    good = decode(_raw("home-a-mat001", 2, T0, 71.0), TOPICS)
    service = IngestService(settings)
    service._backend = Backend.PLAIN
    with psycopg.connect(database_url) as writer_conn:
        result = service._write(writer_conn, [refused, good], load_device_sites(writer_conn))
    assert (result.quarantined, result.readings_stored) == (1, 2)
    (row,) = conn.execute("SELECT topic, reason FROM quarantine").fetchall()
    assert row[0] == "rq/v1/home-a/x\\x00y/vitals"
    assert row[1].startswith("database refused the message")
