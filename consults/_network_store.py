"""The care network in the database: alliances, members, referral routes, departments,
specialists (reference data, audited when changed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from consults._audit import record
from consults._errors import NotFound
from consults._network import AllianceMember, SiteTier, visible_site_ids


def add_alliance(
    conn: psycopg.Connection,
    *,
    alliance_id: str,
    name: str,
    coordinator_name: str,
    coordinator_phone: str | None = None,
    actor: str,
    now: datetime,
) -> None:
    conn.execute(
        "INSERT INTO alliances (alliance_id, name, coordinator_name, coordinator_phone)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (alliance_id) DO UPDATE SET name = excluded.name,"
        " coordinator_name = excluded.coordinator_name,"
        " coordinator_phone = excluded.coordinator_phone",
        (alliance_id, name, coordinator_name, coordinator_phone),
    )
    record(
        conn,
        entity="network",
        entity_id=alliance_id,
        action="alliance",
        actor=actor,
        at=now,
        detail={"name": name, "coordinator": coordinator_name},
    )


def add_member(
    conn: psycopg.Connection,
    *,
    alliance_id: str,
    site_id: str,
    escalation_rank: int = 0,
    actor: str,
    now: datetime,
) -> None:
    conn.execute(
        "INSERT INTO alliance_members (alliance_id, site_id, escalation_rank) VALUES (%s, %s, %s)"
        " ON CONFLICT (alliance_id, site_id)"
        " DO UPDATE SET escalation_rank = excluded.escalation_rank",
        (alliance_id, site_id, escalation_rank),
    )
    record(
        conn,
        entity="network",
        entity_id=alliance_id,
        action="member",
        actor=actor,
        at=now,
        detail={"site_id": site_id, "escalation_rank": escalation_rank},
    )


def add_route(
    conn: psycopg.Connection, *, from_site_id: str, to_site_id: str, actor: str, now: datetime
) -> None:
    """`from_site_id` refers residents up to `to_site_id` (back-referrals go the other way)."""
    conn.execute(
        "INSERT INTO referral_routes (from_site_id, to_site_id) VALUES (%s, %s)"
        " ON CONFLICT DO NOTHING",
        (from_site_id, to_site_id),
    )
    record(
        conn,
        entity="network",
        entity_id=from_site_id,
        action="route",
        actor=actor,
        at=now,
        detail={"to_site_id": to_site_id},
    )


def add_department(
    conn: psycopg.Connection,
    *,
    department_id: str,
    site_id: str,
    name: str,
    specialty: str,
    actor: str,
    now: datetime,
) -> None:
    conn.execute(
        "INSERT INTO departments (department_id, site_id, name, specialty) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (department_id) DO UPDATE SET site_id = excluded.site_id,"
        " name = excluded.name, specialty = excluded.specialty",
        (department_id, site_id, name, specialty),
    )
    record(
        conn,
        entity="network",
        entity_id=site_id,
        action="department",
        actor=actor,
        at=now,
        detail={"department_id": department_id, "name": name, "specialty": specialty},
    )


def add_specialist(
    conn: psycopg.Connection,
    *,
    specialist_id: str,
    department_id: str,
    display_name: str,
    specialty: str,
    on_call: bool = False,
    actor: str,
    now: datetime,
) -> None:
    conn.execute(
        "INSERT INTO specialists (specialist_id, department_id, display_name, specialty, on_call)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (specialist_id) DO UPDATE SET"
        " department_id = excluded.department_id, display_name = excluded.display_name,"
        " specialty = excluded.specialty, on_call = excluded.on_call",
        (specialist_id, department_id, display_name, specialty, on_call),
    )
    record(
        conn,
        entity="network",
        entity_id=department_id,
        action="specialist",
        actor=actor,
        at=now,
        detail={"specialist_id": specialist_id, "display_name": display_name},
    )


def site_tier(conn: psycopg.Connection, site_id: str) -> SiteTier:
    row = conn.execute("SELECT tier FROM sites WHERE site_id = %s", (site_id,)).fetchone()
    if row is None:
        raise NotFound(f"no site {site_id!r}")
    return SiteTier(row[0])


def alliance_members(conn: psycopg.Connection) -> list[AllianceMember]:
    rows = conn.execute(
        "SELECT m.alliance_id, m.site_id, s.tier, m.escalation_rank"
        " FROM alliance_members m JOIN sites s USING (site_id)"
    ).fetchall()
    return [
        AllianceMember(alliance_id=a, site_id=s, tier=SiteTier(t), escalation_rank=r)
        for a, s, t, r in rows
    ]


def sites_visible_to(conn: psycopg.Connection, viewer_site_id: str) -> frozenset[str]:
    """Data-layer access rule of the network view (see `visible_site_ids`)."""
    site_tier(conn, viewer_site_id)  # unknown viewer → NotFound, never "sees everything"
    return visible_site_ids(viewer_site_id, alliance_members(conn))


def network_overview(conn: psycopg.Connection) -> dict[str, Any]:
    """Sites, alliances with members, routes, departments and specialists."""
    cur = conn.cursor(row_factory=dict_row)
    return {
        "sites": cur.execute("SELECT site_id, name, tier FROM sites ORDER BY site_id").fetchall(),
        "alliances": cur.execute(
            "SELECT a.alliance_id, a.name, a.coordinator_name, a.coordinator_phone,"
            " coalesce(array_agg(m.site_id ORDER BY m.escalation_rank, m.site_id)"
            " FILTER (WHERE m.site_id IS NOT NULL), '{}') AS members"
            " FROM alliances a LEFT JOIN alliance_members m USING (alliance_id)"
            " GROUP BY a.alliance_id ORDER BY a.alliance_id"
        ).fetchall(),
        "routes": cur.execute(
            "SELECT from_site_id, to_site_id FROM referral_routes ORDER BY 1, 2"
        ).fetchall(),
        "departments": cur.execute(
            "SELECT department_id, site_id, name, specialty FROM departments ORDER BY 1"
        ).fetchall(),
        "specialists": cur.execute(
            "SELECT specialist_id, department_id, display_name, specialty, on_call"
            " FROM specialists ORDER BY 1"
        ).fetchall(),
    }
