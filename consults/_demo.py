"""The demo care network that `eldercare up --demo` starts with."""

from __future__ import annotations

from datetime import datetime

import psycopg

from consults._network import SiteTier
from consults._network_store import (
    add_alliance,
    add_department,
    add_member,
    add_route,
    add_specialist,
)
from eldercare.registry import register_site

DEMO_ALLIANCE = "demo-alliance"
_ACTOR = "demo-seed"

# (site id, name, tier); `demo-care-home` is the simulated ward's site.
_SITES = (
    ("demo-care-home", "Demo care home", SiteTier.CARE_HOME),
    ("demo-care-home-2", "Riverside care home", SiteTier.CARE_HOME),
    ("demo-home-beds-1", "Home beds of Demo care home", SiteTier.HOME_BED),
    ("demo-home-beds-2", "Home beds of Riverside care home", SiteTier.HOME_BED),
    ("demo-community-centre", "Eastside community health centre", SiteTier.COMMUNITY_HEALTH_CENTRE),
    ("demo-hospital", "City tertiary hospital", SiteTier.TERTIARY_HOSPITAL),
)
_ROUTES = (
    ("demo-home-beds-1", "demo-care-home"),
    ("demo-home-beds-2", "demo-care-home-2"),
    ("demo-home-beds-1", "demo-community-centre"),
    ("demo-home-beds-2", "demo-community-centre"),
    ("demo-care-home", "demo-community-centre"),
    ("demo-care-home-2", "demo-community-centre"),
    ("demo-community-centre", "demo-hospital"),
)
_DEPARTMENTS = (
    ("demo-hospital-cardiology", "demo-hospital", "Cardiology", "cardiology"),
    ("demo-hospital-respiratory", "demo-hospital", "Respiratory medicine", "respiratory"),
    ("demo-hospital-geriatrics", "demo-hospital", "Geriatric medicine", "geriatrics"),
    ("demo-centre-rehab", "demo-community-centre", "Rehabilitation", "rehabilitation"),
)
_SPECIALISTS = (
    ("dr-chen", "demo-hospital-cardiology", "Dr Chen Wei", "cardiology", True),
    ("dr-li", "demo-hospital-respiratory", "Dr Li Na", "respiratory", False),
    ("dr-wang", "demo-hospital-geriatrics", "Dr Wang Fang", "geriatrics", True),
    ("pt-zhao", "demo-centre-rehab", "Zhao Min (physiotherapist)", "rehabilitation", False),
)


def seed_demo_network(conn: psycopg.Connection, *, now: datetime) -> bool:
    """Create the demo network once (two care homes with home beds, a community health centre, a
    tertiary hospital, one alliance, departments, specialists); False when it exists already."""
    with conn.transaction():
        exists = conn.execute(
            "SELECT 1 FROM alliances WHERE alliance_id = %s", (DEMO_ALLIANCE,)
        ).fetchone()
        if exists:
            return False
        for site_id, name, tier in _SITES:
            register_site(conn, site_id=site_id, name=name, tier=tier)
        add_alliance(
            conn,
            alliance_id=DEMO_ALLIANCE,
            name="Eastside medical alliance",
            coordinator_name="Alliance on-call coordinator",
            coordinator_phone="+86 10 0000 0000",
            actor=_ACTOR,
            now=now,
        )
        for rank, (site_id, _, _) in enumerate(_SITES):
            add_member(
                conn,
                alliance_id=DEMO_ALLIANCE,
                site_id=site_id,
                escalation_rank=rank,
                actor=_ACTOR,
                now=now,
            )
        for source, target in _ROUTES:
            add_route(conn, from_site_id=source, to_site_id=target, actor=_ACTOR, now=now)
        for department_id, site_id, name, specialty in _DEPARTMENTS:
            add_department(
                conn,
                department_id=department_id,
                site_id=site_id,
                name=name,
                specialty=specialty,
                actor=_ACTOR,
                now=now,
            )
        for specialist_id, department_id, name, specialty, on_call in _SPECIALISTS:
            add_specialist(
                conn,
                specialist_id=specialist_id,
                department_id=department_id,
                display_name=name,
                specialty=specialty,
                on_call=on_call,
                actor=_ACTOR,
                now=now,
            )
    return True
