"""Staff accounts and session headers for API tests: `staff_headers(conn, Role.NURSE,
site_id="s1")` gives the Authorization header of a fresh account of that role."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import psycopg

from dashboard._access import Role
from dashboard._staff_store import create_staff, open_session

TEST_PASSWORD = "correct horse battery staple"


def staff_headers(
    conn: psycopg.Connection,
    role: Role,
    *,
    site_id: str | None = None,
    alliance_id: str | None = None,
    username: str | None = None,
) -> dict[str, str]:
    """A new account with `role` at `site_id` (or `alliance_id` for a network admin) and the
    bearer header of a session that outlives any test clock."""
    now = datetime.now(UTC)
    account = create_staff(
        conn,
        username=username or f"{role.value.replace('_', '-')}-{secrets.token_hex(4)}",
        display_name=f"Test {role.value}",
        role=role,
        password=TEST_PASSWORD,
        now=now,
        site_id=site_id,
        alliance_id=alliance_id,
    )
    token, _ = open_session(
        conn, account.user_id, now=now - timedelta(days=3650), lifetime=timedelta(days=7300)
    )
    return {"Authorization": f"Bearer {token}"}
