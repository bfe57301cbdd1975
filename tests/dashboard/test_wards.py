"""Sites and the ward overview (and its SSE stream) on real PostgreSQL through the ASGI app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from dashboard import Role, create_app
from eldercare.settings import Settings
from tests.dashboard.read_world import HOME_A, HOME_B, alert, build_world, minute, rollup, seen
from tests.utils.staff import staff_headers


@pytest.fixture
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[TestClient]:
    build_world(conn, since=minute() - timedelta(days=2))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_ward_overview_shows_vitals_bp_and_separate_clinical_and_data_quality_states(
    client: TestClient, conn: psycopg.Connection
) -> None:
    now = minute()
    mat1, mat2, mat3 = (f"{HOME_A}-mat00{i}" for i in (1, 2, 3))
    rollup(conn, mat1, "heart_rate", now - timedelta(minutes=2), 70.0)
    rollup(conn, mat1, "heart_rate", now - timedelta(minutes=1), 72.4)
    rollup(conn, mat1, "respiration_rate", now - timedelta(minutes=1), 16.0)
    rollup(conn, mat1, "bed_presence", now - timedelta(minutes=1), 1.0)
    rollup(conn, mat2, "bed_presence", now - timedelta(minutes=1), 0.0)
    cuff = f"{HOME_A}-cuff001"
    rollup(conn, cuff, "systolic_bp", now - timedelta(hours=2), 128.0, n=1)
    rollup(conn, cuff, "diastolic_bp", now - timedelta(hours=2), 81.0, n=1)
    rollup(conn, cuff, "systolic_bp", now - timedelta(days=9), 170.0, n=1)
    seen(conn, mat1, now)
    seen(conn, mat2, now - timedelta(minutes=10))  # silent for longer than 2 min
    r1 = f"{HOME_A}-r001"
    alert(conn, r1, "bradypnoea", severity="medium", started_at=now - timedelta(minutes=30))
    worst = alert(conn, r1, "tachycardia", severity="high", started_at=now - timedelta(minutes=5))
    alert(conn, r1, "apnea", severity="critical", started_at=now, state="resolved")
    dq = alert(
        conn,
        f"{HOME_A}-r003",
        "device_silent",
        severity="medium",
        channel="data_quality",
        started_at=now - timedelta(minutes=7),
    )
    headers = staff_headers(conn, Role.NURSE, site_id=HOME_A)

    answer = client.get(f"/api/sites/{HOME_A}/ward", headers=headers)

    assert answer.status_code == 200, answer.text
    ward = answer.json()
    assert ward["site_id"] == HOME_A and ward["site_name"] == f"Test site {HOME_A}"
    beds = ward["beds"]
    assert [b["bed_label"] for b in beds] == sorted(b["bed_label"] for b in beds)
    assert len(beds) == 3
    one, two, three = beds
    assert one["resident_id"] == r1 and one["resident_name"] == "Wang Fang"
    assert one["presence"] == "in_bed" and two["presence"] == "out_of_bed"
    assert one["heart_rate"]["value"] == 72.4 and one["heart_rate"]["unit"] == "/min"
    assert one["respiration_rate"]["value"] == 16.0 and one["spo2"] is None
    assert one["last_bp"]["systolic"] == 128 and one["last_bp"]["diastolic"] == 81
    assert one["last_bp"]["unit"] == "mm[Hg]"
    assert one["clinical"]["alert_id"] == worst and one["clinical"]["severity"] == "high"
    assert one["data_quality"] is None
    assert {d["device_id"] for d in one["devices"]} == {mat1, cuff}
    assert two["clinical"] is None
    assert two["data_quality"] == {
        "alert_id": None,
        "kind": "device_silent",
        "since": two["devices"][0]["last_seen_at"],
    }
    assert three["heart_rate"] is None and three["presence"] is None
    assert three["data_quality"]["alert_id"] == dq and three["clinical"] is None


def test_ward_values_come_from_rollups_not_raw_readings(
    client: TestClient, conn: psycopg.Connection
) -> None:
    now = minute()
    conn.execute(
        "INSERT INTO readings (ts, device_id, metric, value, received_at)"
        " VALUES (%s, %s, 'heart_rate', 99, %s)",
        (now, f"{HOME_A}-mat002", now),
    )
    headers = staff_headers(conn, Role.NURSE, site_id=HOME_A)
    beds = client.get(f"/api/sites/{HOME_A}/ward", headers=headers).json()["beds"]
    assert beds[1]["heart_rate"] is None


def test_sites_lists_only_the_users_sites(client: TestClient, conn: psycopg.Connection) -> None:
    headers = staff_headers(conn, Role.NURSE, site_id=HOME_A)
    sites = client.get("/api/sites", headers=headers).json()
    assert sites == [{"site_id": HOME_A, "name": f"Test site {HOME_A}", "tier": "care_home"}]


def test_foreign_or_unknown_ward_is_404_and_site_admin_is_403(
    client: TestClient, conn: psycopg.Connection
) -> None:
    nurse = staff_headers(conn, Role.NURSE, site_id=HOME_A)
    foreign = client.get(f"/api/sites/{HOME_B}/ward", headers=nurse)
    unknown = client.get("/api/sites/nowhere/ward", headers=nurse)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()
    admin = staff_headers(conn, Role.SITE_ADMIN, site_id=HOME_A)
    refused = client.get(f"/api/sites/{HOME_A}/ward", headers=admin)
    assert refused.status_code == 403 and "site_admin" in refused.json()["detail"]
    assert client.get(f"/api/sites/{HOME_A}/ward/stream", headers=admin).status_code == 403


def test_ward_stream_sends_the_overview_as_a_ward_event(
    client: TestClient, conn: psycopg.Connection
) -> None:
    rollup(conn, f"{HOME_A}-mat001", "heart_rate", minute() - timedelta(minutes=1), 66.0)
    headers = staff_headers(conn, Role.NURSE, site_id=HOME_A)
    events = []
    with client.stream(
        "GET", f"/api/sites/{HOME_A}/ward/stream?limit=1", headers=headers, timeout=10
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        event: dict[str, str] = {}
        for line in stream.iter_lines():
            if line.startswith(("event:", "data:")):
                key, _, value = line.partition(":")
                event[key] = value.strip()
            elif not line and event:
                events.append(event)
                event = {}
    assert [e["event"] for e in events] == ["ward"]
    ward = json.loads(events[0]["data"])
    assert ward["site_id"] == HOME_A
    assert ward["beds"][0]["heart_rate"]["value"] == 66.0
    nurse_b = staff_headers(conn, Role.NURSE, site_id=HOME_B)
    assert client.get(f"/api/sites/{HOME_A}/ward/stream", headers=nurse_b).status_code == 404
