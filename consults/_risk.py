"""Risk stratification (分类管理): a resident's risk tier sets the follow-up schedule and tightens
the detectors' thresholds. Pure tables and functions; storage is in `_store`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum


class RiskTier(StrEnum):
    """Values match `residents.risk_tier`."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


# How often staff review a resident.
# low: quarterly, the minimum follow-up for managed hypertension/diabetes in China's National
#   Basic Public Health Service Standards (3rd ed., 2017);
# medium: two weeks, the same standard's re-visit interval when a condition is not controlled;
# high: daily — project policy for residents after a hospital stay or with a raised tier from a
#   back-referral, who are also on continuous bed monitoring.
FOLLOW_UP_INTERVAL: dict[RiskTier, timedelta] = {
    RiskTier.LOW: timedelta(days=90),
    RiskTier.MEDIUM: timedelta(days=14),
    RiskTier.HIGH: timedelta(days=1),
}

# Detector parameters (named `<detector>.<parameter>`, as in analytics) per tier. Low and medium use
# the detectors' defaults (NEWS2 score-3 pulse bands). High risk alerts one NEWS2 band earlier on
# tachycardia (pulse 111-130 scores 2; Royal College of Physicians, NEWS2, 2017) and after a shorter
# sustained run; the low band stays at score 3 (<= 40) because slow heart rates in deep sleep are
# common in older adults and an earlier band would page staff for normal sleep.
RISK_THRESHOLDS: dict[RiskTier, dict[str, float]] = {
    RiskTier.LOW: {},
    RiskTier.MEDIUM: {},
    RiskTier.HIGH: {
        "heart_rate_sustained.high_bpm": 111.0,
        "heart_rate_sustained.min_duration_s": 60.0,
    },
}


def next_follow_up(tier: RiskTier, *, after: datetime) -> datetime:
    return after + FOLLOW_UP_INTERVAL[tier]


def effective_tier(
    tier: RiskTier, *, until: datetime | None, after: RiskTier | None, now: datetime
) -> RiskTier:
    """The tier in force at `now`: a temporary tier returns to `after` once `until` has passed."""
    if until is not None and after is not None and now >= until:
        return after
    return tier


def thresholds_for(tier: RiskTier, overrides: Mapping[str, float]) -> dict[str, float]:
    """Detector parameters for a resident: the tier's profile, then per-resident overrides (from a
    specialist's advice or a back-referral), which win."""
    return {**RISK_THRESHOLDS[tier], **overrides}
