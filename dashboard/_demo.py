"""Demo staff accounts for `eldercare up --demo`: one per role on the demo network, sharing one
password that the caller generates and keeps outside the repository."""

from __future__ import annotations

from datetime import datetime

import psycopg

from dashboard._access import Role
from dashboard._staff_store import create_staff

# (username, display name, role, site, alliance): the demo care home's ward team, the other
# care home's nurse (a foreign site for the first), the hospital's specialist and doctor, and
# the alliance's network admin (ids from consults' demo network).
DEMO_STAFF: tuple[tuple[str, str, Role, str | None, str | None], ...] = (
    ("nurse", "护士 李娜 (Li Na)", Role.NURSE, "demo-care-home", None),
    ("charge-nurse", "护士长 王芳 (Wang Fang)", Role.CHARGE_NURSE, "demo-care-home", None),
    ("doctor", "医生 张伟 (Zhang Wei)", Role.DOCTOR, "demo-care-home", None),
    ("site-admin", "管理员 刘洋 (Liu Yang)", Role.SITE_ADMIN, "demo-care-home", None),
    ("nurse-riverside", "护士 陈静 (Chen Jing)", Role.NURSE, "demo-care-home-2", None),
    ("specialist", "专科医生 陈伟 (Dr Chen Wei)", Role.SPECIALIST, "demo-hospital", None),
    ("hospital-doctor", "医生 赵敏 (Dr Zhao Min)", Role.DOCTOR, "demo-hospital", None),
    ("network-admin", "医联体管理员 孙丽 (Sun Li)", Role.NETWORK_ADMIN, None, "demo-alliance"),
)


def seed_demo_staff(conn: psycopg.Connection, *, password: str, now: datetime) -> list[str]:
    """Create the demo accounts that do not exist yet; the usernames created."""
    created = []
    for username, display_name, role, site_id, alliance_id in DEMO_STAFF:
        exists = conn.execute(
            "SELECT 1 FROM staff_users WHERE username = %s", (username,)
        ).fetchone()
        if exists:
            continue
        create_staff(
            conn,
            username=username,
            display_name=display_name,
            role=role,
            password=password,
            now=now,
            site_id=site_id,
            alliance_id=alliance_id,
        )
        created.append(username)
    return created
