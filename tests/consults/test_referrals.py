"""Referrals up and down on a real database, with a fake clock for deadlines."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from consults import (
    IllegalTransition,
    NetworkRuleError,
    ReferralPriority,
    RehabPlan,
    RiskTier,
    TaskStatus,
    audit_trail,
    back_refer,
    effective_thresholds,
    escalate_overdue,
    follow_ups,
    get_referral,
    referrals_for_alert,
    request_referral,
    transition_referral,
)
from tests.consults.support import ACTOR, T0, add_alert, write_vitals


def refer(conn: psycopg.Connection, priority: ReferralPriority, **kwargs: object):
    values: dict[str, object] = {
        "resident_id": "r1",
        "priority": priority,
        "reason": "deteriorating",
        "requested_by": ACTOR,
        "now": T0,
    }
    values.update(kwargs)
    return request_referral(conn, **values)  # type: ignore[arg-type]


def test_routine_goes_to_the_next_tier_and_green_channel_to_the_hospital(
    network: psycopg.Connection,
) -> None:
    routine = refer(network, ReferralPriority.ROUTINE)
    green = refer(network, ReferralPriority.GREEN_CHANNEL)
    assert (routine.to_site_id, routine.accept_by) == (
        "demo-community-centre",
        T0 + timedelta(hours=48),
    )
    assert (green.to_site_id, green.accept_by) == ("demo-hospital", T0 + timedelta(minutes=15))
    assert green.alliance_id == "demo-alliance"


def test_handover_packet_has_summary_vitals_alerts_and_notes(network: psycopg.Connection) -> None:
    conn = network
    write_vitals(conn, "mat-r1", "demo-care-home", start=T0 - timedelta(hours=1), heart_rates=[140])
    alert_id = add_alert(conn, "r1")
    referral = refer(
        conn, ReferralPriority.URGENT, alert_ids=[alert_id], notes="Family informed at 07:40."
    )
    packet = referral.handover
    assert packet["summary"]["resident"]["resident_id"] == "r1"
    assert packet["summary"]["priority"] == "urgent"
    assert {v["metric"] for v in packet["vitals_24h"]} >= {"heart_rate", "respiration_rate"}
    assert [a["alert_id"] for a in packet["alerts"]] == [alert_id]
    assert packet["notes"] == "Family informed at 07:40."
    # Linked both ways.
    assert referral.alert_ids == [alert_id]
    assert referrals_for_alert(conn, alert_id) == [referral.referral_id]


def test_referrals_follow_the_network(network: psycopg.Connection) -> None:
    with pytest.raises(NetworkRuleError, match="does not refer"):
        refer(network, ReferralPriority.URGENT, to_site_id="other-hospital")
    with pytest.raises(NetworkRuleError, match="does not refer"):
        refer(network, ReferralPriority.URGENT, to_site_id="demo-care-home-2")
    direct = refer(network, ReferralPriority.URGENT, to_site_id="demo-hospital")
    assert direct.to_site_id == "demo-hospital"


def test_missed_acceptance_escalates_to_next_hospital_then_coordinator(
    network: psycopg.Connection,
) -> None:
    conn = network
    green = refer(conn, ReferralPriority.GREEN_CHANNEL)
    window = timedelta(minutes=15)

    assert escalate_overdue(conn, now=T0 + window - timedelta(seconds=1)) == []
    first = escalate_overdue(conn, now=T0 + window)
    assert [(e.from_site_id, e.to_site_id, e.level) for e in first] == [
        ("demo-hospital", "demo-hospital-2", 1)
    ]
    moved = get_referral(conn, green.referral_id)
    assert moved.accept_by == T0 + 2 * window
    assert moved.status == "requested"

    second = escalate_overdue(conn, now=T0 + 2 * window)
    assert [(e.to_site_id, e.level) for e in second] == [(None, 2)]
    final = get_referral(conn, green.referral_id)
    assert final.coordinator_owned
    assert sorted(final.tried_site_ids) == ["demo-hospital", "demo-hospital-2"]
    assert escalate_overdue(conn, now=T0 + 10 * window) == []  # the coordinator has it
    actions = [e.action for e in audit_trail(conn, "referral", green.referral_id)]
    assert actions == ["created", "escalated", "escalated_to_coordinator"]


def test_accepted_referral_is_not_escalated(network: psycopg.Connection) -> None:
    conn = network
    green = refer(conn, ReferralPriority.GREEN_CHANNEL)
    transition_referral(conn, green.referral_id, TaskStatus.ACCEPTED, actor="dr-wang", now=T0)
    assert escalate_overdue(conn, now=T0 + timedelta(hours=1)) == []


def test_back_referral_resumes_monitoring_with_plan(network: psycopg.Connection) -> None:
    conn = network
    up = refer(conn, ReferralPriority.GREEN_CHANNEL)
    for status in (TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS):
        transition_referral(conn, up.referral_id, status, actor="dr-wang", now=T0)
    later = T0 + timedelta(days=5)
    plan = RehabPlan(
        summary="NSTEMI treated; cardiac rehabilitation",
        goals=("walk 200 m unaided",),
        instructions="Daily HR review",
        raise_risk_tier_to=RiskTier.HIGH,
        risk_period=timedelta(days=14),
        thresholds={"heart_rate_sustained.low_bpm": 45.0},
        thresholds_period=timedelta(days=7),
    )
    down = back_refer(
        conn,
        up.referral_id,
        plan,
        actor="dr-wang",
        now=later,
        to_site_id="demo-community-centre",
    )
    assert (down.direction, down.from_site_id, down.to_site_id) == (
        "down",
        "demo-hospital",
        "demo-community-centre",
    )
    assert down.parent_referral_id == up.referral_id
    assert get_referral(conn, up.referral_id).status == "completed"
    assert down.rehab_plan is not None and down.rehab_plan["goals"] == ["walk 200 m unaided"]

    transition_referral(conn, down.referral_id, TaskStatus.ACCEPTED, actor="pt-zhao", now=later)

    resident = conn.execute(
        "SELECT site_id, risk_tier, risk_tier_after FROM residents WHERE resident_id = 'r1'"
    ).fetchone()
    assert resident == ("demo-community-centre", "high", "medium")
    thresholds = effective_thresholds(conn, "r1", now=later)
    assert thresholds["heart_rate_sustained.low_bpm"] == 45.0
    assert thresholds["heart_rate_sustained.min_duration_s"] == 60.0  # the high tier's profile
    (task,) = follow_ups(conn, site_ids=frozenset({"demo-community-centre"}))
    assert task.due_at == later + timedelta(days=1)
    assert [e.action for e in audit_trail(conn, "resident", "r1")] == [
        "site",
        "risk_tier",
        "thresholds",
    ]


def test_back_referral_needs_an_accepted_referral_and_goes_down(
    network: psycopg.Connection,
) -> None:
    conn = network
    up = refer(conn, ReferralPriority.URGENT, to_site_id="demo-hospital")
    plan = RehabPlan(summary="home")
    with pytest.raises(IllegalTransition, match="is 'requested'"):
        back_refer(conn, up.referral_id, plan, actor="dr-wang", now=T0)
    transition_referral(conn, up.referral_id, TaskStatus.ACCEPTED, actor="dr-wang", now=T0)
    with pytest.raises(NetworkRuleError, match="goes down a tier"):
        back_refer(
            conn, up.referral_id, plan, actor="dr-wang", now=T0, to_site_id="demo-hospital-2"
        )
    with pytest.raises(NetworkRuleError, match="not in an alliance"):
        back_refer(conn, up.referral_id, plan, actor="dr-wang", now=T0, to_site_id="other-home")
    down = back_refer(conn, up.referral_id, plan, actor="dr-wang", now=T0)
    assert down.to_site_id == "demo-care-home"


def test_draft_gets_its_deadline_when_sent(network: psycopg.Connection) -> None:
    conn = network
    draft = refer(conn, ReferralPriority.GREEN_CHANNEL, draft=True)
    assert (draft.status, draft.accept_by) == ("draft", None)
    assert escalate_overdue(conn, now=T0 + timedelta(days=1)) == []
    sent_at = T0 + timedelta(minutes=3)
    sent = transition_referral(
        conn, draft.referral_id, TaskStatus.REQUESTED, actor=ACTOR, now=sent_at
    )
    assert sent.accept_by == sent_at + timedelta(minutes=15)
