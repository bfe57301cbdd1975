"""The pure escalation state machine, driven by a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts import (
    DEFAULT_POLICIES,
    ActionKind,
    AlertState,
    EscalationPolicy,
    EscalationState,
    EscalationStep,
    HandOff,
    RiskTier,
    Shift,
    advance_escalation,
    choose_policy,
    escalate_now,
    on_call,
    start_escalation,
    switch_policy,
)
from analytics import Channel, Severity

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)

POLICY = EscalationPolicy(
    name="test",
    steps=(
        EscalationStep(role="nurse_on_duty", after=timedelta(0)),
        EscalationStep(role="charge_nurse", after=5 * MIN),
        EscalationStep(role="on_call_doctor", after=10 * MIN),
        EscalationStep(role="alliance_hospital", after=10 * MIN),
    ),
    reminder_every=2 * MIN,
)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


def test_start_pages_the_first_role_and_schedules_the_first_reminder() -> None:
    state, action = start_escalation(POLICY, at=T0)
    assert action.kind is ActionKind.PAGE and action.role == "nurse_on_duty" and action.level == 0
    assert state.next_at == T0 + 2 * MIN


def test_unanswered_alert_reminds_then_walks_the_whole_chain_then_keeps_reminding() -> None:
    clock = FakeClock(T0)
    state, _ = start_escalation(POLICY, at=clock())
    log: list[tuple[str, int, str, timedelta]] = []
    for _ in range(60):  # one hour, minute by minute
        state, actions = advance_escalation(
            state, POLICY, alert_state=AlertState.OPEN, now=clock.advance(MIN)
        )
        log += [(a.kind.value, a.level, a.role, a.at - T0) for a in actions]
    assert log[:4] == [
        ("reminder", 0, "nurse_on_duty", 2 * MIN),
        ("reminder", 0, "nurse_on_duty", 4 * MIN),
        ("escalated", 1, "charge_nurse", 5 * MIN),
        ("reminder", 1, "charge_nurse", 7 * MIN),
    ]
    escalations = [(level, at) for kind, level, _, at in log if kind == "escalated"]
    assert escalations == [(1, 5 * MIN), (2, 15 * MIN), (3, 25 * MIN)]
    last_step = [at for kind, level, _, at in log if level == 3 and kind == "reminder"]
    assert last_step[:3] == [27 * MIN, 29 * MIN, 31 * MIN]  # reminders go on until answered
    assert len(last_step) == (60 - 25) // 2


@pytest.mark.parametrize("answer", [AlertState.ACKNOWLEDGED, AlertState.RESOLVED])
def test_acknowledge_or_resolve_stops_escalation_and_reminders(answer: AlertState) -> None:
    clock = FakeClock(T0)
    state, _ = start_escalation(POLICY, at=clock())
    state, actions = advance_escalation(
        state, POLICY, alert_state=AlertState.OPEN, now=clock.advance(6 * MIN)
    )
    assert [a.kind for a in actions] == [ActionKind.REMIND, ActionKind.REMIND, ActionKind.ESCALATE]
    state, actions = advance_escalation(state, POLICY, alert_state=answer, now=clock.advance(MIN))
    assert actions == [] and state.next_at is None
    state, actions = advance_escalation(
        state, POLICY, alert_state=answer, now=clock.advance(MIN * 60)
    )
    assert actions == [] and state.next_at is None


def test_nothing_happens_before_it_is_due() -> None:
    state, _ = start_escalation(POLICY, at=T0)
    same, actions = advance_escalation(
        state, POLICY, alert_state=AlertState.OPEN, now=T0 + 2 * MIN - timedelta(microseconds=1)
    )
    assert actions == [] and same == state


def test_a_long_outage_returns_only_the_latest_actions_but_ends_in_the_right_state() -> None:
    state, _ = start_escalation(POLICY, at=T0)
    state, actions = advance_escalation(
        state, POLICY, alert_state=AlertState.OPEN, now=T0 + 24 * 60 * MIN, max_actions=5
    )
    assert len(actions) == 5
    assert state.level == 3
    assert state.next_at is not None and state.next_at > T0 + 24 * 60 * MIN


def test_manual_escalation_moves_one_step_and_restarts_the_clock() -> None:
    state, _ = start_escalation(POLICY, at=T0)
    state, action = escalate_now(state, POLICY, at=T0 + MIN)
    assert (action.level, action.role) == (1, "charge_nurse")
    assert state.level_started_at == T0 + MIN and state.next_at == T0 + 3 * MIN
    for _ in range(5):
        state, action = escalate_now(state, POLICY, at=T0 + MIN)
    assert state.level == 3  # stays at the last step


def test_switch_policy_keeps_the_level_within_the_new_chain() -> None:
    short = EscalationPolicy(
        name="short",
        steps=(EscalationStep(role="technician", after=timedelta(0)),),
        reminder_every=30 * MIN,
    )
    state = EscalationState(level=2, level_started_at=T0, reminders=0, next_at=T0)
    moved = switch_policy(state, short)
    assert moved.level == 0 and moved.next_at == T0 + 30 * MIN


@given(
    steps=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=5),
    reminder=st.integers(min_value=1, max_value=20),
    minutes=st.integers(min_value=0, max_value=300),
)
def test_actions_are_in_time_order_and_levels_never_go_down(
    steps: list[int], reminder: int, minutes: int
) -> None:
    policy = EscalationPolicy(
        name="p",
        steps=tuple(
            EscalationStep(role=f"r{i}", after=(0 if i == 0 else s) * MIN)
            for i, s in enumerate(steps)
        ),
        reminder_every=reminder * MIN,
    )
    state, _ = start_escalation(policy, at=T0)
    state, actions = advance_escalation(
        state, policy, alert_state=AlertState.OPEN, now=T0 + minutes * MIN, max_actions=10_000
    )
    times = [a.at for a in actions]
    assert times == sorted(times)
    levels = [a.level for a in actions]
    assert levels == sorted(levels)
    assert all(t <= T0 + minutes * MIN for t in times)
    assert state.next_at is not None and state.next_at > T0 + minutes * MIN


@pytest.mark.parametrize(
    ("channel", "tier", "severity", "expected"),
    [
        (Channel.DATA_QUALITY, RiskTier.HIGH, Severity.CRITICAL, "data-quality"),
        (Channel.CLINICAL, RiskTier.LOW, Severity.LOW, "routine"),
        (Channel.CLINICAL, RiskTier.MEDIUM, Severity.MEDIUM, "routine"),
        (Channel.CLINICAL, RiskTier.HIGH, Severity.MEDIUM, "urgent-high-risk"),
        (Channel.CLINICAL, RiskTier.LOW, Severity.HIGH, "urgent"),
        (Channel.CLINICAL, RiskTier.MEDIUM, Severity.CRITICAL, "emergency"),
        (Channel.CLINICAL, RiskTier.HIGH, Severity.CRITICAL, "emergency-high-risk"),
    ],
)
def test_risk_tier_and_severity_choose_the_default_policy(
    channel: Channel, tier: RiskTier, severity: Severity, expected: str
) -> None:
    policy = choose_policy((), channel=channel, risk_tier=tier, severity=severity)
    assert policy.name == expected


def test_data_quality_policies_never_page_a_clinical_role() -> None:
    clinical_roles = {"nurse_on_duty", "charge_nurse", "on_call_doctor", "alliance_hospital"}
    for tier in RiskTier:
        for severity in Severity:
            policy = choose_policy(
                DEFAULT_POLICIES, channel=Channel.DATA_QUALITY, risk_tier=tier, severity=severity
            )
            assert {s.role for s in policy.steps}.isdisjoint(clinical_roles)
            assert policy.hand_off is HandOff.NONE


def test_site_policy_wins_over_defaults_and_defaults_cover_the_rest() -> None:
    site = EscalationPolicy(
        name="site-critical",
        steps=(EscalationStep(role="nurse_on_duty", after=timedelta(0)),),
        reminder_every=MIN,
        min_severity=Severity.CRITICAL,
        hand_off=HandOff.OPEN_GREEN_CHANNEL,
    )
    pick = choose_policy(
        (site,), channel=Channel.CLINICAL, risk_tier=RiskTier.LOW, severity=Severity.CRITICAL
    )
    assert pick is site
    fallback = choose_policy(
        (site,), channel=Channel.CLINICAL, risk_tier=RiskTier.LOW, severity=Severity.LOW
    )
    assert fallback.name == "routine"


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="no steps"):
        EscalationPolicy(name="x", steps=(), reminder_every=MIN)
    with pytest.raises(ValueError, match="positive"):
        EscalationPolicy(
            name="x", steps=(EscalationStep(role="a", after=timedelta(0)),), reminder_every=0 * MIN
        )


def test_on_call_rota_by_shift_including_hand_over_overlap() -> None:
    day = T0.replace(hour=7)
    rota = [
        Shift(role="nurse_on_duty", staff_id="ana", starts_at=day, ends_at=day + 12 * 60 * MIN),
        Shift(
            role="nurse_on_duty",
            staff_id="bo",
            starts_at=day + (12 * 60 - 15) * MIN,  # 15 min hand-over
            ends_at=day + 24 * 60 * MIN,
        ),
        Shift(role="on_call_doctor", staff_id="dr-li", starts_at=day, ends_at=day + 24 * 60 * MIN),
    ]
    assert on_call(rota, role="nurse_on_duty", at=day + 60 * MIN) == ("ana",)
    assert on_call(rota, role="nurse_on_duty", at=day + (12 * 60 - 5) * MIN) == ("ana", "bo")
    assert on_call(rota, role="nurse_on_duty", at=day + 12 * 60 * MIN) == ("bo",)
    assert on_call(rota, role="charge_nurse", at=day) == ()
    assert on_call(rota, role="on_call_doctor", at=day + 24 * 60 * MIN) == ()
