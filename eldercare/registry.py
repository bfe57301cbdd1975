"""Registering the care network's sites, residents, beds and devices (shared reference data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg


@dataclass(frozen=True, slots=True, kw_only=True)
class Bedside:
    """One resident in one bed with one device measuring them."""

    site_id: str
    resident_id: str
    display_name: str
    bed_id: str
    device_id: str
    device_model: str
    risk_tier: str = "medium"


def register_site(conn: psycopg.Connection, *, site_id: str, name: str, tier: str) -> None:
    conn.execute(
        "INSERT INTO sites (site_id, name, tier) VALUES (%s, %s, %s)"
        " ON CONFLICT (site_id) DO UPDATE SET name = excluded.name, tier = excluded.tier",
        (site_id, name, tier),
    )


def register_bedside(conn: psycopg.Connection, bedside: Bedside, *, since: datetime) -> None:
    """Create resident, bed and device if new, and assign the device to the resident from `since`
    (closing the device's previous assignment, so history stays attributed correctly)."""
    b = bedside
    conn.execute(
        "INSERT INTO residents (resident_id, site_id, display_name, risk_tier)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (resident_id) DO NOTHING",
        (b.resident_id, b.site_id, b.display_name, b.risk_tier),
    )
    conn.execute(
        "INSERT INTO beds (bed_id, site_id, label) VALUES (%s, %s, %s)"
        " ON CONFLICT (bed_id) DO NOTHING",
        (b.bed_id, b.site_id, b.bed_id),
    )
    conn.execute(
        "INSERT INTO devices (device_id, site_id, model) VALUES (%s, %s, %s)"
        " ON CONFLICT (device_id) DO NOTHING",
        (b.device_id, b.site_id, b.device_model),
    )
    current = conn.execute(
        "SELECT resident_id FROM device_assignments"
        " WHERE device_id = %s AND assigned_until IS NULL",
        (b.device_id,),
    ).fetchone()
    if current is not None and current[0] == b.resident_id:
        return
    conn.execute(
        "UPDATE device_assignments SET assigned_until = %s"
        " WHERE device_id = %s AND assigned_until IS NULL",
        (since, b.device_id),
    )
    conn.execute(
        "INSERT INTO device_assignments (device_id, resident_id, bed_id, assigned_from)"
        " VALUES (%s, %s, %s, %s)",
        (b.device_id, b.resident_id, b.bed_id, since),
    )
