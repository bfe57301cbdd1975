"""A small care network with one of every record, for the authorization matrix and schemathesis:
the demo alliance's care home ("own"), its sister care home ("sibling", same alliance) and a care
home of another alliance ("foreign"), each with a resident, readings, an alert, a consult, a
green-channel referral, a follow-up, a note, alert subscribers, a shift and a staff account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import psycopg

from consults import (
    ConsultUrgency,
    ReferralPriority,
    RiskTier,
    request_consult,
    request_referral,
    set_risk_tier,
)
from dashboard import Role
from tests.consults.support import T0, add_alert, build_network, write_vitals
from tests.utils.staff import staff_headers


@dataclass(frozen=True, slots=True)
class SiteRecords:
    """Ids of one site's records, by the path parameter names the API uses."""

    site_id: str
    resident_id: str
    device_id: str
    alert_id: int
    consult_id: int
    referral_id: int
    task_id: int
    note_id: int
    subscriber_id: int
    shift_id: int
    policy_name: str
    user_id: int

    def path_values(self) -> dict[str, str]:
        return {
            "site_id": self.site_id,
            "resident_id": self.resident_id,
            "device_id": self.device_id,
            "alert_id": str(self.alert_id),
            "consult_id": str(self.consult_id),
            "referral_id": str(self.referral_id),
            "task_id": str(self.task_id),
            "note_id": str(self.note_id),
            "subscriber_id": str(self.subscriber_id),
            "shift_id": str(self.shift_id),
            "name": self.policy_name,
            "policy_name": self.policy_name,
            "user_id": str(self.user_id),
            "delivery_id": "1",  # retrying needs a dead delivery: refusals are what is checked
            "parameter": "heart_rate.min_duration_s",
        }


# The viewer of each role: bedside roles and the site admin at the own care home, hospital roles
# at the alliance's hospital, the network admin over the alliance.
VIEWER_PLACES: dict[Role, dict[str, str]] = {
    Role.NURSE: {"site_id": "demo-care-home"},
    Role.CHARGE_NURSE: {"site_id": "demo-care-home"},
    Role.DOCTOR: {"site_id": "demo-care-home"},
    Role.SITE_ADMIN: {"site_id": "demo-care-home"},
    Role.SPECIALIST: {"site_id": "demo-hospital"},
    Role.NETWORK_ADMIN: {"alliance_id": "demo-alliance"},
}


def _site_records(conn: psycopg.Connection, site_id: str, resident_id: str) -> SiteRecords:
    device_id = f"mat-{resident_id}"
    write_vitals(conn, device_id, site_id, start=T0 - timedelta(hours=3), heart_rates=[72] * 18)
    alert_id = add_alert(conn, resident_id, at=T0 - timedelta(minutes=5))
    consult = request_consult(
        conn,
        resident_id=resident_id,
        question="Heart rate 142 for 10 minutes: adjust monitoring?",
        urgency=ConsultUrgency.URGENT,
        requested_by="world",
        now=T0,
        alert_id=alert_id,
    )
    referral = request_referral(
        conn,
        resident_id=resident_id,
        priority=ReferralPriority.GREEN_CHANNEL,
        reason="Sustained tachycardia",
        requested_by="world",
        now=T0,
        alert_ids=(alert_id,),
    )
    set_risk_tier(conn, resident_id, RiskTier.HIGH, actor="world", now=T0 - timedelta(days=1))
    (task_id,) = conn.execute(  # type: ignore[misc]
        "SELECT task_id FROM follow_up_tasks WHERE resident_id = %s ORDER BY task_id LIMIT 1",
        (resident_id,),
    ).fetchone()
    staff_headers(conn, Role.NURSE, site_id=site_id, username=f"nurse.{resident_id}")
    (user_id,) = conn.execute(  # type: ignore[misc]
        "SELECT user_id FROM staff_users WHERE username = %s", (f"nurse.{resident_id}",)
    ).fetchone()
    (note_id,) = conn.execute(  # type: ignore[misc]
        "INSERT INTO resident_notes (resident_id, author_user_id, author, body, created_at)"
        " VALUES (%s, %s, %s, 'Ate well, slept badly.', %s) RETURNING note_id",
        (resident_id, user_id, f"nurse.{resident_id}", T0),
    ).fetchone()
    (subscriber_id,) = conn.execute(  # type: ignore[misc]
        "INSERT INTO alert_subscribers (name, transport, site_id) VALUES (%s, 'sse', %s)"
        " RETURNING subscriber_id",
        (f"ward-screen-{site_id}", site_id),
    ).fetchone()
    (shift_id,) = conn.execute(  # type: ignore[misc]
        "INSERT INTO oncall_shifts (site_id, role, staff_id, starts_at, ends_at)"
        " VALUES (%s, 'charge_nurse', %s, %s, %s) RETURNING shift_id",
        (site_id, f"nurse.{resident_id}", T0 - timedelta(hours=8), T0 + timedelta(hours=8)),
    ).fetchone()
    conn.execute(
        "INSERT INTO escalation_policies (site_id, name, steps, reminder_every_s)"
        ' VALUES (%s, \'night\', \'[{"role": "charge_nurse", "after_s": 300}]\', 300)',
        (site_id,),
    )
    return SiteRecords(
        site_id=site_id,
        resident_id=resident_id,
        device_id=device_id,
        alert_id=alert_id,
        consult_id=consult.consult_id,
        referral_id=referral.referral_id,
        task_id=int(task_id),
        note_id=int(note_id),
        subscriber_id=int(subscriber_id),
        shift_id=int(shift_id),
        policy_name="night",
        user_id=int(user_id),
    )


def build_world(conn: psycopg.Connection) -> dict[str, SiteRecords]:
    """`own`, `sibling` and `foreign` site records (see the module docstring)."""
    build_network(conn)
    return {
        "own": _site_records(conn, "demo-care-home", "r1"),
        "sibling": _site_records(conn, "demo-care-home-2", "r2"),
        "foreign": _site_records(conn, "other-home", "x1"),
    }


def viewer_headers(conn: psycopg.Connection, role: Role) -> dict[str, str]:
    return staff_headers(conn, role, **VIEWER_PLACES[role])
