"""Builders for consults tests: the demo network plus a foreign alliance, residents, readings and
alerts on a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from consults import add_alliance, add_member, add_route, seed_demo_network
from devices import Metric, Sample, Topics, VitalsMessage, encode_vitals
from eldercare.db import current_backend
from eldercare.registry import Bedside, register_bedside, register_site
from ingest import RawMessage, decode, load_device_sites, write_batch

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
NAMESPACE = "consults-test"
ACTOR = "nurse-amy"


def add_resident(
    conn: psycopg.Connection, resident_id: str, site_id: str, *, risk_tier: str = "medium"
) -> str:
    register_bedside(
        conn,
        Bedside(
            site_id=site_id,
            resident_id=resident_id,
            display_name=f"Resident {resident_id}",
            bed_id=f"bed-{resident_id}",
            device_id=f"mat-{resident_id}",
            device_model="smart_mattress",
            risk_tier=risk_tier,
        ),
        since=T0 - timedelta(days=2),
    )
    return f"mat-{resident_id}"


def build_network(conn: psycopg.Connection) -> None:
    """The demo network, a second hospital in its alliance, and a foreign alliance."""
    seed_demo_network(conn, now=T0)
    register_site(conn, site_id="demo-hospital-2", name="Second hospital", tier="tertiary_hospital")
    add_member(
        conn,
        alliance_id="demo-alliance",
        site_id="demo-hospital-2",
        escalation_rank=50,
        actor="test",
        now=T0,
    )
    register_site(conn, site_id="other-home", name="Other home", tier="care_home")
    register_site(conn, site_id="other-hospital", name="Other hospital", tier="tertiary_hospital")
    add_alliance(
        conn,
        alliance_id="other-alliance",
        name="Other",
        coordinator_name="Other coordinator",
        actor="test",
        now=T0,
    )
    for rank, site in enumerate(("other-home", "other-hospital")):
        add_member(
            conn,
            alliance_id="other-alliance",
            site_id=site,
            escalation_rank=rank,
            actor="test",
            now=T0,
        )
    add_route(conn, from_site_id="other-home", to_site_id="other-hospital", actor="test", now=T0)
    add_resident(conn, "r1", "demo-care-home")
    add_resident(conn, "r2", "demo-care-home-2", risk_tier="high")
    add_resident(conn, "x1", "other-home")


def write_vitals(
    conn: psycopg.Connection,
    device_id: str,
    site_id: str,
    *,
    start: datetime,
    heart_rates: list[float],
    step: timedelta = timedelta(minutes=10),
) -> None:
    """Store heart/respiration rate samples through ingest's real writer (both backends)."""
    samples = tuple(
        Sample(
            device_ts=start + i * step,
            values=(
                (Metric.HEART_RATE, hr),
                (Metric.RESPIRATION_RATE, 16.0),
                (Metric.BED_PRESENCE, 1.0),
            ),
        )
        for i, hr in enumerate(heart_rates)
    )
    raw = RawMessage(
        topic=f"{NAMESPACE}/v1/{site_id}/{device_id}/vitals",
        payload=encode_vitals(VitalsMessage(seq=1, samples=samples)),
        qos=1,
        mid=1,
        received_at=start,
    )
    result = write_batch(
        conn,
        [decode(raw, Topics(NAMESPACE))],
        device_sites=load_device_sites(conn),
        backend=current_backend(conn),
    )
    assert result.readings_stored == 3 * len(heart_rates), result


def add_alert(
    conn: psycopg.Connection,
    resident_id: str,
    *,
    kind: str = "tachycardia",
    severity: str = "critical",
    channel: str = "clinical",
    at: datetime = T0,
) -> int:
    """An alert as the alerts stage stores it, with one finding carrying evidence."""
    (site_id,) = conn.execute(  # type: ignore[misc]
        "SELECT site_id FROM residents WHERE resident_id = %s", (resident_id,)
    ).fetchone()
    (alert_id,) = conn.execute(  # type: ignore[misc]
        "INSERT INTO alerts (resident_id, site_id, kind, channel, severity, started_at,"
        " detected_at, last_seen_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING alert_id",
        (resident_id, site_id, kind, channel, severity, at - timedelta(minutes=2), at, at),
    ).fetchone()
    conn.execute(
        "INSERT INTO findings (resident_id, device_id, kind, severity, channel, started_at,"
        " detected_at, evidence, detector, detector_version, processed_at, alert_id)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'test', '1', %s, %s)",
        (
            resident_id,
            f"mat-{resident_id}",
            kind,
            severity,
            channel,
            at - timedelta(minutes=2),
            at,
            '{"median_bpm": 142, "samples": 120}',
            at,
            alert_id,
        ),
    )
    return int(alert_id)
