"""Alert API: actions with audit, events, subscribers with filters, dead letters, live stream."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from alerts import process_pending
from analytics import Channel, Severity
from dashboard import create_app
from eldercare.settings import Settings
from tests.alerts.conftest import add_findings, add_residents, make_finding

AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _open_alert(conn: psycopg.Connection, resident: str = "r1", **kwargs: object) -> int:
    add_residents(conn, {resident: "medium"})
    add_findings(conn, [make_finding(resident, **kwargs)])  # type: ignore[arg-type]
    with psycopg.connect(conn.info.dsn) as worker:
        process_pending(worker)
    (alert_id,) = conn.execute(  # type: ignore[misc]
        "SELECT max(alert_id) FROM alerts WHERE resident_id = %s", (resident,)
    ).fetchone()
    return int(alert_id)


def test_routes_need_the_token(client: TestClient) -> None:
    assert client.get("/api/alerts/1").status_code == 401
    assert client.post("/api/alerts/1/acknowledge", json={"actor": "x"}).status_code == 401
    assert client.get("/api/alert-subscribers").status_code == 401
    assert client.get("/api/alerts/stream").status_code == 401


def test_acknowledge_and_resolve_are_audited_and_visible(
    client: TestClient, conn: psycopg.Connection
) -> None:
    alert_id = _open_alert(conn)
    acked = client.post(
        f"/api/alerts/{alert_id}/acknowledge",
        json={"note": "going to room 4"},
        headers={**AUTH, "X-Staff-Id": "nurse-ana"},
    )
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "nurse-ana"
    assert acked.json()["next_escalation_at"] is None
    again = client.post(f"/api/alerts/{alert_id}/acknowledge", json={"actor": "x"}, headers=AUTH)
    assert again.status_code == 409
    resolved = client.post(
        f"/api/alerts/{alert_id}/resolve", json={"actor": "dr-li", "note": "sinus"}, headers=AUTH
    ).json()
    assert (resolved["state"], resolved["resolved_by"]) == ("resolved", "dr-li")
    audit = client.get(f"/api/alerts/{alert_id}/audit", headers=AUTH).json()
    assert [(a["action"], a["actor"], a["note"]) for a in audit["data"]] == [
        ("acknowledged", "nurse-ana", "going to room 4"),
        ("resolved", "dr-li", "sinus"),
    ]
    detail = client.get(f"/api/alerts/{alert_id}", headers=AUTH).json()
    assert len(detail["audit"]) == 2 and detail["policy"] == "urgent"
    events = client.get(f"/api/alerts/{alert_id}/events", headers=AUTH).json()
    assert [e["event_type"] for e in events["data"]] == ["opened", "acknowledged", "resolved"]
    assert events["data"][1]["payload"]["actor"] == "nurse-ana"


def test_actions_need_an_actor_and_an_existing_alert(
    client: TestClient, conn: psycopg.Connection
) -> None:
    alert_id = _open_alert(conn)
    assert client.post(f"/api/alerts/{alert_id}/escalate", json={}, headers=AUTH).status_code == 422
    assert (
        client.post("/api/alerts/999999/resolve", json={"actor": "x"}, headers=AUTH).status_code
        == 404
    )
    assert client.get("/api/alerts/999999", headers=AUTH).status_code == 404
    up = client.post(f"/api/alerts/{alert_id}/escalate", json={"actor": "ana"}, headers=AUTH)
    assert up.json()["escalation_level"] == 1


def test_channel_filter_separates_data_quality(
    client: TestClient, conn: psycopg.Connection
) -> None:
    _open_alert(conn, "r1")
    _open_alert(conn, "r2", kind="probe_off", channel=Channel.DATA_QUALITY)
    dq = client.get("/api/alerts?channel=data_quality", headers=AUTH).json()
    assert [a["kind"] for a in dq["data"]] == ["probe_off"]
    assert client.get("/api/alerts", headers=AUTH).json()["count"] == 2


def test_subscriber_crud_never_returns_the_secret(client: TestClient) -> None:
    body = {
        "name": "ward-a-pager",
        "transport": "webhook",
        "url": "http://127.0.0.1:9/hook",
        "secret": "s" * 32,
        "site_id": "alert-home",
        "min_severity": "high",
        "kinds": ["tachycardia"],
        "max_per_minute": 5,
    }
    created = client.post("/api/alert-subscribers", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    sub = created.json()
    assert "secret" not in sub and sub["channels"] == ["clinical"]
    assert client.post("/api/alert-subscribers", json=body, headers=AUTH).status_code == 409
    no_secret = {**body, "name": "x", "secret": None}
    assert client.post("/api/alert-subscribers", json=no_secret, headers=AUTH).status_code == 422
    path = f"/api/alert-subscribers/{sub['subscriber_id']}"
    patched = client.patch(path, json={"min_severity": "critical", "active": False}, headers=AUTH)
    assert (patched.json()["min_severity"], patched.json()["active"]) == ("critical", False)
    listed = client.get("/api/alert-subscribers", headers=AUTH).json()
    assert [s["name"] for s in listed["data"]] == ["mqtt-alert-topic", "ward-a-pager"]
    assert client.get(f"{path}/deliveries?state=dead", headers=AUTH).json()["count"] == 0
    assert client.delete(path, headers=AUTH).status_code == 204
    assert client.get(path, headers=AUTH).status_code == 404


def test_dead_letters_are_listed_and_can_be_retried(
    client: TestClient, conn: psycopg.Connection
) -> None:
    _open_alert(conn)
    conn.execute(
        "UPDATE alert_deliveries SET state = 'dead', attempts = 10, last_error = 'HTTP 500'"
    )
    dead = client.get("/api/alert-subscribers/1/deliveries?state=dead", headers=AUTH).json()
    assert dead["count"] == 1 and dead["data"][0]["last_error"] == "HTTP 500"
    delivery_id = dead["data"][0]["delivery_id"]
    retried = client.post(
        f"/api/alert-subscribers/1/deliveries/{delivery_id}/retry", headers=AUTH
    ).json()
    assert (retried["state"], retried["attempts"]) == ("pending", 0)


def _read_sse(client: TestClient, url: str, headers: dict[str, str]) -> list[dict]:
    events: list[dict] = []
    with client.stream("GET", url, headers={**AUTH, **headers}, timeout=30) as response:
        assert response.status_code == 200
        current: dict = {}
        for line in response.iter_lines():
            if not line:
                if "data" in current:
                    events.append(current)
                current = {}
                continue
            field, _, value = line.partition(":")
            current[field] = value.strip()
    return events


def test_live_stream_filters_and_resumes_by_last_event_id(
    client: TestClient, conn: psycopg.Connection
) -> None:
    _open_alert(conn, "r1", severity=Severity.LOW)
    _open_alert(conn, "r2", severity=Severity.CRITICAL)
    _open_alert(conn, "r3", kind="device_silent", channel=Channel.DATA_QUALITY)
    _open_alert(conn, "r4", severity=Severity.HIGH)
    first = _read_sse(client, "/api/alerts/stream?after=0-0&min_severity=high&limit=1", {})
    assert [json.loads(e["data"])["alert"]["resident_id"] for e in first] == ["r2"]
    assert first[0]["event"] == "opened"
    rest = _read_sse(
        client,
        "/api/alerts/stream?min_severity=high&limit=1",
        {"Last-Event-ID": first[0]["id"]},
    )
    assert [json.loads(e["data"])["alert"]["resident_id"] for e in rest] == ["r4"]
    technicians = _read_sse(client, "/api/alerts/stream?after=0-0&channel=data_quality&limit=1", {})
    assert json.loads(technicians[0]["data"])["audience"] == "technician"


def test_live_stream_by_registered_sse_subscriber(
    client: TestClient, conn: psycopg.Connection
) -> None:
    sub = client.post(
        "/api/alert-subscribers",
        json={"name": "ward-board", "transport": "sse", "kinds": ["bradycardia"]},
        headers=AUTH,
    ).json()
    _open_alert(conn, "r1", kind="tachycardia")
    _open_alert(conn, "r2", kind="bradycardia")
    got = _read_sse(
        client, f"/api/alerts/stream?after=0-0&subscriber_id={sub['subscriber_id']}&limit=1", {}
    )
    assert json.loads(got[0]["data"])["alert"]["kind"] == "bradycardia"
    assert client.get("/api/alerts/stream?subscriber_id=1", headers=AUTH).status_code == 404


def test_site_policy_via_api_chooses_the_chain_for_new_alerts(
    client: TestClient, conn: psycopg.Connection
) -> None:
    add_residents(conn, {"r1": "low"})
    policy = {
        "min_severity": "critical",
        "steps": [
            {"role": "nurse_on_duty", "after_s": 0},
            {"role": "on_call_doctor", "after_s": 60},
        ],
        "reminder_every_s": 30,
        "hand_off": "open_green_channel",
        "priority": 50,
    }
    put = client.put(
        "/api/escalation-policies/alert-home/night-critical", json=policy, headers=AUTH
    )
    assert put.status_code == 200, put.text
    bad = {**policy, "steps": [{"role": "x", "after_s": 5}]}
    assert (
        client.put("/api/escalation-policies/alert-home/x", json=bad, headers=AUTH).status_code
        == 422
    )
    assert (
        client.put("/api/escalation-policies/nowhere/x", json=policy, headers=AUTH).status_code
        == 404
    )
    listed = client.get("/api/escalation-policies?site_id=alert-home", headers=AUTH).json()
    assert [p["name"] for p in listed["data"]][:2] == ["night-critical", "data-quality"]
    alert_id = _open_alert(conn, "r1", severity=Severity.CRITICAL)
    detail = client.get(f"/api/alerts/{alert_id}", headers=AUTH).json()
    assert detail["policy"] == "night-critical"
    [opened] = client.get(f"/api/alerts/{alert_id}/events", headers=AUTH).json()["data"]
    assert opened["payload"]["hand_off"] == "open_green_channel"
    path = "/api/escalation-policies/alert-home/night-critical"
    assert client.delete(path, headers=AUTH).status_code == 204
    assert client.delete(path, headers=AUTH).status_code == 404


def test_rota_by_shift_via_api(client: TestClient, conn: psycopg.Connection) -> None:
    add_residents(conn, {"r1": "medium"})
    day = {
        "site_id": "alert-home",
        "role": "nurse_on_duty",
        "staff_id": "ana",
        "starts_at": "2026-11-24T07:00:00Z",
        "ends_at": "2026-11-24T19:15:00Z",
    }
    night = {
        **day,
        "staff_id": "bo",
        "starts_at": "2026-11-24T19:00:00Z",
        "ends_at": "2026-11-25T07:15:00Z",
    }
    for shift in (day, night):
        assert client.post("/api/oncall-shifts", json=shift, headers=AUTH).status_code == 201
    backwards = {**day, "ends_at": "2026-11-24T06:00:00Z"}
    assert client.post("/api/oncall-shifts", json=backwards, headers=AUTH).status_code == 422

    def who(at: str) -> list[str]:
        response = client.get(
            "/api/oncall-shifts/on-call",
            params={"site_id": "alert-home", "role": "nurse_on_duty", "at": at},
            headers=AUTH,
        )
        return response.json()["staff_ids"]

    assert who("2026-11-24T12:00:00Z") == ["ana"]
    assert who("2026-11-24T19:10:00Z") == ["ana", "bo"]  # hand-over
    assert who("2026-11-25T03:00:00Z") == ["bo"]
    shifts = client.get("/api/oncall-shifts?site_id=alert-home", headers=AUTH).json()
    assert shifts["count"] == 2
    first = shifts["data"][0]["shift_id"]
    assert client.delete(f"/api/oncall-shifts/{first}", headers=AUTH).status_code == 204
    assert who("2026-11-24T12:00:00Z") == []
