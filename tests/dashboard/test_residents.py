"""Residents' list, record (NEWS2, alerts, risk tier), chart from rollups and notes, on real
PostgreSQL through the ASGI app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from dashboard import Role, create_app
from eldercare.settings import Settings
from tests.dashboard.read_world import HOME_A, HOME_B, alert, build_world, finding, minute, rollup
from tests.utils.staff import staff_headers

R1 = f"{HOME_A}-r001"
MAT1 = f"{HOME_A}-mat001"


@pytest.fixture
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[TestClient]:
    build_world(conn, since=minute() - timedelta(days=10))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_list_is_own_site_only_and_paged(client: TestClient, conn: psycopg.Connection) -> None:
    headers = staff_headers(conn, Role.NURSE, site_id=HOME_A)
    page = client.get("/api/residents?limit=2", headers=headers).json()
    assert page["count"] == 3 and len(page["data"]) == 2
    assert page["data"][0] == {
        "resident_id": R1,
        "display_name": "Wang Fang",
        "site_id": HOME_A,
        "bed_label": f"{HOME_A}-bed001",
        "risk_tier": "medium",
    }
    foreign = client.get(f"/api/residents?site_id={HOME_B}", headers=headers).json()
    assert foreign == {"data": [], "count": 0}
    admin = staff_headers(conn, Role.SITE_ADMIN, site_id=HOME_A)
    assert client.get("/api/residents", headers=admin).status_code == 403


def test_record_shows_partial_news2_as_partial_open_alerts_and_temporary_tier(
    client: TestClient, conn: psycopg.Connection
) -> None:
    now = minute()
    conn.execute(
        "UPDATE residents SET risk_tier = 'high', risk_tier_until = %s, risk_tier_after = 'low'"
        " WHERE resident_id = %s",
        (now + timedelta(days=3), R1),
    )
    finding(
        conn,
        R1,
        "news2_aggregate",
        at=now - timedelta(hours=2),
        evidence={"score": 2, "complete": True, "missing": [], "parameter_scores": {"a": 2}},
    )
    finding(
        conn,
        R1,
        "news2_aggregate",
        at=now - timedelta(minutes=5),
        evidence={
            "score": 5,
            "complete": False,
            "partial": True,
            "missing": ["temperature", "consciousness", "supplemental_oxygen"],
            "parameter_scores": {"respiration_rate": 3, "heart_rate": 2},
        },
    )
    open_id = alert(conn, R1, "tachycardia", severity="high", started_at=now)
    alert(conn, R1, "apnea", severity="high", started_at=now, state="resolved")
    headers = staff_headers(conn, Role.NURSE, site_id=HOME_A)

    record = client.get(f"/api/residents/{R1}", headers=headers).json()

    assert record["site_name"] == f"Test site {HOME_A}"
    assert record["bed_label"] == f"{HOME_A}-bed001"
    assert record["risk_tier"] == "high" and record["risk_tier_until"] is not None
    news2 = record["news2"]
    assert news2["score"] == 5 and news2["complete"] is False
    assert news2["missing"] == ["temperature", "consciousness", "supplemental_oxygen"]
    assert news2["parameters"] == {"respiration_rate": 3, "heart_rate": 2}
    assert [a["alert_id"] for a in record["open_alerts"]] == [open_id]
    assert record["latest_sleep"] is None
    audit = conn.execute(
        "SELECT resident_id, site_id, action FROM access_audit WHERE route = %s",
        ("/api/residents/{resident_id}",),
    ).fetchall()
    assert audit == [(R1, HOME_A, "read")]


def test_expired_temporary_tier_is_the_after_tier(
    client: TestClient, conn: psycopg.Connection
) -> None:
    conn.execute(
        "UPDATE residents SET risk_tier = 'high', risk_tier_until = %s, risk_tier_after = 'low'"
        " WHERE resident_id = %s",
        (minute() - timedelta(hours=1), R1),
    )
    headers = staff_headers(conn, Role.NURSE, site_id=HOME_A)
    record = client.get(f"/api/residents/{R1}", headers=headers).json()
    assert record["risk_tier"] == "low" and record["risk_tier_until"] is None


def test_foreign_resident_is_404_and_specialist_without_a_case_is_404(
    client: TestClient, conn: psycopg.Connection
) -> None:
    nurse_b = staff_headers(conn, Role.NURSE, site_id=HOME_B)
    foreign = client.get(f"/api/residents/{R1}", headers=nurse_b)
    unknown = client.get("/api/residents/nobody", headers=nurse_b)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()
    for path in ("chart", "notes"):
        assert client.get(f"/api/residents/{R1}/{path}", headers=nurse_b).status_code == 404
    specialist = staff_headers(conn, Role.SPECIALIST, site_id=HOME_B)
    assert client.get(f"/api/residents/{R1}", headers=specialist).status_code == 404
    admin = staff_headers(conn, Role.SITE_ADMIN, site_id=HOME_A)
    assert client.get(f"/api/residents/{R1}", headers=admin).status_code == 403
    assert client.get(f"/api/residents/{R1}/chart", headers=admin).status_code == 403


def test_chart_reads_rollups_only_with_alerts_and_findings(
    client: TestClient, conn: psycopg.Connection
) -> None:
    now = minute()
    for i in range(1, 4):
        rollup(conn, MAT1, "heart_rate", now - timedelta(minutes=i), 60.0 + i, low=50, high=80)
    rollup(conn, MAT1, "heart_rate", now - timedelta(hours=25), 99.0)  # outside 24 h
    rollup(conn, f"{HOME_A}-mat002", "heart_rate", now - timedelta(minutes=1), 120.0)
    # A raw reading of a metric with no rollup: the chart never reads the raw table.
    conn.execute(
        "INSERT INTO readings (ts, device_id, metric, value, received_at)"
        " VALUES (%s, %s, 'respiration_rate', 14, %s)",
        (now - timedelta(minutes=1), MAT1, now),
    )
    alert(conn, R1, "tachycardia", severity="high", started_at=now - timedelta(minutes=2))
    finding(conn, R1, "tachycardia", at=now - timedelta(minutes=2), evidence={})
    headers = staff_headers(conn, Role.NURSE, site_id=HOME_A)

    chart = client.get(f"/api/residents/{R1}/chart?window=24h", headers=headers).json()

    assert chart["window"] == "24h" and chart["bucket_seconds"] == 60
    assert [s["metric"] for s in chart["series"]] == ["heart_rate"]
    series = chart["series"][0]
    assert series["unit"] == "/min"
    assert [p[1:] for p in series["points"]] == [[63, 50, 80], [62, 50, 80], [61, 50, 80]]
    assert [a["kind"] for a in chart["alerts"]] == ["tachycardia"]
    assert [f["kind"] for f in chart["findings"]] == ["tachycardia"]


def test_week_chart_bins_ten_minutes_with_count_weighted_mean(
    client: TestClient, conn: psycopg.Connection
) -> None:
    now = minute()
    start = now - timedelta(days=7)
    rollup(conn, MAT1, "heart_rate", start + timedelta(minutes=1), 60.0, n=60, low=55, high=65)
    rollup(conn, MAT1, "heart_rate", start + timedelta(minutes=2), 90.0, n=20, low=85, high=95)
    headers = staff_headers(conn, Role.NURSE, site_id=HOME_A)
    chart = client.get(f"/api/residents/{R1}/chart?window=7d", headers=headers).json()
    assert chart["bucket_seconds"] == 600
    (point,) = chart["series"][0]["points"]
    assert point[1:] == [(60 * 60 + 90 * 20) / 80, 55, 95]


def test_notes_are_written_by_the_logged_in_user_and_audited(
    client: TestClient, conn: psycopg.Connection
) -> None:
    headers = staff_headers(conn, Role.NURSE, site_id=HOME_A, username="nurse.zhang")
    created = client.post(
        f"/api/residents/{R1}/notes", headers=headers, json={"body": "Slept well."}
    )
    assert created.status_code == 201, created.text
    note = created.json()
    assert note["author"] == "nurse.zhang" and note["resident_id"] == R1
    listed = client.get(f"/api/residents/{R1}/notes", headers=headers).json()
    assert listed["count"] == 1 and listed["data"][0]["body"] == "Slept well."
    audit = conn.execute(
        "SELECT method, action, resident_id, site_id FROM access_audit"
        " WHERE route = '/api/residents/{resident_id}/notes' ORDER BY audit_id"
    ).fetchall()
    assert audit == [("POST", "change", R1, HOME_A), ("GET", "read", R1, HOME_A)]
    nurse_b = staff_headers(conn, Role.NURSE, site_id=HOME_B)
    foreign = client.post(f"/api/residents/{R1}/notes", headers=nurse_b, json={"body": "x"})
    assert foreign.status_code == 404
    admin = staff_headers(conn, Role.SITE_ADMIN, site_id=HOME_A)
    refused = client.post(f"/api/residents/{R1}/notes", headers=admin, json={"body": "x"})
    assert refused.status_code == 403
    assert conn.execute("SELECT count(*) FROM resident_notes").fetchone() == (1,)
