"""Remote consults on a real database: snapshot, inbox, advice and its effects, audit."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from consults import (
    Advice,
    AdviceAction,
    ConsultsError,
    ConsultUrgency,
    IllegalTransition,
    NotFound,
    TaskStatus,
    answer_consult,
    audit_trail,
    effective_thresholds,
    get_referral,
    list_consults,
    request_consult,
    sites_visible_to,
    transition_consult,
)
from tests.consults.support import ACTOR, T0, add_alert, write_vitals


def test_consult_from_an_alert_carries_vitals_alerts_and_findings(
    network: psycopg.Connection,
) -> None:
    conn = network
    write_vitals(
        conn,
        "mat-r1",
        "demo-care-home",
        start=T0 - timedelta(hours=3),
        heart_rates=[70, 80, 90],
        step=timedelta(minutes=40),
    )
    alert_id = add_alert(conn, "r1")

    consult = request_consult(
        conn,
        resident_id="",
        alert_id=alert_id,
        question="Sustained tachycardia overnight: adjust monitoring?",
        urgency=ConsultUrgency.URGENT,
        requested_by=ACTOR,
        now=T0,
        department_id="demo-hospital-cardiology",
    )

    assert consult.resident_id == "r1"
    assert consult.target_site_id == "demo-hospital"
    assert consult.status == TaskStatus.REQUESTED
    assert consult.respond_by == T0 + timedelta(hours=2)
    snapshot = consult.snapshot
    hr = next(v for v in snapshot["vitals_24h"] if v["metric"] == "heart_rate")
    assert (hr["n"], hr["min"], hr["max"], hr["mean"]) == (3, 70, 90, 80)
    assert [p["mean"] for p in snapshot["charts"]["heart_rate"]] == [75, 90]  # hourly buckets
    assert [a["alert_id"] for a in snapshot["open_alerts"]] == [alert_id]
    assert snapshot["findings"][0]["evidence"] == {"median_bpm": 142, "samples": 120}
    assert [e.action for e in audit_trail(conn, "consult", consult.consult_id)] == ["created"]


def test_consult_defaults_to_the_alliance_hospital_and_needs_a_known_resident(
    network: psycopg.Connection,
) -> None:
    consult = request_consult(
        network,
        resident_id="r2",
        question="?",
        urgency=ConsultUrgency.ROUTINE,
        requested_by=ACTOR,
        now=T0,
    )
    assert consult.target_site_id == "demo-hospital"
    assert consult.respond_by == T0 + timedelta(hours=24)
    with pytest.raises(NotFound, match="nobody"):
        request_consult(
            network,
            resident_id="nobody",
            question="?",
            urgency=ConsultUrgency.ROUTINE,
            requested_by=ACTOR,
            now=T0,
        )


def test_inbox_is_ordered_by_deadline_and_scoped_to_the_alliance(
    network: psycopg.Connection,
) -> None:
    conn = network
    routine = request_consult(
        conn,
        resident_id="r1",
        question="routine",
        urgency=ConsultUrgency.ROUTINE,
        requested_by=ACTOR,
        now=T0,
    )
    emergency = request_consult(
        conn,
        resident_id="r2",
        question="emergency",
        urgency=ConsultUrgency.EMERGENCY,
        requested_by=ACTOR,
        now=T0,
        specialist_id="dr-chen",
    )
    foreign = request_consult(
        conn,
        resident_id="x1",
        question="foreign",
        urgency=ConsultUrgency.URGENT,
        requested_by=ACTOR,
        now=T0,
    )
    inbox, count = list_consults(
        conn, site_ids=sites_visible_to(conn, "demo-hospital"), target_site_id="demo-hospital"
    )
    assert [c.consult_id for c in inbox] == [emergency.consult_id, routine.consult_id]
    assert count == 2
    other, _ = list_consults(conn, site_ids=sites_visible_to(conn, "other-hospital"))
    assert [c.consult_id for c in other] == [foreign.consult_id]


def test_reply_with_new_thresholds_completes_and_applies_them(
    network: psycopg.Connection,
) -> None:
    conn = network
    consult = request_consult(
        conn,
        resident_id="r1",
        question="?",
        urgency=ConsultUrgency.URGENT,
        requested_by=ACTOR,
        now=T0,
    )
    reply_at = T0 + timedelta(minutes=30)
    advice = Advice(
        text="Known AF: alert from 120/min for a week.",
        action=AdviceAction.CHANGE_THRESHOLDS,
        thresholds={"heart_rate_sustained.high_bpm": 120.0},
        thresholds_period=timedelta(days=7),
    )
    done, referral = answer_consult(conn, consult.consult_id, advice, actor="dr-chen", now=reply_at)

    assert referral is None
    assert (done.status, done.advice_action, done.answered_by) == (
        "completed",
        "change_thresholds",
        "dr-chen",
    )
    assert effective_thresholds(conn, "r1", now=reply_at)["heart_rate_sustained.high_bpm"] == 120
    assert effective_thresholds(conn, "r1", now=reply_at + timedelta(days=8)) == {}
    trail = audit_trail(conn, "consult", consult.consult_id)
    assert [(e.from_status, e.to_status) for e in trail] == [
        (None, "requested"),
        ("requested", "accepted"),
        ("accepted", "in-progress"),
        ("in-progress", "completed"),
    ]
    assert [e.action for e in audit_trail(conn, "resident", "r1")] == ["thresholds"]


def test_reply_starting_a_referral_links_consult_and_alert(network: psycopg.Connection) -> None:
    conn = network
    alert_id = add_alert(conn, "r1", severity="high")
    consult = request_consult(
        conn,
        resident_id="r1",
        alert_id=alert_id,
        question="?",
        urgency=ConsultUrgency.EMERGENCY,
        requested_by=ACTOR,
        now=T0,
    )
    transition_consult(conn, consult.consult_id, TaskStatus.ACCEPTED, actor="dr-chen", now=T0)
    _, referral = answer_consult(
        conn,
        consult.consult_id,
        Advice(text="Admit for assessment", action=AdviceAction.START_REFERRAL),
        actor="dr-chen",
        now=T0,
    )
    assert referral is not None
    stored = get_referral(conn, referral.referral_id)
    assert (stored.consult_id, stored.alert_ids, stored.to_site_id, stored.priority) == (
        consult.consult_id,
        [alert_id],
        "demo-hospital",
        "urgent",
    )
    assert "Admit for assessment" in stored.handover["notes"]


def test_illegal_moves_are_refused_and_not_audited(network: psycopg.Connection) -> None:
    conn = network
    consult = request_consult(
        conn,
        resident_id="r1",
        question="?",
        urgency=ConsultUrgency.ROUTINE,
        requested_by=ACTOR,
        now=T0,
    )
    transition_consult(conn, consult.consult_id, TaskStatus.REJECTED, actor="dr-li", now=T0)
    with pytest.raises(IllegalTransition, match="is 'rejected'"):
        transition_consult(conn, consult.consult_id, TaskStatus.ACCEPTED, actor="dr-li", now=T0)
    with pytest.raises(IllegalTransition):
        answer_consult(
            conn,
            consult.consult_id,
            Advice(text="late", action=AdviceAction.KEEP_MONITORING),
            actor="dr-li",
            now=T0,
        )
    assert len(audit_trail(conn, "consult", consult.consult_id)) == 2
    with pytest.raises(ConsultsError, match="question"):
        request_consult(
            conn,
            resident_id="r1",
            question=" ",
            urgency=ConsultUrgency.ROUTINE,
            requested_by=ACTOR,
            now=T0,
        )
