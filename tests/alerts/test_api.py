"""Alert API with roles and tenancy: actions as the logged-in user with audit, events, subscribers
with filters, dead letters, live stream, escalation policies and the rota — each confined to the
user's own site, another site's records answering 404 like missing ones."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from alerts import AlertEvent, EventType, SubscriberFilter, process_pending
from analytics import Channel, Severity
from dashboard import Role, create_app
from dashboard._deps import SESSION_COOKIE
from dashboard.routes.alerts import stream_admits
from eldercare.registry import register_site
from eldercare.settings import Settings
from tests.alerts.conftest import SITE, add_findings, add_residents, make_finding
from tests.utils.staff import TEST_PASSWORD, staff_headers

OTHER = "other-home"


@pytest.fixture
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[TestClient]:
    for site_id in (SITE, OTHER):
        register_site(conn, site_id=site_id, name=site_id, tier="care_home")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def nurse(client: TestClient, conn: psycopg.Connection) -> dict[str, str]:
    return staff_headers(conn, Role.NURSE, site_id=SITE, username="nurse.ana")


@pytest.fixture
def admin(client: TestClient, conn: psycopg.Connection) -> dict[str, str]:
    return staff_headers(conn, Role.SITE_ADMIN, site_id=SITE, username="admin.a")


@pytest.fixture
def other_nurse(client: TestClient, conn: psycopg.Connection) -> dict[str, str]:
    return staff_headers(conn, Role.NURSE, site_id=OTHER, username="nurse.bo")


@pytest.fixture
def other_admin(client: TestClient, conn: psycopg.Connection) -> dict[str, str]:
    return staff_headers(conn, Role.SITE_ADMIN, site_id=OTHER, username="admin.b")


def _open_alert(
    conn: psycopg.Connection, resident: str = "r1", *, site_id: str = SITE, **kwargs: object
) -> int:
    add_residents(conn, {resident: "medium"}, site_id=site_id)
    add_findings(conn, [make_finding(resident, **kwargs)])  # type: ignore[arg-type]
    with psycopg.connect(conn.info.dsn) as worker:
        process_pending(worker)
    (alert_id,) = conn.execute(  # type: ignore[misc]
        "SELECT max(alert_id) FROM alerts WHERE resident_id = %s", (resident,)
    ).fetchone()
    return int(alert_id)


def test_routes_need_a_session(client: TestClient) -> None:
    assert client.get("/api/alerts").status_code == 401
    assert client.get("/api/alerts/1").status_code == 401
    assert client.post("/api/alerts/1/acknowledge", json={}).status_code == 401
    assert client.get("/api/alerts/stream").status_code == 401
    assert client.get("/api/alert-subscribers").status_code == 401
    assert client.get("/api/escalation-policies").status_code == 401
    assert client.get("/api/oncall-shifts").status_code == 401


def test_nurse_acknowledges_and_doctor_resolves_as_themselves(
    client: TestClient, conn: psycopg.Connection, nurse: dict[str, str]
) -> None:
    doctor = staff_headers(conn, Role.DOCTOR, site_id=SITE, username="dr.li")
    alert_id = _open_alert(conn)
    acked = client.post(
        f"/api/alerts/{alert_id}/acknowledge", json={"note": "going to room 4"}, headers=nurse
    )
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "nurse.ana"
    assert acked.json()["next_escalation_at"] is None
    again = client.post(f"/api/alerts/{alert_id}/acknowledge", json={}, headers=doctor)
    assert again.status_code == 409
    resolved = client.post(
        f"/api/alerts/{alert_id}/resolve", json={"note": "sinus"}, headers=doctor
    ).json()
    assert (resolved["state"], resolved["resolved_by"]) == ("resolved", "dr.li")
    audit = client.get(f"/api/alerts/{alert_id}/audit", headers=nurse).json()
    assert [(a["action"], a["actor"], a["note"]) for a in audit["data"]] == [
        ("acknowledged", "nurse.ana", "going to room 4"),
        ("resolved", "dr.li", "sinus"),
    ]
    detail = client.get(f"/api/alerts/{alert_id}", headers=nurse).json()
    assert len(detail["audit"]) == 2 and detail["policy"] == "urgent"
    events = client.get(f"/api/alerts/{alert_id}/events", headers=nurse).json()
    assert [e["event_type"] for e in events["data"]] == ["opened", "acknowledged", "resolved"]
    assert events["data"][1]["payload"]["actor"] == "nurse.ana"


def test_the_body_cannot_name_who_acts(
    client: TestClient, conn: psycopg.Connection, nurse: dict[str, str]
) -> None:
    alert_id = _open_alert(conn)
    forged = client.post(
        f"/api/alerts/{alert_id}/escalate", json={"actor": "dr.somebody"}, headers=nurse
    )
    assert forged.status_code == 422
    up = client.post(f"/api/alerts/{alert_id}/escalate", json={}, headers=nurse)
    assert up.status_code == 200, up.text
    assert up.json()["escalation_level"] == 1
    assert up.json()["audit"][-1]["actor"] == "nurse.ana"


def test_site_admin_may_not_read_or_act_on_alerts(
    client: TestClient, conn: psycopg.Connection, admin: dict[str, str]
) -> None:
    alert_id = _open_alert(conn)
    refused = client.post(f"/api/alerts/{alert_id}/acknowledge", json={}, headers=admin)
    assert refused.status_code == 403
    assert "site_admin" in refused.json()["detail"]
    assert client.get(f"/api/alerts/{alert_id}", headers=admin).status_code == 403
    assert client.get("/api/alerts", headers=admin).status_code == 403
    assert client.get("/api/alerts/stream", headers=admin).status_code == 403
    (state,) = conn.execute(  # type: ignore[misc]
        "SELECT state FROM alerts WHERE alert_id = %s", (alert_id,)
    ).fetchone()
    assert state == "open"


def test_another_sites_alert_answers_like_a_missing_one(
    client: TestClient, conn: psycopg.Connection, nurse: dict[str, str]
) -> None:
    foreign = _open_alert(conn, "o1", site_id=OTHER)
    missing = foreign + 1000
    for path in ("", "/audit", "/events"):
        got = client.get(f"/api/alerts/{foreign}{path}", headers=nurse)
        absent = client.get(f"/api/alerts/{missing}{path}", headers=nurse)
        assert got.status_code == absent.status_code == 404
        assert got.json() == absent.json()
    for action in ("acknowledge", "resolve", "escalate"):
        got = client.post(f"/api/alerts/{foreign}/{action}", json={}, headers=nurse)
        absent = client.post(f"/api/alerts/{missing}/{action}", json={}, headers=nurse)
        assert got.status_code == absent.status_code == 404
        assert got.json() == absent.json()
    (state, level) = conn.execute(  # type: ignore[misc]
        "SELECT state, escalation_level FROM alerts WHERE alert_id = %s", (foreign,)
    ).fetchone()
    assert (state, level) == ("open", 0)


def test_lists_hold_only_the_home_sites_alerts(
    client: TestClient, conn: psycopg.Connection, nurse: dict[str, str]
) -> None:
    _open_alert(conn, "r1")
    _open_alert(conn, "r2", kind="probe_off", channel=Channel.DATA_QUALITY)
    _open_alert(conn, "o1", site_id=OTHER)

    def residents(query: str = "") -> list[str]:
        body = client.get(f"/api/alerts{query}", headers=nurse).json()
        assert body["count"] == len(body["data"])
        return sorted(a["resident_id"] for a in body["data"])

    assert residents() == ["r1", "r2"]
    assert residents(f"?site_id={SITE}") == ["r1", "r2"]
    assert residents(f"?site_id={OTHER}") == []
    assert residents("?resident_id=r1") == ["r1"]
    assert residents("?resident_id=o1") == []
    assert residents("?channel=data_quality") == ["r2"]
    paged = client.get("/api/alerts?limit=1&offset=1", headers=nurse).json()
    assert (len(paged["data"]), paged["count"]) == (1, 2)


def test_alert_reads_name_the_resident_in_the_access_audit(
    client: TestClient, conn: psycopg.Connection, nurse: dict[str, str]
) -> None:
    alert_id = _open_alert(conn, "r1")
    foreign = _open_alert(conn, "o1", site_id=OTHER)
    assert client.get(f"/api/alerts/{alert_id}", headers=nurse).status_code == 200
    assert client.get(f"/api/alerts/{foreign}", headers=nurse).status_code == 404
    assert client.get("/api/alerts?resident_id=r1", headers=nurse).status_code == 200
    rows = conn.execute(
        "SELECT route, action, username, resident_id, site_id, status FROM access_audit"
        " WHERE route LIKE '/api/alerts%%' ORDER BY audit_id"
    ).fetchall()
    assert rows == [
        ("/api/alerts/{alert_id}", "read", "nurse.ana", "r1", SITE, 200),
        ("/api/alerts/{alert_id}", "read", "nurse.ana", None, None, 404),
        ("/api/alerts", "read", "nurse.ana", "r1", SITE, 200),
    ]


def test_site_admin_manages_own_sites_subscribers_only(
    client: TestClient,
    admin: dict[str, str],
    other_admin: dict[str, str],
    nurse: dict[str, str],
) -> None:
    body = {
        "name": "ward-a-pager",
        "transport": "webhook",
        "url": "http://127.0.0.1:9/hook",
        "secret": "s" * 32,
        "min_severity": "high",
        "kinds": ["tachycardia"],
        "max_per_minute": 5,
    }
    created = client.post("/api/alert-subscribers", json=body, headers=admin)
    assert created.status_code == 201, created.text
    sub = created.json()
    assert "secret" not in sub and sub["channels"] == ["clinical"]
    assert sub["site_id"] == SITE
    assert client.post("/api/alert-subscribers", json=body, headers=admin).status_code == 409
    no_secret = {**body, "name": "x", "secret": None}
    assert client.post("/api/alert-subscribers", json=no_secret, headers=admin).status_code == 422
    elsewhere = {**body, "name": "y", "site_id": OTHER}
    assert client.post("/api/alert-subscribers", json=elsewhere, headers=admin).status_code == 404
    path = f"/api/alert-subscribers/{sub['subscriber_id']}"
    patched = client.patch(path, json={"min_severity": "critical", "active": False}, headers=admin)
    assert (patched.json()["min_severity"], patched.json()["active"]) == ("critical", False)
    assert client.patch(path, json={"site_id": OTHER}, headers=admin).status_code == 422
    # The installation-wide MQTT topic subscriber (no site) is no site admin's to see.
    listed = client.get("/api/alert-subscribers", headers=admin).json()
    assert ([s["name"] for s in listed["data"]], listed["count"]) == (["ward-a-pager"], 1)
    assert client.get("/api/alert-subscribers/1", headers=admin).status_code == 404
    assert client.get(f"{path}/deliveries?state=dead", headers=admin).json()["count"] == 0
    # Another site's admin sees none of it, and reusing the name reveals nothing (names are
    # unique per site); clinical staff may not manage subscribers.
    assert client.get("/api/alert-subscribers", headers=other_admin).json()["count"] == 0
    same_name = client.post("/api/alert-subscribers", json=body, headers=other_admin)
    assert same_name.status_code == 201 and same_name.json()["site_id"] == OTHER
    assert client.get(path, headers=other_admin).status_code == 404
    assert client.patch(path, json={"active": True}, headers=other_admin).status_code == 404
    assert client.get(f"{path}/deliveries", headers=other_admin).status_code == 404
    assert client.delete(path, headers=other_admin).status_code == 404
    refused = client.get("/api/alert-subscribers", headers=nurse)
    assert refused.status_code == 403 and "nurse" in refused.json()["detail"]
    assert client.delete(path, headers=admin).status_code == 204
    assert client.get(path, headers=admin).status_code == 404


def test_dead_letters_are_listed_and_retried_by_their_sites_admin(
    client: TestClient,
    conn: psycopg.Connection,
    admin: dict[str, str],
    other_admin: dict[str, str],
) -> None:
    hook = {
        "name": "pager",
        "transport": "webhook",
        "url": "http://127.0.0.1:9/hook",
        "secret": "s" * 32,
    }
    sub = client.post("/api/alert-subscribers", json=hook, headers=admin).json()
    _open_alert(conn)
    conn.execute(
        "UPDATE alert_deliveries SET state = 'dead', attempts = 10, last_error = 'HTTP 500'"
        " WHERE subscriber_id = %s",
        (sub["subscriber_id"],),
    )
    path = f"/api/alert-subscribers/{sub['subscriber_id']}/deliveries"
    dead = client.get(f"{path}?state=dead", headers=admin).json()
    assert dead["count"] == 1 and dead["data"][0]["last_error"] == "HTTP 500"
    delivery_id = dead["data"][0]["delivery_id"]
    retry = f"{path}/{delivery_id}/retry"
    assert client.post(retry, headers=other_admin).status_code == 404
    retried = client.post(retry, headers=admin).json()
    assert (retried["state"], retried["attempts"]) == ("pending", 0)


def _read_sse(client: TestClient, url: str, headers: dict[str, str]) -> list[dict]:
    events: list[dict] = []
    with client.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.status_code == 200, response.read()
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


def _residents(events: list[dict]) -> list[str]:
    return [json.loads(e["data"])["alert"]["resident_id"] for e in events]


def test_live_stream_filters_and_resumes_by_last_event_id(
    client: TestClient, conn: psycopg.Connection, nurse: dict[str, str]
) -> None:
    _open_alert(conn, "r1", severity=Severity.LOW)
    _open_alert(conn, "o1", site_id=OTHER, severity=Severity.CRITICAL)
    _open_alert(conn, "r2", severity=Severity.CRITICAL)
    _open_alert(conn, "o2", site_id=OTHER, severity=Severity.HIGH)
    _open_alert(conn, "r3", kind="device_silent", channel=Channel.DATA_QUALITY)
    _open_alert(conn, "r4", severity=Severity.HIGH)
    first = _read_sse(client, "/api/alerts/stream?after=0-0&min_severity=high&limit=1", nurse)
    assert _residents(first) == ["r2"]
    assert first[0]["event"] == "opened"
    rest = _read_sse(
        client,
        "/api/alerts/stream?min_severity=high&limit=1",
        {**nurse, "Last-Event-ID": first[0]["id"]},
    )
    assert _residents(rest) == ["r4"]
    both = _read_sse(client, "/api/alerts/stream?after=0-0&min_severity=high&limit=2", nurse)
    assert _residents(both) == ["r2", "r4"]
    technicians = _read_sse(
        client, "/api/alerts/stream?after=0-0&channel=data_quality&limit=1", nurse
    )
    assert json.loads(technicians[0]["data"])["audience"] == "technician"


def test_stream_admits_only_the_users_sites_whatever_the_filter() -> None:
    def event(site_id: str) -> AlertEvent:
        return AlertEvent(
            seq=1,
            event_id="e",
            event_type=EventType.OPENED,
            alert_id=1,
            site_id=site_id,
            resident_id="r",
            kind="tachycardia",
            channel=Channel.CLINICAL,
            severity=Severity.HIGH,
            payload={},
        )

    anything = SubscriberFilter()
    assert stream_admits(anything, frozenset({SITE}), event(SITE))
    assert not stream_admits(anything, frozenset({SITE}), event(OTHER))
    assert not stream_admits(SubscriberFilter(site_id=OTHER), frozenset({SITE}), event(OTHER))
    assert not stream_admits(anything, frozenset(), event(SITE))


def test_live_stream_by_a_registered_sse_subscriber_of_the_site(
    client: TestClient,
    conn: psycopg.Connection,
    admin: dict[str, str],
    nurse: dict[str, str],
    other_nurse: dict[str, str],
) -> None:
    sub = client.post(
        "/api/alert-subscribers",
        json={"name": "ward-board", "transport": "sse", "kinds": ["bradycardia"]},
        headers=admin,
    ).json()
    _open_alert(conn, "o1", site_id=OTHER, kind="bradycardia")
    _open_alert(conn, "r1", kind="tachycardia")
    _open_alert(conn, "r2", kind="bradycardia")
    url = f"/api/alerts/stream?after=0-0&subscriber_id={sub['subscriber_id']}&limit=1"
    got = _read_sse(client, url, nurse)
    assert [json.loads(e["data"])["alert"]["resident_id"] for e in got] == ["r2"]
    assert client.get(url, headers=other_nurse).status_code == 404
    # The installation-wide subscriber (every site) cannot open another site's events either.
    assert client.get("/api/alerts/stream?subscriber_id=1", headers=nurse).status_code == 404


def test_live_stream_with_the_session_cookie(
    client: TestClient, conn: psycopg.Connection, nurse: dict[str, str]
) -> None:
    """A browser's EventSource sends the session cookie and no headers of its own."""
    login = client.post(
        "/api/auth/login", json={"username": "nurse.ana", "password": TEST_PASSWORD}
    )
    assert SESSION_COOKIE in login.cookies
    _open_alert(conn, "o1", site_id=OTHER)
    _open_alert(conn, "r1")
    got = _read_sse(client, "/api/alerts/stream?after=0-0&limit=1", {})
    assert _residents(got) == ["r1"]


