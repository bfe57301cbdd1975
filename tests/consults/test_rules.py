"""Pure rules: deadlines, the green-channel policy, risk tiers, escalation order, visibility."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consults import (
    FOLLOW_UP_INTERVAL,
    REFERRAL_PRIORITY_FHIR,
    AlertFacts,
    AllianceMember,
    ConsultUrgency,
    DeadlineRisk,
    GreenChannelPolicy,
    PolicyDecision,
    ReferralPriority,
    RiskTier,
    SiteTier,
    accept_by,
    deadline_risk,
    decide,
    escalation_target,
    respond_by,
    thresholds_for,
    visible_site_ids,
)
from consults._risk import effective_tier, next_follow_up

T = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def test_deadlines_shorten_with_urgency() -> None:
    assert respond_by(ConsultUrgency.EMERGENCY, T) < respond_by(ConsultUrgency.URGENT, T)
    assert respond_by(ConsultUrgency.URGENT, T) < respond_by(ConsultUrgency.ROUTINE, T)
    green = accept_by(ReferralPriority.GREEN_CHANNEL, T)
    assert green < accept_by(ReferralPriority.URGENT, T) < accept_by(ReferralPriority.ROUTINE, T)
    assert green == T + timedelta(minutes=15)
    assert REFERRAL_PRIORITY_FHIR[ReferralPriority.GREEN_CHANNEL] == "stat"


def test_deadline_risk_with_a_fake_clock() -> None:
    deadline = T + timedelta(hours=4)
    assert deadline_risk(started_at=T, deadline=deadline, now=T) is DeadlineRisk.OK
    assert (
        deadline_risk(started_at=T, deadline=deadline, now=T + timedelta(hours=2, minutes=59))
        is DeadlineRisk.OK
    )
    assert (
        deadline_risk(started_at=T, deadline=deadline, now=T + timedelta(hours=3))
        is DeadlineRisk.AT_RISK
    )
    assert deadline_risk(started_at=T, deadline=deadline, now=deadline) is DeadlineRisk.OVERDUE


def facts(**overrides: object) -> AlertFacts:
    values: dict[str, object] = {
        "alert_id": 1,
        "kind": "tachycardia",
        "channel": "clinical",
        "severity": "critical",
        "risk_tier": RiskTier.MEDIUM,
    }
    values.update(overrides)
    return AlertFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, PolicyDecision.PROPOSE),
        ({"severity": "high"}, PolicyDecision.NONE),
        ({"channel": "data_quality"}, PolicyDecision.NONE),
        ({"risk_tier": RiskTier.HIGH}, PolicyDecision.OPEN),
        ({"kind": "apnea"}, PolicyDecision.OPEN),
        ({"channel": "data_quality", "kind": "apnea"}, PolicyDecision.NONE),
    ],
)
def test_green_channel_policy(overrides: dict[str, object], expected: PolicyDecision) -> None:
    policy = GreenChannelPolicy(open_kinds=frozenset({"apnea"}))
    decision, reason = decide(policy, facts(**overrides))
    assert decision is expected
    assert reason


def test_risk_tier_sets_follow_up_and_thresholds() -> None:
    assert FOLLOW_UP_INTERVAL[RiskTier.HIGH] < FOLLOW_UP_INTERVAL[RiskTier.MEDIUM]
    assert FOLLOW_UP_INTERVAL[RiskTier.MEDIUM] < FOLLOW_UP_INTERVAL[RiskTier.LOW]
    assert next_follow_up(RiskTier.HIGH, after=T) == T + timedelta(days=1)
    assert thresholds_for(RiskTier.MEDIUM, {}) == {}
    high = thresholds_for(RiskTier.HIGH, {"heart_rate_sustained.high_bpm": 120.0})
    assert high["heart_rate_sustained.high_bpm"] == 120.0  # a specialist's override wins
    # The tier's own profile is analytics' table: durations tighten, bands stay.
    assert high["heart_rate_sustained.min_duration_s"] == 60.0
    assert "heart_rate_sustained.high_bpm" not in thresholds_for(RiskTier.HIGH, {})


def test_temporary_tier_returns_after_its_period() -> None:
    until = T + timedelta(days=14)
    kwargs = {"until": until, "after": RiskTier.MEDIUM}
    assert (
        effective_tier(RiskTier.HIGH, now=until - timedelta(seconds=1), **kwargs) is RiskTier.HIGH
    )
    assert effective_tier(RiskTier.HIGH, now=until, **kwargs) is RiskTier.MEDIUM


MEMBERS = [
    AllianceMember(alliance_id="a", site_id="home", tier=SiteTier.CARE_HOME),
    AllianceMember(
        alliance_id="a", site_id="h2", tier=SiteTier.TERTIARY_HOSPITAL, escalation_rank=5
    ),
    AllianceMember(
        alliance_id="a", site_id="h1", tier=SiteTier.TERTIARY_HOSPITAL, escalation_rank=1
    ),
    AllianceMember(alliance_id="b", site_id="hb", tier=SiteTier.TERTIARY_HOSPITAL),
    AllianceMember(alliance_id="b", site_id="home-b", tier=SiteTier.CARE_HOME),
]


def test_escalation_goes_down_the_rank_then_to_the_coordinator() -> None:
    alliance_a = [m for m in MEMBERS if m.alliance_id == "a"]
    tier = SiteTier.TERTIARY_HOSPITAL
    assert escalation_target(alliance_a, tier=tier, tried=()) == "h1"
    assert escalation_target(alliance_a, tier=tier, tried={"h1"}) == "h2"
    assert escalation_target(alliance_a, tier=tier, tried={"h1", "h2"}) is None


def test_visibility_is_the_viewers_alliances() -> None:
    assert visible_site_ids("h1", MEMBERS) == {"home", "h1", "h2"}
    assert visible_site_ids("hb", MEMBERS) == {"hb", "home-b"}
    assert visible_site_ids("lonely", MEMBERS) == {"lonely"}
