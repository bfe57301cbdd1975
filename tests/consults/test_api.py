"""The consults, referrals and network routers over HTTP, on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from dashboard import create_app
from dashboard.routes.consults import get_now
from eldercare.settings import Settings
from tests.consults.support import T0, add_alert, build_network

AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[TestClient]:
    build_network(conn)
    app = create_app(settings)
    clock = {"now": T0}
    app.dependency_overrides[get_now] = lambda: clock["now"]
    with TestClient(app) as test_client:
        test_client.clock = clock  # type: ignore[attr-defined]
        yield test_client


def test_routes_need_the_token(client: TestClient) -> None:
    assert client.get("/api/network").status_code == 401
    assert client.get("/api/consults?viewer_site_id=demo-hospital").status_code == 401


def test_consult_from_alert_to_referral_and_back(
    client: TestClient, conn: psycopg.Connection
) -> None:
    alert_id = add_alert(conn, "r1")
    created = client.post(
        "/api/consults",
        headers=AUTH,
        json={
            "alert_id": alert_id,
            "question": "Tachycardia 140: what now?",
            "urgency": "emergency",
            "requested_by": "nurse-amy",
            "department_id": "demo-hospital-cardiology",
        },
    )
    assert created.status_code == 201, created.text
    consult = created.json()
    assert consult["snapshot"]["open_alerts"][0]["alert_id"] == alert_id
    cid = consult["consult_id"]

    inbox = client.get(
        "/api/consults",
        headers=AUTH,
        params={"viewer_site_id": "demo-hospital", "target_site_id": "demo-hospital"},
    ).json()
    assert [c["consult_id"] for c in inbox["data"]] == [cid]
    foreign = client.get(
        "/api/consults", headers=AUTH, params={"viewer_site_id": "other-hospital"}
    ).json()
    assert foreign == {"data": [], "count": 0}

    refused = client.post(
        f"/api/consults/{cid}/status",
        headers=AUTH,
        json={"status": "completed", "actor": "dr-chen"},
    )
    assert refused.status_code == 409
    assert refused.json()["detail"]["current"] == "requested"
    assert refused.json()["detail"]["allowed"] == ["accepted", "cancelled", "rejected"]

    reply = client.post(
        f"/api/consults/{cid}/reply",
        headers=AUTH,
        json={
            "advice": "Send up now",
            "action": "start_referral",
            "actor": "dr-chen",
            "referral_priority": "green_channel",
        },
    )
    assert reply.status_code == 200, reply.text
    rid = reply.json()["referral_id"]
    assert reply.json()["consult"]["status"] == "completed"
    assert client.get(f"/api/referrals/by-alert/{alert_id}", headers=AUTH).json() == [rid]

    for status in ("accepted", "in-progress"):
        moved = client.post(
            f"/api/referrals/{rid}/status", headers=AUTH, json={"status": status, "actor": "dr-w"}
        )
        assert moved.status_code == 200, moved.text
    back = client.post(
        f"/api/referrals/{rid}/back-referral",
        headers=AUTH,
        json={
            "actor": "dr-w",
            "summary": "Rehab after AF cardioversion",
            "goals": ["stable HR"],
            "raise_risk_tier_to": "high",
            "risk_days": 14,
            "thresholds": {"heart_rate_sustained.high_bpm": 115},
        },
    )
    assert back.status_code == 201, back.text
    down = back.json()
    assert (down["direction"], down["to_site_id"]) == ("down", "demo-care-home")
    client.post(
        f"/api/referrals/{down['referral_id']}/status",
        headers=AUTH,
        json={"status": "accepted", "actor": "nurse-amy"},
    ).raise_for_status()
    thresholds = client.get("/api/network/residents/r1/thresholds", headers=AUTH).json()
    assert thresholds["heart_rate_sustained.high_bpm"] == 115

    fhir = client.get(f"/api/referrals/{rid}/fhir", headers=AUTH).json()
    assert fhir["resourceType"] == "Bundle"
    task = next(e["resource"] for e in fhir["entry"] if e["resource"]["resourceType"] == "Task")
    assert (task["status"], task["priority"]) == ("completed", "stat")
    audit = client.get(f"/api/referrals/{rid}/audit", headers=AUTH).json()
    assert [a["to_status"] for a in audit] == ["requested", "accepted", "in-progress", "completed"]


def test_network_view_follow_ups_and_risk_tier(client: TestClient) -> None:
    created = client.post(
        "/api/referrals",
        headers=AUTH,
        json={
            "resident_id": "r2",
            "priority": "green_channel",
            "reason": "chest pain",
            "requested_by": "nurse-amy",
        },
    )
    assert created.status_code == 201, created.text
    client.clock["now"] = T0 + timedelta(minutes=20)  # type: ignore[attr-defined]
    view = client.get(
        "/api/network/view", headers=AUTH, params={"viewer_site_id": "demo-hospital"}
    ).json()
    assert view["referrals_by_status"] == {"requested": 1}
    assert view["at_risk"][0]["risk"] == "overdue"
    foreign = client.get(
        "/api/network/view", headers=AUTH, params={"viewer_site_id": "other-hospital"}
    ).json()
    assert (foreign["referrals_by_status"], foreign["at_risk"]) == ({}, [])
    assert (
        client.get("/api/network/view", headers=AUTH, params={"viewer_site_id": "x"}).status_code
        == 404
    )

    changed = client.put(
        "/api/network/residents/r1/risk-tier",
        headers=AUTH,
        json={"tier": "high", "actor": "dr-wang", "days": 7},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["heart_rate_sustained.min_duration_s"] == 60  # the high tier tightens
    tasks = client.get(
        "/api/network/follow-ups",
        headers=AUTH,
        params={"viewer_site_id": "demo-care-home", "due_within_hours": 48},
    ).json()
    assert [t["resident_id"] for t in tasks] == ["r1"]
    done = client.post(
        f"/api/network/follow-ups/{tasks[0]['task_id']}/complete",
        headers=AUTH,
        json={"actor": "nurse-amy", "note": "fine"},
    )
    assert done.json()["status"] == "completed"
    network = client.get("/api/network", headers=AUTH).json()
    assert {s["tier"] for s in network["sites"]} >= {
        "home_bed",
        "care_home",
        "community_health_centre",
        "tertiary_hospital",
    }
    patient = client.get("/api/network/residents/r1/fhir", headers=AUTH).json()
    assert patient["entry"][0]["resource"]["resourceType"] == "Patient"
    assert client.get("/api/network/residents/zz/fhir", headers=AUTH).status_code == 404


def test_refused_requests_say_why(client: TestClient) -> None:
    no_subject = client.post(
        "/api/consults", headers=AUTH, json={"question": "?", "requested_by": "amy"}
    )
    assert no_subject.status_code == 422
    off_network = client.post(
        "/api/referrals",
        headers=AUTH,
        json={
            "resident_id": "r1",
            "priority": "urgent",
            "reason": "x",
            "requested_by": "amy",
            "to_site_id": "other-hospital",
        },
    )
    assert off_network.status_code == 422
    assert "does not refer" in off_network.json()["detail"]
    assert client.get("/api/referrals/999", headers=AUTH).status_code == 404
