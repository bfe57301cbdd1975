"""The consults, referrals and network routers over HTTP, on a real database: each logged-in
role and site sees and does only what issue 10 allows (tenant isolation answers 404)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from consults import ConsultUrgency, ensure_follow_ups, escalate_overdue, request_consult
from dashboard import create_app
from dashboard._access import Role
from dashboard.routes.consults import get_now
from eldercare.settings import Settings
from tests.consults.support import T0, add_alert, build_network
from tests.utils.staff import staff_headers

Headers = dict[str, str]
Login = Callable[..., Headers]


@pytest.fixture
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[TestClient]:
    build_network(conn)
    app = create_app(settings)
    clock = {"now": T0}
    app.dependency_overrides[get_now] = lambda: clock["now"]
    with TestClient(app) as test_client:
        test_client.clock = clock  # type: ignore[attr-defined]
        yield test_client


@pytest.fixture
def login(conn: psycopg.Connection) -> Login:
    """`login(Role.NURSE, "demo-care-home", "nurse.amy")`: the headers of a new account."""

    def make(
        role: Role, site_id: str | None, username: str, alliance_id: str | None = None
    ) -> Headers:
        return staff_headers(
            conn, role, site_id=site_id, alliance_id=alliance_id, username=username
        )

    return make


def _ids(answer: dict[str, Any], key: str) -> list[int]:
    return [item[key] for item in answer["data"]]


def test_routes_need_a_login(client: TestClient) -> None:
    assert client.get("/api/network").status_code == 401
    assert client.get("/api/consults").status_code == 401
    assert client.get("/api/referrals/1").status_code == 401
    assert client.get("/api/residents/r1/sleep").status_code == 401


def test_consult_from_alert_to_referral_and_back(
    client: TestClient, conn: psycopg.Connection, login: Login
) -> None:
    nurse = login(Role.NURSE, "demo-care-home", "nurse.amy")
    home_doctor = login(Role.DOCTOR, "demo-care-home", "dr.home")
    cardiologist = login(Role.SPECIALIST, "demo-hospital", "dr.chen")
    second_hospital = login(Role.SPECIALIST, "demo-hospital-2", "dr.second")
    foreign = login(Role.SPECIALIST, "other-hospital", "dr.other")
    alert_id = add_alert(conn, "r1")

    created = client.post(
        "/api/consults",
        headers=nurse,
        json={
            "alert_id": alert_id,
            "question": "Tachycardia 140: what now?",
            "urgency": "emergency",
            "department_id": "demo-hospital-cardiology",
        },
    )
    assert created.status_code == 201, created.text
    consult = created.json()
    assert consult["snapshot"]["open_alerts"][0]["alert_id"] == alert_id
    assert (consult["requested_by"], consult["requesting_site_id"]) == (
        "nurse.amy",
        "demo-care-home",
    )
    cid = consult["consult_id"]

    inbox = client.get(
        "/api/consults", headers=cardiologist, params={"target_site_id": "demo-hospital"}
    ).json()
    assert _ids(inbox, "consult_id") == [cid]
    assert client.get("/api/consults", headers=foreign).json() == {"data": [], "count": 0}
    # Another alliance's hospital cannot tell this consult from one that does not exist.
    hidden = client.get(f"/api/consults/{cid}", headers=foreign)
    missing = client.get("/api/consults/999999", headers=foreign)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    for path in ("audit", "fhir"):
        assert client.get(f"/api/consults/{cid}/{path}", headers=foreign).status_code == 404
    assert client.get(f"/api/consults/by-alert/{alert_id}", headers=foreign).status_code == 404

    refused = client.post(
        f"/api/consults/{cid}/status", headers=cardiologist, json={"status": "completed"}
    )
    assert refused.status_code == 409
    assert refused.json()["detail"]["current"] == "requested"
    assert refused.json()["detail"]["allowed"] == ["accepted", "cancelled", "rejected"]

    reply = {"advice": "Send up now", "action": "start_referral"}
    nurse_reply = client.post(f"/api/consults/{cid}/reply", headers=nurse, json=reply)
    assert nurse_reply.status_code == 403 and "nurse" in nurse_reply.json()["detail"]
    # A doctor of the requesting home may answer cases, but not their own home's consult.
    wrong_side = client.post(f"/api/consults/{cid}/reply", headers=home_doctor, json=reply)
    assert wrong_side.status_code == 403 and "consulted site" in wrong_side.json()["detail"]
    # The alliance's second hospital sees the case but it is not addressed to it.
    assert client.get(f"/api/consults/{cid}", headers=second_hospital).status_code == 200
    accept = client.post(
        f"/api/consults/{cid}/status", headers=second_hospital, json={"status": "accepted"}
    )
    assert accept.status_code == 403 and "(demo-hospital)" in accept.json()["detail"]
    assert client.post(f"/api/consults/{cid}/reply", headers=foreign, json=reply).status_code == 404

    answered = client.post(
        f"/api/consults/{cid}/reply",
        headers=cardiologist,
        json={**reply, "referral_priority": "green_channel"},
    )
    assert answered.status_code == 200, answered.text
    rid = answered.json()["referral_id"]
    assert answered.json()["consult"]["status"] == "completed"
    assert answered.json()["consult"]["answered_by"] == "dr.chen"
    assert client.get(f"/api/referrals/by-alert/{alert_id}", headers=cardiologist).json() == [rid]
    assert client.get(f"/api/referrals/by-alert/{alert_id}", headers=foreign).status_code == 404

    nurse_accepts = client.post(
        f"/api/referrals/{rid}/status", headers=nurse, json={"status": "accepted"}
    )
    assert nurse_accepts.status_code == 403 and "nurse" in nurse_accepts.json()["detail"]
    assert (
        client.post(
            f"/api/referrals/{rid}/status", headers=foreign, json={"status": "accepted"}
        ).status_code
        == 404
    )
    for status in ("accepted", "in-progress"):
        moved = client.post(
            f"/api/referrals/{rid}/status", headers=cardiologist, json={"status": status}
        )
        assert moved.status_code == 200, moved.text
    back = client.post(
        f"/api/referrals/{rid}/back-referral",
        headers=cardiologist,
        json={
            "summary": "Rehab after AF cardioversion",
            "goals": ["stable HR"],
            "raise_risk_tier_to": "high",
            "risk_days": 14,
            "thresholds": {"heart_rate_sustained.high_bpm": 115},
        },
    )
    assert back.status_code == 201, back.text
    down = back.json()
    assert (down["direction"], down["to_site_id"], down["requested_by"]) == (
        "down",
        "demo-care-home",
        "dr.chen",
    )
    down_url = f"/api/referrals/{down['referral_id']}/status"
    care_home_nurse = client.post(down_url, headers=nurse, json={"status": "accepted"})
    assert care_home_nurse.status_code == 403
    hospital_accepts = client.post(down_url, headers=cardiologist, json={"status": "accepted"})
    assert hospital_accepts.status_code == 403
    assert "receiving site" in hospital_accepts.json()["detail"]
    client.post(down_url, headers=home_doctor, json={"status": "accepted"}).raise_for_status()
    thresholds = client.get("/api/network/residents/r1/thresholds", headers=nurse).json()
    assert thresholds["heart_rate_sustained.high_bpm"] == 115

    fhir = client.get(f"/api/referrals/{rid}/fhir", headers=cardiologist).json()
    assert fhir["resourceType"] == "Bundle"
    task = next(e["resource"] for e in fhir["entry"] if e["resource"]["resourceType"] == "Task")
    assert (task["status"], task["priority"]) == ("completed", "stat")
    assert client.get(f"/api/referrals/{rid}/fhir", headers=foreign).status_code == 404
    audit = client.get(f"/api/referrals/{rid}/audit", headers=nurse).json()
    assert [a["to_status"] for a in audit["data"]] == [
        "requested",
        "accepted",
        "in-progress",
        "completed",
    ]
    assert {a["actor"] for a in audit["data"]} == {"dr.chen"} and audit["count"] == 4
    # The access audit names the resident of every case read.
    reads = conn.execute(
        "SELECT DISTINCT resident_id FROM access_audit WHERE username = 'dr.chen'"
        " AND route LIKE '/api/referrals/{referral_id}%'"
    ).fetchall()
    assert reads == [("r1",)]


def test_hospital_sees_its_alliance_members_cases_only(
    client: TestClient, conn: psycopg.Connection, login: Login
) -> None:
    ours = login(Role.SPECIALIST, "demo-hospital", "dr.ours")
    theirs = login(Role.SPECIALIST, "other-hospital", "dr.theirs")
    other_home = login(Role.CHARGE_NURSE, "other-home", "nurse.other")
    riverside = login(Role.CHARGE_NURSE, "demo-care-home-2", "nurse.river")
    demo_home = login(Role.NURSE, "demo-care-home", "nurse.demo")
    alliance_admin = login(Role.NETWORK_ADMIN, None, "admin.demo", alliance_id="demo-alliance")

    # A case between two sites of the other alliance, and one of ours.
    foreign_referral = client.post(
        "/api/referrals",
        headers=other_home,
        json={"resident_id": "x1", "priority": "urgent", "reason": "falls"},
    )
    assert foreign_referral.status_code == 201, foreign_referral.text
    assert foreign_referral.json()["to_site_id"] == "other-hospital"
    foreign_consult = client.post(
        "/api/consults", headers=other_home, json={"resident_id": "x1", "question": "?"}
    ).json()
    own = client.post(
        "/api/referrals",
        headers=riverside,
        json={"resident_id": "r2", "priority": "green_channel", "reason": "chest pain"},
    )
    assert own.status_code == 201, own.text
    frid, fcid, rid = (
        foreign_referral.json()["referral_id"],
        foreign_consult["consult_id"],
        own.json()["referral_id"],
    )

    assert client.get(f"/api/referrals/{frid}", headers=ours).status_code == 404
    assert client.get(f"/api/consults/{fcid}", headers=ours).status_code == 404
    assert _ids(client.get("/api/referrals", headers=ours).json(), "referral_id") == [rid]
    # A foreign site named in a filter narrows the visible set; it never opens another's cases.
    assert client.get(
        "/api/referrals", headers=ours, params={"to_site_id": "other-hospital"}
    ).json() == {"data": [], "count": 0}
    assert client.get("/api/consults", headers=ours).json()["count"] == 0
    assert _ids(client.get("/api/referrals", headers=theirs).json(), "referral_id") == [frid]
    assert _ids(client.get("/api/consults", headers=theirs).json(), "consult_id") == [fcid]

    client.clock["now"] = T0 + timedelta(minutes=20)  # type: ignore[attr-defined]
    view = client.get("/api/network/view", headers=ours).json()
    assert "demo-care-home-2" in view["site_ids"] and "other-home" not in view["site_ids"]
    assert (view["referrals_by_status"], view["consults_by_status"]) == ({"requested": 1}, {})
    assert [(d["item_id"], d["risk"]) for d in view["at_risk"]] == [(rid, "overdue")]
    their_view = client.get("/api/network/view", headers=theirs).json()
    assert their_view["referrals_by_status"] == {"requested": 1}
    assert {d["resident_id"] for d in their_view["at_risk"]} <= {"x1"}
    assert client.get("/api/network/view", headers=alliance_admin).json()[
        "referrals_by_status"
    ] == {"requested": 1}
    # A care home is a tenant: it sees its own cases, not the other home's in the alliance.
    home_view = client.get("/api/network/view", headers=demo_home).json()
    assert (home_view["site_ids"], home_view["referrals_by_status"]) == (["demo-care-home"], {})
    assert client.get(f"/api/referrals/{rid}", headers=demo_home).status_code == 404
    assert client.get("/api/referrals", headers=demo_home).json()["count"] == 0


def test_escalated_referral_moves_to_the_next_hospital(
    client: TestClient, conn: psycopg.Connection, login: Login
) -> None:
    """The hospital that let the deadline pass still sees the referral (it was tried) but may no
    longer accept it; the next hospital of the alliance owns it now."""
    first = login(Role.SPECIALIST, "demo-hospital", "dr.first")
    second = login(Role.SPECIALIST, "demo-hospital-2", "dr.second")
    charge = login(Role.CHARGE_NURSE, "demo-care-home", "nurse.charge")
    created = client.post(
        "/api/referrals",
        headers=charge,
        json={"resident_id": "r1", "priority": "green_channel", "reason": "stroke signs"},
    ).json()
    (escalation,) = escalate_overdue(conn, now=T0 + timedelta(hours=1))
    assert (escalation.from_site_id, escalation.to_site_id) == ("demo-hospital", "demo-hospital-2")
    url = f"/api/referrals/{created['referral_id']}"
    assert client.get(url, headers=first).json()["tried_site_ids"] == ["demo-hospital"]
    late = client.post(f"{url}/status", headers=first, json={"status": "accepted"})
    assert late.status_code == 403 and "(demo-hospital-2)" in late.json()["detail"]
    cancel = client.post(f"{url}/status", headers=second, json={"status": "cancelled"})
    assert cancel.status_code == 403  # only the referring home cancels
    accepted = client.post(f"{url}/status", headers=second, json={"status": "accepted"})
    assert accepted.status_code == 200, accepted.text


def test_risk_tier_follow_ups_and_resident_export(
    client: TestClient, conn: psycopg.Connection, login: Login
) -> None:
    nurse = login(Role.NURSE, "demo-care-home", "nurse.amy")
    doctor = login(Role.DOCTOR, "demo-care-home", "dr.wang")
    riverside_nurse = login(Role.NURSE, "demo-care-home-2", "nurse.river")
    foreign = login(Role.SPECIALIST, "other-hospital", "dr.other")
    site_admin = login(Role.SITE_ADMIN, "demo-care-home", "admin.home")

    assert client.get("/api/network", headers=site_admin).status_code == 200
    ensure_follow_ups(conn, now=T0, actor="test")  # every resident has an open follow-up
    body = {"tier": "high", "days": 7}
    assert (
        client.put("/api/network/residents/r1/risk-tier", headers=nurse, json=body).status_code
        == 403
    )
    assert (
        client.put("/api/network/residents/r2/risk-tier", headers=doctor, json=body).status_code
        == 404
    )
    changed = client.put("/api/network/residents/r1/risk-tier", headers=doctor, json=body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["heart_rate_sustained.min_duration_s"] == 60  # the high tier tightens
    audit = client.get("/api/network/residents/r1/audit", headers=nurse).json()
    assert ("risk_tier", "dr.wang") in {(a["action"], a["actor"]) for a in audit["data"]}
    assert client.get("/api/network/residents/r1/audit", headers=foreign).status_code == 404

    tasks = client.get(
        "/api/network/follow-ups", headers=nurse, params={"due_within_hours": 48}
    ).json()
    assert [t["resident_id"] for t in tasks["data"]] == ["r1"] and tasks["count"] == 1
    assert [
        t["resident_id"]
        for t in client.get("/api/network/follow-ups", headers=riverside_nurse).json()["data"]
    ] == ["r2"]
    assert client.get("/api/network/follow-ups", headers=foreign).status_code == 403
    task_url = f"/api/network/follow-ups/{tasks['data'][0]['task_id']}/complete"
    assert client.post(task_url, headers=riverside_nurse, json={}).status_code == 404
    done = client.post(task_url, headers=nurse, json={"note": "fine"})
    assert (done.json()["status"], done.json()["completed_by"]) == ("completed", "nurse.amy")

    patient = client.get("/api/network/residents/r1/fhir", headers=nurse).json()
    assert patient["entry"][0]["resource"]["resourceType"] == "Patient"
    hidden = client.get("/api/network/residents/r1/fhir", headers=foreign)
    missing = client.get("/api/network/residents/zz/fhir", headers=foreign)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert client.get("/api/network/residents/r1/fhir", headers=site_admin).status_code == 403
    assert client.get("/api/network/residents/r1/fhir", headers=riverside_nurse).status_code == 404


def test_receiving_hospital_reads_a_resident_while_a_case_is_addressed_to_it(
    client: TestClient, conn: psycopg.Connection, login: Login
) -> None:
    cardiologist = login(Role.SPECIALIST, "demo-hospital", "dr.chen")
    url = "/api/network/residents/r1/fhir"
    assert client.get(url, headers=cardiologist).status_code == 404
    request_consult(
        conn,
        resident_id="r1",
        question="?",
        urgency=ConsultUrgency.URGENT,
        requested_by="nurse.amy",
        now=T0,
        target_site_id="demo-hospital",
    )
    assert client.get(url, headers=cardiologist).status_code == 200
    tier = client.put(
        "/api/network/residents/r1/risk-tier", headers=cardiologist, json={"tier": "medium"}
    )
    assert tier.status_code == 200, tier.text


def test_refused_requests_say_why(
    client: TestClient, conn: psycopg.Connection, login: Login
) -> None:
    nurse = login(Role.NURSE, "demo-care-home", "nurse.amy")
    charge = login(Role.CHARGE_NURSE, "demo-care-home", "nurse.charge")
    no_subject = client.post("/api/consults", headers=nurse, json={"question": "?"})
    assert no_subject.status_code == 422
    referral = {"resident_id": "r1", "priority": "urgent", "reason": "x"}
    no_role = client.post("/api/referrals", headers=nurse, json=referral)
    assert no_role.status_code == 403 and "nurse" in no_role.json()["detail"]
    off_network = client.post(
        "/api/referrals", headers=charge, json={**referral, "to_site_id": "other-hospital"}
    )
    assert off_network.status_code == 422
    assert "does not refer" in off_network.json()["detail"]
    # Another home's resident and alert answer like ones that do not exist.
    for resident in ("r2", "nobody"):
        asked = client.post(
            "/api/consults", headers=nurse, json={"resident_id": resident, "question": "?"}
        )
        assert asked.status_code == 404
    other_alert = add_alert(conn, "r2")
    from_alert = client.post(
        "/api/consults", headers=nurse, json={"alert_id": other_alert, "question": "?"}
    )
    assert from_alert.status_code == 404
    foreign_alerts = client.post(
        "/api/referrals", headers=charge, json={**referral, "alert_ids": [other_alert]}
    )
    assert foreign_alerts.status_code == 422 and "not alerts of" in foreign_alerts.json()["detail"]
    assert client.get("/api/referrals/999", headers=nurse).status_code == 404
