"""Device list and detail: availability, quarantine counts, data-quality state, tenancy, roles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from dashboard import Role, create_app
from devices import StatusMessage, Stream, Topics, encode_status
from eldercare.db import current_backend
from eldercare.settings import Settings
from ingest import RawMessage, decode, load_device_sites, write_batch
from tests.dashboard.read_world import HOME_A, HOME_B, alert, build_world, finding, minute, seen
from tests.utils.staff import staff_headers

MAT1, MAT2, MAT3 = (f"{HOME_A}-mat00{i}" for i in (1, 2, 3))


@pytest.fixture
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[TestClient]:
    build_world(conn, since=minute() - timedelta(days=2))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _quarantine(conn: psycopg.Connection, device_id: str, reason: str, age: timedelta) -> None:
    conn.execute(
        "INSERT INTO quarantine (topic, payload, reason, received_at) VALUES (%s, '', %s, %s)",
        (f"ns/v1/{HOME_A}/{device_id}/vitals", reason, minute() - age),
    )


def test_site_admin_lists_own_devices_with_state_and_quarantine_counts(
    client: TestClient, conn: psycopg.Connection
) -> None:
    now = minute()
    seen(conn, MAT1, now)
    seen(conn, MAT2, now - timedelta(minutes=30))
    _quarantine(conn, MAT1, "bad json", timedelta(hours=1))
    _quarantine(conn, MAT1, "out of range", timedelta(days=3))
    dq = alert(
        conn,
        f"{HOME_A}-r002",
        "device_silent",
        severity="medium",
        channel="data_quality",
        started_at=now,
    )
    finding(
        conn,
        f"{HOME_A}-r002",
        "device_silent",
        at=now,
        evidence={},
        device_id=MAT2,
        channel="data_quality",
        alert_id=dq,
    )
    headers = staff_headers(conn, Role.SITE_ADMIN, site_id=HOME_A)

    page = client.get("/api/devices?limit=10", headers=headers).json()

    assert page["count"] == 4
    by_id = {d["device_id"]: d for d in page["data"]}
    assert set(by_id) == {f"{HOME_A}-cuff001", MAT1, MAT2, MAT3}
    assert by_id[MAT1]["state"] == "online"
    assert by_id[MAT1]["quarantined_24h"] == 1 and by_id[MAT1]["quarantined_total"] == 2
    assert by_id[MAT1]["resident_id"] == f"{HOME_A}-r001"
    assert by_id[MAT1]["bed_label"] == f"{HOME_A}-bed001"
    assert by_id[MAT2]["state"] == "silent"
    assert by_id[MAT2]["open_data_quality"] == ["device_silent"]
    assert by_id[MAT3]["state"] == "never_seen" and by_id[MAT3]["last_seen_at"] is None
    assert client.get(f"/api/devices?site_id={HOME_B}", headers=headers).json() == {
        "data": [],
        "count": 0,
    }


def test_device_detail_has_quarantine_by_reason_and_recent_status(
    client: TestClient, conn: psycopg.Connection
) -> None:
    now = minute()
    seen(conn, MAT1, now)
    _quarantine(conn, MAT1, "bad json", timedelta(hours=1))
    _quarantine(conn, MAT1, "bad json", timedelta(hours=2))
    _quarantine(conn, MAT1, "out of range", timedelta(hours=3))
    conn.execute(
        "INSERT INTO data_quality_events (device_id, site_id, kind, at)"
        " VALUES (%s, %s, 'silent', %s), (%s, %s, 'resumed', %s)",
        (MAT1, HOME_A, now - timedelta(minutes=9), MAT1, HOME_A, now - timedelta(minutes=1)),
    )
    headers = staff_headers(conn, Role.NURSE, site_id=HOME_A)
    detail = client.get(f"/api/devices/{MAT1}", headers=headers).json()
    assert detail["quarantine_by_reason"] == {"bad json": 2, "out of range": 1}
    assert [e["kind"] for e in detail["recent_status"]] == ["resumed", "silent"]
    assert detail["battery_pct"] is None and detail["model"] == "smart_mattress"
    (audit,) = conn.execute(
        "SELECT resident_id, site_id FROM access_audit WHERE route = '/api/devices/{device_id}'"
    ).fetchall()
    assert audit == (f"{HOME_A}-r001", HOME_A)


def test_foreign_device_is_404_and_specialist_is_403(
    client: TestClient, conn: psycopg.Connection
) -> None:
    nurse_b = staff_headers(conn, Role.NURSE, site_id=HOME_B)
    foreign = client.get(f"/api/devices/{MAT1}", headers=nurse_b)
    unknown = client.get("/api/devices/nothing", headers=nurse_b)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()
    listed = client.get("/api/devices", headers=nurse_b).json()
    assert {d["site_id"] for d in listed["data"]} == {HOME_B}
    specialist = staff_headers(conn, Role.SPECIALIST, site_id=HOME_A)
    assert client.get("/api/devices", headers=specialist).status_code == 403


def test_battery_and_last_will_reach_the_device_page(
    client: TestClient, conn: psycopg.Connection
) -> None:
    """Status messages go through ingest's real decoder and writer: the reported charge shows as
    percent, and a last will ("offline") shows the device offline, not online."""
    now = minute()
    seen(conn, MAT1, now)
    topics = Topics("ns")

    def status(state: str, battery: float | None) -> None:
        raw = RawMessage(
            topic=topics.topic(HOME_A, MAT1, Stream.STATUS),
            payload=encode_status(StatusMessage(state=state, device_ts=now, battery=battery)),
            qos=1,
            mid=1,
            received_at=now,
        )
        write_batch(
            conn,
            [decode(raw, topics)],
            device_sites=load_device_sites(conn),
            backend=current_backend(conn),
        )

    status("online", 0.42)
    headers = staff_headers(conn, Role.NURSE, site_id=HOME_A)
    device = client.get(f"/api/devices/{MAT1}", headers=headers).json()
    assert (device["state"], device["battery_pct"]) == ("online", 42)
    status("offline", None)  # the broker publishes the last will without a charge
    device = client.get(f"/api/devices/{MAT1}", headers=headers).json()
    assert (device["state"], device["battery_pct"]) == ("offline", 42)