def test_an_open_stream_holds_no_database_connection(
    client: TestClient, conn: psycopg.Connection, nurse: dict[str, str]
) -> None:
    """Authentication's connection goes back to the pool before the stream starts: an open
    dashboard must not pin a connection (idle in transaction) for as long as it stays open."""
    opened = threading.Event()
    done = threading.Event()
    seen: list[dict] = []

    def watch() -> None:
        with client.stream(
            "GET", "/api/alerts/stream?after=0-0&limit=1", headers=nurse
        ) as response:
            assert response.status_code == 200
            opened.set()
            seen.extend({"line": line} for line in response.iter_lines() if line)
        done.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert opened.wait(30)
    pinned = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state = 'idle in transaction'"
    ).fetchone()
    _open_alert(conn, "r1")  # ends the stream (limit=1)
    assert done.wait(30)
    watcher.join(30)
    assert pinned == (0,)
    assert any(s["line"].startswith("data:") for s in seen)


def test_site_policy_via_api_chooses_the_chain_for_new_alerts(
    client: TestClient,
    conn: psycopg.Connection,
    admin: dict[str, str],
    other_admin: dict[str, str],
    nurse: dict[str, str],
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
    path = f"/api/escalation-policies/{SITE}/night-critical"
    put = client.put(path, json=policy, headers=admin)
    assert put.status_code == 200, put.text
    bad = {**policy, "steps": [{"role": "x", "after_s": 5}]}
    assert (
        client.put(f"/api/escalation-policies/{SITE}/x", json=bad, headers=admin).status_code == 422
    )
    nowhere = client.put("/api/escalation-policies/nowhere/x", json=policy, headers=admin)
    foreign = client.put(f"/api/escalation-policies/{OTHER}/x", json=policy, headers=admin)
    assert nowhere.status_code == foreign.status_code == 404
    assert nowhere.json() == foreign.json()
    listed = client.get(f"/api/escalation-policies?site_id={SITE}", headers=admin).json()
    assert [p["name"] for p in listed["data"]][:2] == ["night-critical", "data-quality"]
    theirs = client.get("/api/escalation-policies", headers=other_admin).json()
    assert all(p["site_id"] is None for p in theirs["data"])  # the built-in defaults only
    peek = client.get(f"/api/escalation-policies?site_id={SITE}", headers=other_admin).json()
    assert all(p["site_id"] is None for p in peek["data"])
    assert client.get("/api/escalation-policies", headers=nurse).status_code == 403
    assert client.delete(path, headers=other_admin).status_code == 404
    alert_id = _open_alert(conn, "r1", severity=Severity.CRITICAL)
    detail = client.get(f"/api/alerts/{alert_id}", headers=nurse).json()
    assert detail["policy"] == "night-critical"
    [opened] = client.get(f"/api/alerts/{alert_id}/events", headers=nurse).json()["data"]
    assert opened["payload"]["hand_off"] == "open_green_channel"
    assert client.delete(path, headers=admin).status_code == 204
    assert client.delete(path, headers=admin).status_code == 404


def test_rota_by_shift_via_api(
    client: TestClient, admin: dict[str, str], other_admin: dict[str, str]
) -> None:
    day = {
        "site_id": SITE,
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
        assert client.post("/api/oncall-shifts", json=shift, headers=admin).status_code == 201
    backwards = {**day, "ends_at": "2026-11-24T06:00:00Z"}
    assert client.post("/api/oncall-shifts", json=backwards, headers=admin).status_code == 422
    assert client.post("/api/oncall-shifts", json=day, headers=other_admin).status_code == 404

    on_call = "/api/oncall-shifts/on-call"
    params = {"site_id": SITE, "role": "nurse_on_duty"}

    def who(at: str) -> list[str]:
        response = client.get(on_call, params={**params, "at": at}, headers=admin)
        assert response.status_code == 200, response.text
        return response.json()["staff_ids"]

    assert who("2026-11-24T12:00:00Z") == ["ana"]
    assert who("2026-11-24T19:10:00Z") == ["ana", "bo"]  # hand-over
    assert who("2026-11-25T03:00:00Z") == ["bo"]
    assert client.get(on_call, params=params, headers=other_admin).status_code == 404
    shifts = client.get(f"/api/oncall-shifts?site_id={SITE}", headers=admin).json()
    assert shifts["count"] == 2
    assert client.get("/api/oncall-shifts", headers=other_admin).json()["count"] == 0
    assert client.get(f"/api/oncall-shifts?site_id={SITE}", headers=other_admin).json() == {
        "data": [],
        "count": 0,
    }
    first = shifts["data"][0]["shift_id"]
    assert client.delete(f"/api/oncall-shifts/{first}", headers=other_admin).status_code == 404
    assert client.delete(f"/api/oncall-shifts/{first}", headers=admin).status_code == 204
    assert who("2026-11-24T12:00:00Z") == []


def test_an_open_stream_ends_when_its_session_ends(
    client: TestClient, conn: psycopg.Connection
) -> None:
    session = staff_headers(conn, Role.NURSE, site_id=SITE)
    opened = threading.Event()
    ended = threading.Event()

    def watch() -> None:
        with client.stream("GET", "/api/alerts/stream", headers=session, timeout=60) as response:
            assert response.status_code == 200
            opened.set()
            for _ in response.iter_lines():
                pass
        ended.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert opened.wait(30)
    assert not ended.wait(1)
    assert client.post("/api/auth/logout", headers=session).status_code == 204
    assert ended.wait(30)
    watcher.join(30)
    assert client.get("/api/alerts/stream", headers=session).status_code == 401
