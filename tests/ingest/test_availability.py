"""Birth/last will and silence become data-quality events and technician findings."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from devices import BP_CUFF, SMART_MATTRESS, StatusMessage, Topics, encode_status
from eldercare.db import Backend
from eldercare.registry import register_site
from ingest import (
    RawMessage,
    decode,
    load_device_sites,
    silence_allowance,
    sweep_silence,
    write_batch,
)
from tests.ingest.support import T0, vitals_payload
from tests.utils.ward import registered_ward

TOPICS = Topics("avail")
DEVICE = "home-a-mat001"


def _write(conn: psycopg.Connection, raw: RawMessage) -> None:
    sites = load_device_sites(conn)
    write_batch(conn, [decode(raw, TOPICS)], device_sites=sites, backend=Backend.PLAIN)


def _status(state: str, at_minutes: float, device: str = DEVICE) -> RawMessage:
    return RawMessage(
        topic=f"avail/v1/home-a/{device}/status",
        payload=encode_status(StatusMessage(state=state, device_ts=None)),  # type: ignore[arg-type]
        qos=1,
        mid=1,
        received_at=T0 + timedelta(minutes=at_minutes),
    )


def _vitals(at_minutes: float, device: str = DEVICE) -> RawMessage:
    at = T0 + timedelta(minutes=at_minutes)
    return RawMessage(
        topic=f"avail/v1/home-a/{device}/vitals",
        payload=vitals_payload(1, at),
        qos=1,
        mid=2,
        received_at=at,
    )


def _events(conn: psycopg.Connection) -> list[tuple[str, str, str | None]]:
    return conn.execute(
        "SELECT device_id, kind, resident_id FROM data_quality_events ORDER BY event_id"
    ).fetchall()


def test_silence_allowance_follows_the_catalogue_interval() -> None:
    assert silence_allowance(SMART_MATTRESS) == timedelta(seconds=60)  # 1 s reports, 60 s floor
    assert silence_allowance(BP_CUFF) == timedelta(hours=3)  # hourly: three missed readings


def test_birth_and_will_changes_are_events_repeats_are_not(conn: psycopg.Connection) -> None:
    beds = registered_ward(conn, site_id="home-a", residents=1, since=T0 - timedelta(days=1))
    resident = beds[0].bedside.resident_id
    _write(conn, _status("online", 0))
    _write(conn, _status("online", 1))  # retained birth re-delivered on re-subscribe: no event
    _write(conn, _status("offline", 2))  # last will
    _write(conn, _status("online", 3))
    assert _events(conn) == [
        (DEVICE, "online", resident),
        (DEVICE, "offline", resident),
        (DEVICE, "online", resident),
    ]
    findings = conn.execute(
        "SELECT resident_id, device_id, kind, channel, severity FROM findings"
    ).fetchall()
    assert findings == [(resident, DEVICE, "device_offline", "data_quality", "medium")]
    assert conn.execute("SELECT count(*) FROM findings WHERE channel = 'clinical'").fetchone() == (
        0,
    )


def test_silence_past_the_interval_then_resumed(conn: psycopg.Connection) -> None:
    beds = registered_ward(conn, site_id="home-a", residents=2, since=T0 - timedelta(days=1))
    quiet, chatty = beds[0].bedside.device_id, beds[1].bedside.device_id
    _write(conn, _vitals(0, quiet))
    _write(conn, _vitals(0.5, chatty))

    assert sweep_silence(conn, now=T0 + timedelta(seconds=59)) == []
    silent = sweep_silence(conn, now=T0 + timedelta(seconds=61))
    assert [(e.device_id, e.kind) for e in silent] == [(quiet, "silent")]
    assert sweep_silence(conn, now=T0 + timedelta(seconds=200)) != []  # now chatty too
    assert sweep_silence(conn, now=T0 + timedelta(seconds=300)) == []  # each only once

    _write(conn, _vitals(6, quiet))
    kinds = [(device, kind) for device, kind, _ in _events(conn)]
    assert kinds == [(quiet, "silent"), (chatty, "silent"), (quiet, "resumed")]
    finding = conn.execute(
        "SELECT kind, channel, started_at FROM findings WHERE device_id = %s", (quiet,)
    ).fetchone()
    assert finding == ("device_silent", "data_quality", T0)


def test_device_without_resident_gets_events_but_no_finding(conn: psycopg.Connection) -> None:
    register_site(conn, site_id="home-a", name="A", tier="care_home")
    conn.execute(
        "INSERT INTO devices (device_id, site_id, model) VALUES ('spare-1', 'home-a', 'bp_cuff')"
    )
    _write(conn, _status("offline", 0, device="spare-1"))
    assert _events(conn) == [("spare-1", "offline", None)]
    assert conn.execute("SELECT count(*) FROM findings").fetchone() == (0,)
