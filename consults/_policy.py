"""When a critical alert becomes a green-channel referral (pure policy)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from consults._risk import RiskTier


class PolicyDecision(StrEnum):
    NONE = "none"  # no referral from this alert
    PROPOSE = "propose"  # a draft green-channel referral staff confirm or cancel
    OPEN = "open"  # sent straight away (requested), staff are told


@dataclass(frozen=True, slots=True, kw_only=True)
class GreenChannelPolicy:
    """Which alerts go up the green channel on their own.

    Every critical clinical alert gets at least a proposal: staff on site decide whether to send
    it. The most critical — critical alerts of kinds listed in `open_kinds`, or on residents at
    high risk when `open_for_high_risk` — are sent at once, because for them the minutes spent
    waiting for a confirmation are the cost the green channel exists to remove.
    Data-quality alerts never lead to a referral (a silent device is not a clinical emergency).
    """

    open_kinds: frozenset[str] = frozenset()
    open_for_high_risk: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertFacts:
    """What the policy looks at about an alert."""

    alert_id: int
    kind: str
    channel: str
    severity: str
    risk_tier: RiskTier


def decide(policy: GreenChannelPolicy, alert: AlertFacts) -> tuple[PolicyDecision, str]:
    """The decision and its reason, for the audit trail."""
    if alert.channel != "clinical":
        return PolicyDecision.NONE, "data-quality alerts never start a referral"
    if alert.severity != "critical":
        return PolicyDecision.NONE, f"severity {alert.severity} is below critical"
    if alert.kind in policy.open_kinds:
        return PolicyDecision.OPEN, f"critical {alert.kind} opens the green channel by policy"
    if policy.open_for_high_risk and alert.risk_tier is RiskTier.HIGH:
        return PolicyDecision.OPEN, "critical alert on a high-risk resident"
    return PolicyDecision.PROPOSE, "critical clinical alert: green channel proposed"
