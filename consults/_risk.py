"""Risk stratification (分类管理): a resident's risk tier sets the follow-up schedule and tightens
the detectors' thresholds. Pure tables and functions; storage is in `_store`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum

from analytics import TIER_PARAMETERS, resolve_parameters


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

# Detector parameters per tier are analytics' (one table, `analytics.TIER_PARAMETERS`, with its
# sources): a higher tier tightens durations, never the NEWS2 score-3 bands.
RISK_THRESHOLDS: dict[RiskTier, dict[str, float]] = {
    RiskTier(tier): dict(parameters) for tier, parameters in TIER_PARAMETERS.items()
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
    return resolve_parameters(tier, overrides)
