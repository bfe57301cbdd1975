"""Factories for a registered ward, shared by tests."""

from __future__ import annotations

from datetime import datetime

import psycopg

from eldercare.registry import register_bedside, register_site
from simulators import Episode, SimulatedBed, demo_ward


def registered_ward(
    conn: psycopg.Connection,
    *,
    site_id: str,
    residents: int,
    since: datetime,
    episodes: dict[int, tuple[Episode, ...]] | None = None,
    seed: int = 7,
) -> list[SimulatedBed]:
    beds = demo_ward(site_id=site_id, residents=residents, seed=seed, episodes=episodes)
    register_site(conn, site_id=site_id, name=f"Test site {site_id}", tier="care_home")
    for bed in beds:
        register_bedside(conn, bed.bedside, since=since)
    return beds
