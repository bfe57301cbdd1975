"""The network view: alliance-scoped counts by state and deadlines at risk."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from consults import (
    ConsultUrgency,
    DeadlineRisk,
    NotFound,
    ReferralPriority,
    TaskStatus,
    network_view,
    request_consult,
    request_referral,
    sites_visible_to,
    transition_referral,
)
from tests.consults.support import ACTOR, T0


def fill(conn: psycopg.Connection) -> tuple[int, int, int]:
    green = request_referral(
        conn,
        resident_id="r1",
        priority=ReferralPriority.GREEN_CHANNEL,
        reason="x",
        requested_by=ACTOR,
        now=T0,
    )
    routine = request_referral(
        conn,
        resident_id="r2",
        priority=ReferralPriority.ROUTINE,
        reason="y",
        requested_by=ACTOR,
        now=T0,
    )
    transition_referral(conn, routine.referral_id, TaskStatus.ACCEPTED, actor="dr", now=T0)
    consult = request_consult(
        conn,
        resident_id="r2",
        question="?",
        urgency=ConsultUrgency.URGENT,
        requested_by=ACTOR,
        now=T0,
    )
    request_consult(
        conn,
        resident_id="x1",
        question="?",
        urgency=ConsultUrgency.EMERGENCY,
        requested_by=ACTOR,
        now=T0,
    )
    return green.referral_id, routine.referral_id, consult.consult_id


def test_hospital_sees_its_alliance_counts_and_deadlines_at_risk(
    network: psycopg.Connection,
) -> None:
    green_id, _, consult_id = fill(network)
    view = network_view(network, "demo-hospital", now=T0 + timedelta(minutes=12))
    assert "demo-care-home" in view.site_ids and "other-home" not in view.site_ids
    assert view.referrals_by_status == {"requested": 1, "accepted": 1}
    assert view.consults_by_status == {"requested": 1}
    # 12 of 15 minutes gone on the green channel: at risk; the 2 h consult is fine.
    assert [(d.kind, d.item_id, d.risk) for d in view.at_risk] == [
        ("referral", green_id, DeadlineRisk.AT_RISK)
    ]
    later = network_view(network, "demo-hospital", now=T0 + timedelta(hours=2))
    assert [(d.kind, d.item_id, d.risk) for d in later.at_risk] == [
        ("referral", green_id, DeadlineRisk.OVERDUE),
        ("consult", consult_id, DeadlineRisk.OVERDUE),
    ]


def test_foreign_alliance_sees_nothing_of_ours(network: psycopg.Connection) -> None:
    fill(network)
    view = network_view(network, "other-hospital", now=T0 + timedelta(hours=2))
    assert set(view.site_ids) == {"other-home", "other-hospital"}
    assert view.referrals_by_status == {}
    assert view.consults_by_status == {"requested": 1}  # only its own member's consult
    assert all(d.resident_id == "x1" for d in view.at_risk)


def test_unknown_viewer_is_refused(network: psycopg.Connection) -> None:
    with pytest.raises(NotFound):
        sites_visible_to(network, "nowhere")
