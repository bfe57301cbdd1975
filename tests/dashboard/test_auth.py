"""Login, sessions, cookies with the CSRF header, lockout and the access audit, on a real
PostgreSQL through the ASGI app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from dashboard import create_app
from dashboard._access import Role
from dashboard._deps import CSRF_HEADER, SESSION_COOKIE
from dashboard._staff_store import MAX_FAILED_LOGINS, create_staff
from eldercare.registry import register_site
from eldercare.settings import Settings
from tests.utils.staff import TEST_PASSWORD, staff_headers


@pytest.fixture
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[TestClient]:
    register_site(conn, site_id="home-a", name="Home A", tier="care_home")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _nurse(conn: psycopg.Connection, username: str = "nurse.li") -> None:
    create_staff(
        conn,
        username=username,
        display_name="Li Na",
        role=Role.NURSE,
        password=TEST_PASSWORD,
        now=datetime.now(UTC),
        site_id="home-a",
    )


def test_login_gives_a_bearer_token_and_me_describes_the_user(
    client: TestClient, conn: psycopg.Connection
) -> None:
    _nurse(conn)
    answer = client.post(
        "/api/auth/login", json={"username": "nurse.li", "password": TEST_PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["staff"]["role"] == "nurse"
    assert body["staff"]["home_site_ids"] == ["home-a"]
    assert "act_on_alerts" in body["staff"]["permissions"]
    client.cookies.clear()
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "nurse.li"
    stored = conn.execute("SELECT password_hash FROM staff_users").fetchone()
    assert stored is not None and stored[0].startswith("$argon2id$")
    assert TEST_PASSWORD not in stored[0]


def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: TestClient, conn: psycopg.Connection
) -> None:
    _nurse(conn)
    wrong = client.post("/api/auth/login", json={"username": "nurse.li", "password": "nope"})
    unknown = client.post("/api/auth/login", json={"username": "nobody", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    actions = conn.execute("SELECT action, username FROM access_audit ORDER BY audit_id").fetchall()
    assert actions == [("login_failed", "nurse.li"), ("login_failed", "nobody")]


def test_account_locks_after_repeated_failures(
    client: TestClient, conn: psycopg.Connection
) -> None:
    _nurse(conn)
    for _ in range(MAX_FAILED_LOGINS):
        client.post("/api/auth/login", json={"username": "nurse.li", "password": "wrong"})
    locked = client.post(
        "/api/auth/login", json={"username": "nurse.li", "password": TEST_PASSWORD}
    )
    assert locked.status_code == 401


def test_cookie_session_needs_the_csrf_header_for_changes(
    client: TestClient, conn: psycopg.Connection
) -> None:
    _nurse(conn)
    login = client.post("/api/auth/login", json={"username": "nurse.li", "password": TEST_PASSWORD})
    assert SESSION_COOKIE in login.cookies
    assert client.get("/api/auth/me").status_code == 200  # a read with the cookie alone
    refused = client.post("/api/auth/logout")
    assert refused.status_code == 403
    assert CSRF_HEADER in refused.json()["detail"]
    assert client.post("/api/auth/logout", headers={CSRF_HEADER: "eldercare"}).status_code == 204
    assert client.get("/api/auth/me").status_code == 401


def test_logout_ends_a_bearer_session(client: TestClient, conn: psycopg.Connection) -> None:
    headers = staff_headers(conn, Role.DOCTOR, site_id="home-a")
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/auth/me", headers=headers).status_code == 401


def test_requests_without_a_session_are_refused(client: TestClient) -> None:
    answer = client.get("/api/alerts")
    assert answer.status_code == 401
    assert "log" in answer.json()["detail"]
    assert client.get("/api/alerts", headers={"Authorization": "Bearer forged"}).status_code == 401


def test_site_admin_adds_staff_at_own_site_only(
    client: TestClient, conn: psycopg.Connection
) -> None:
    register_site(conn, site_id="home-b", name="Home B", tier="care_home")
    admin = staff_headers(conn, Role.SITE_ADMIN, site_id="home-a")
    account = {
        "username": "doctor.wang",
        "display_name": "Wang Wei",
        "role": "doctor",
        "password": TEST_PASSWORD,
        "site_id": "home-a",
    }
    created = client.post("/api/staff", json=account, headers=admin)
    assert created.status_code == 201, created.text
    assert "password" not in created.json() and "password_hash" not in created.json()
    foreign = client.post(
        "/api/staff", json={**account, "username": "doctor.b", "site_id": "home-b"}, headers=admin
    )
    assert foreign.status_code == 403
    too_high = client.post(
        "/api/staff",
        json={**account, "username": "net.admin", "role": "network_admin", "site_id": None},
        headers=admin,
    )
    assert too_high.status_code == 403
    short = client.post(
        "/api/staff", json={**account, "username": "doctor.c", "password": "short"}, headers=admin
    )
    assert short.status_code == 422
    listed = client.get("/api/staff", headers=admin).json()
    assert {a["username"] for a in listed["data"]} >= {"doctor.wang"}
    assert all(a["site_id"] == "home-a" for a in listed["data"])


def test_deactivating_an_account_ends_its_sessions(
    client: TestClient, conn: psycopg.Connection
) -> None:
    admin = staff_headers(conn, Role.SITE_ADMIN, site_id="home-a")
    nurse = staff_headers(conn, Role.NURSE, site_id="home-a", username="nurse.zhao")
    (user_id,) = conn.execute(
        "SELECT user_id FROM staff_users WHERE username = 'nurse.zhao'"
    ).fetchone()  # type: ignore[misc]
    assert client.patch(f"/api/staff/{user_id}", json={"active": False}, headers=admin).is_success
    assert client.get("/api/auth/me", headers=nurse).status_code == 401


def test_every_authenticated_request_is_audited(
    client: TestClient, conn: psycopg.Connection
) -> None:
    nurse = staff_headers(conn, Role.NURSE, site_id="home-a", username="nurse.qian")
    client.get("/api/auth/me", headers=nurse)
    client.get("/api/staff", headers=nurse)  # refused: a nurse does not manage staff
    rows = conn.execute(
        "SELECT username, action, method, route, status FROM access_audit ORDER BY audit_id"
    ).fetchall()
    assert rows == [
        ("nurse.qian", "read", "GET", "/api/auth/me", 200),
        ("nurse.qian", "denied", "GET", "/api/staff", 403),
    ]


def test_pages_and_answers_carry_security_headers(client: TestClient) -> None:
    page = client.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    refused = client.get("/api/alerts")
    assert refused.headers["cache-control"] == "no-store"
