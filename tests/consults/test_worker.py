"""The consults worker: green channel from critical alerts, escalation, tiers, follow-ups."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest

from consults import (
    ConsultsError,
    ConsultsWorker,
    GreenChannelPolicy,
    PolicyDecision,
    ReferralPriority,
    RiskTier,
    TaskStatus,
    apply_green_channel_policy,
    complete_follow_up,
    follow_ups,
    get_referral,
    referrals_for_alert,
    request_referral,
    run_once,
    set_risk_tier,
)
from eldercare.settings import Settings
from tests.consults.support import ACTOR, T0, add_alert, build_network


def test_critical_alert_gets_a_linked_green_channel_proposal_once(
    network: psycopg.Connection,
) -> None:
    conn = network
    alert_id = add_alert(conn, "r1")
    (outcome,) = apply_green_channel_policy(conn, now=T0)
    assert outcome.decision is PolicyDecision.PROPOSE
    referral = get_referral(conn, outcome.referral_id)  # type: ignore[arg-type]
    assert (referral.status, referral.priority, referral.to_site_id) == (
        "draft",
        "green_channel",
        "demo-hospital",
    )
    assert referral.proposed_by_policy
    assert referral.alert_ids == [alert_id]
    assert referrals_for_alert(conn, alert_id) == [referral.referral_id]
    assert apply_green_channel_policy(conn, now=T0 + timedelta(minutes=1)) == []


def test_most_critical_opens_and_others_are_left_alone(network: psycopg.Connection) -> None:
    conn = network
    high_risk = add_alert(conn, "r2")  # r2 is a high-risk resident
    listed_kind = add_alert(conn, "r1", kind="apnea")
    quality = add_alert(conn, "r1", kind="device_silent", channel="data_quality")
    not_critical = add_alert(conn, "r1", kind="bradycardia", severity="high")
    outcomes = {
        o.alert_id: o
        for o in apply_green_channel_policy(
            conn, now=T0, policy=GreenChannelPolicy(open_kinds=frozenset({"apnea"}))
        )
    }
    assert set(outcomes) == {high_risk, listed_kind, quality}  # only critical alerts are read
    assert outcomes[high_risk].decision is PolicyDecision.OPEN
    assert outcomes[listed_kind].decision is PolicyDecision.OPEN
    assert outcomes[quality].decision is PolicyDecision.NONE
    opened = get_referral(conn, outcomes[high_risk].referral_id)  # type: ignore[arg-type]
    assert (opened.status, opened.accept_by) == ("requested", T0 + timedelta(minutes=15))
    assert referrals_for_alert(conn, not_critical) == []


def test_alert_already_referred_by_staff_is_not_proposed_again(
    network: psycopg.Connection,
) -> None:
    conn = network
    alert_id = add_alert(conn, "r1")
    request_referral(
        conn,
        resident_id="r1",
        priority=ReferralPriority.GREEN_CHANNEL,
        reason="by hand",
        requested_by=ACTOR,
        now=T0,
        alert_ids=[alert_id],
    )
    assert apply_green_channel_policy(conn, now=T0) == []


def test_no_route_is_recorded_not_retried(conn: psycopg.Connection) -> None:
    build_network(conn)
    conn.execute("INSERT INTO sites (site_id, name, tier) VALUES ('lonely', 'L', 'care_home')")
    conn.execute(
        "INSERT INTO residents (resident_id, site_id, display_name) VALUES ('l1', 'lonely', 'L')"
    )
    add_alert(conn, "l1")
    (outcome,) = apply_green_channel_policy(conn, now=T0)
    assert outcome.decision is PolicyDecision.NONE
    assert "no referral possible" in outcome.reason
    assert apply_green_channel_policy(conn, now=T0) == []


def test_run_once_schedules_follow_ups_and_expires_tiers(network: psycopg.Connection) -> None:
    conn = network
    result = run_once(conn, now=T0)
    assert result.follow_ups_created == 3
    due = {t.resident_id: t.due_at for t in follow_ups(conn)}
    assert due == {
        "r1": T0 + timedelta(days=14),
        "r2": T0 + timedelta(days=1),
        "x1": T0 + timedelta(days=14),
    }
    set_risk_tier(conn, "r1", RiskTier.HIGH, actor="dr-wang", now=T0, until=T0 + timedelta(days=3))
    assert {t.resident_id: t.due_at for t in follow_ups(conn)}["r1"] == T0 + timedelta(days=1)
    task = next(t for t in follow_ups(conn) if t.resident_id == "r1")
    done = complete_follow_up(conn, task.task_id, actor=ACTOR, now=T0 + timedelta(days=1))
    assert (done.status, done.completed_by) == ("completed", ACTOR)
    assert run_once(conn, now=T0 + timedelta(days=3)).risk_tiers_expired == 1
    tier = conn.execute("SELECT risk_tier FROM residents WHERE resident_id = 'r1'").fetchone()
    assert tier == ("medium",)
    with pytest.raises(ConsultsError, match="only a 'requested' one"):
        complete_follow_up(conn, task.task_id, actor=ACTOR, now=T0)


def test_worker_process_loop_opens_and_escalates(
    settings: Settings, conn: psycopg.Connection
) -> None:
    build_network(conn)
    alert_id = add_alert(conn, "r2")
    clock = [T0]
    worker = ConsultsWorker(settings, poll_interval_s=0.05, clock=lambda: clock[0])
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        referral_id = _wait_for(lambda: (referrals_for_alert(conn, alert_id) or [None])[0])
        clock[0] = T0 + timedelta(minutes=16)  # past the green channel's acceptance deadline
        moved = _wait_for(lambda: get_referral(conn, referral_id).escalation_level == 1 or None)
        assert moved
        assert get_referral(conn, referral_id).to_site_id == "demo-hospital-2"
        assert get_referral(conn, referral_id).status == TaskStatus.REQUESTED
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def _wait_for(probe, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_two_workers_decide_once_per_alert(network: psycopg.Connection, database_url: str) -> None:
    alert_ids = [add_alert(network, "r1", kind=f"kind-{i}") for i in range(5)]
    barrier = threading.Barrier(2)
    results: list[list[int]] = []

    def work() -> None:
        with psycopg.connect(database_url, autocommit=True) as own:
            barrier.wait(10)
            outcomes = apply_green_channel_policy(own, now=T0)
            results.append([o.alert_id for o in outcomes])

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(a for decided in results for a in decided) == alert_ids
    (count,) = network.execute("SELECT count(*) FROM referrals").fetchone()  # type: ignore[misc]
    assert count == 5
