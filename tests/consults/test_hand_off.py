"""Alert escalation policies hand off to consults (issue 6): acted on once, linked both ways."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import psycopg
from fastapi.testclient import TestClient

from consults import (
    HandOff,
    TaskStatus,
    apply_alert_hand_offs,
    consults_for_alert,
    get_consult,
    get_referral,
    referrals_for_alert,
    run_once,
    transition_consult,
)
from dashboard import create_app
from dashboard._access import Role
from eldercare.settings import Settings
from tests.consults.support import ACTOR, T0, add_alert
from tests.utils.staff import staff_headers


def add_event(
    conn: psycopg.Connection, alert_id: int, hand_off: str, *, event: str = "opened"
) -> None:
    """An outbox event as the alerts stage writes it, carrying its policy's hand-off."""
    site_id, resident_id, kind, channel, severity = conn.execute(  # type: ignore[misc]
        "SELECT site_id, resident_id, kind, channel, severity FROM alerts WHERE alert_id = %s",
        (alert_id,),
    ).fetchone()
    conn.execute(
        "INSERT INTO alert_events (event_id, alert_id, event_type, site_id, resident_id, kind,"
        " channel, severity, payload, occurred_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            uuid.uuid4(),
            alert_id,
            event,
            site_id,
            resident_id,
            kind,
            channel,
            severity,
            json.dumps({"policy": "test", "hand_off": hand_off}),
            T0,
        ),
    )


def test_propose_consult_makes_one_draft_consult_linked_to_the_alert(
    network: psycopg.Connection,
) -> None:
    conn = network
    alert_id = add_alert(conn, "r1", severity="high")
    add_event(conn, alert_id, "propose_consult")
    add_event(conn, alert_id, "propose_consult", event="escalated")  # the same ask again
    (outcome,) = apply_alert_hand_offs(conn, now=T0)
    assert (outcome.hand_off, outcome.outcome) == (HandOff.PROPOSE_CONSULT, "consult proposed")
    consult = get_consult(conn, outcome.consult_id)  # type: ignore[arg-type]
    assert (consult.status, consult.alert_id, consult.resident_id) == ("draft", alert_id, "r1")
    assert consults_for_alert(conn, alert_id) == [consult.consult_id]
    assert apply_alert_hand_offs(conn, now=T0 + timedelta(minutes=1)) == []
    # Staff send the proposal: a draft is a FHIR Task that can be requested.
    sent = transition_consult(
        conn, consult.consult_id, TaskStatus.REQUESTED, actor=ACTOR, now=T0 + timedelta(minutes=2)
    )
    assert sent.status == "requested"


def test_open_green_channel_sends_a_referral_and_the_policy_adds_no_second(
    network: psycopg.Connection,
) -> None:
    conn = network
    alert_id = add_alert(conn, "r1")  # critical: the green-channel policy would propose too
    add_event(conn, alert_id, "open_green_channel")
    tick = run_once(conn, now=T0, follow_ups=False)
    (outcome,) = tick.hand_offs
    assert outcome.outcome == "green channel opened"
    referral = get_referral(conn, outcome.referral_id)  # type: ignore[arg-type]
    assert (referral.status, referral.priority) == ("requested", "green_channel")
    assert referral.alert_ids == [alert_id]
    assert referrals_for_alert(conn, alert_id) == [referral.referral_id]
    assert tick.policy == ()  # the alert is referred already


def test_open_consult_and_propose_referral_and_data_quality_alerts(
    network: psycopg.Connection,
) -> None:
    conn = network
    consult_alert = add_alert(conn, "r1", kind="bradycardia", severity="high")
    referral_alert = add_alert(conn, "r2", kind="hypotension", severity="high")
    quality_alert = add_alert(conn, "r1", kind="device_silent", channel="data_quality")
    add_event(conn, consult_alert, "open_consult")
    add_event(conn, referral_alert, "propose_referral")
    add_event(conn, quality_alert, "open_consult")
    outcomes = {o.alert_id: o for o in apply_alert_hand_offs(conn, now=T0)}
    assert set(outcomes) == {consult_alert, referral_alert}  # data quality never hands off
    consult = get_consult(conn, outcomes[consult_alert].consult_id)  # type: ignore[arg-type]
    assert consult.status == "requested" and consult.urgency == "urgent"
    referral = get_referral(conn, outcomes[referral_alert].referral_id)  # type: ignore[arg-type]
    assert (referral.status, referral.priority) == ("draft", "urgent")


def test_links_are_visible_from_the_alert_in_the_api(
    network: psycopg.Connection, settings: Settings
) -> None:
    conn = network
    alert_id = add_alert(conn, "r1")
    add_event(conn, alert_id, "open_consult")
    add_event(conn, alert_id, "open_green_channel")
    apply_alert_hand_offs(conn, now=T0)
    hospital = staff_headers(conn, Role.SPECIALIST, site_id="demo-hospital")
    foreign = staff_headers(conn, Role.SPECIALIST, site_id="other-hospital")
    with TestClient(create_app(settings)) as client:
        consults = client.get(f"/api/consults/by-alert/{alert_id}", headers=hospital)
        referrals = client.get(f"/api/referrals/by-alert/{alert_id}", headers=hospital)
        hidden = [
            client.get(f"/api/{kind}/by-alert/{alert_id}", headers=foreign).status_code
            for kind in ("consults", "referrals")
        ]
    assert consults.status_code == 200 and consults.json() == consults_for_alert(conn, alert_id)
    assert referrals.status_code == 200 and referrals.json() == referrals_for_alert(conn, alert_id)
    assert len(consults.json()) == len(referrals.json()) == 1
    assert hidden == [404, 404]  # another alliance's hospital: no such alert
