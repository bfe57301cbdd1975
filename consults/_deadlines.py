"""Response and acceptance deadlines by urgency, and whether a deadline is at risk (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from consults._network import ReferralPriority


class ConsultUrgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class DeadlineRisk(StrEnum):
    OK = "ok"
    AT_RISK = "at_risk"
    OVERDUE = "overdue"


# Service levels, not clinical thresholds: defaults an alliance agreement replaces. Emergency and
# green-channel windows are short because a critical case waiting for a reply is the failure the
# green channel exists to prevent; routine advice within a working day; routine referral
# acceptance within two working days.
CONSULT_RESPONSE_TIME: dict[ConsultUrgency, timedelta] = {
    ConsultUrgency.ROUTINE: timedelta(hours=24),
    ConsultUrgency.URGENT: timedelta(hours=2),
    ConsultUrgency.EMERGENCY: timedelta(minutes=30),
}
REFERRAL_ACCEPTANCE_TIME: dict[ReferralPriority, timedelta] = {
    ReferralPriority.ROUTINE: timedelta(hours=48),
    ReferralPriority.URGENT: timedelta(hours=4),
    ReferralPriority.GREEN_CHANNEL: timedelta(minutes=15),
}
# A deadline is "at risk" once less than this share of its window is left.
AT_RISK_SHARE = 0.25


def respond_by(urgency: ConsultUrgency, requested_at: datetime) -> datetime:
    return requested_at + CONSULT_RESPONSE_TIME[urgency]


def accept_by(priority: ReferralPriority, requested_at: datetime) -> datetime:
    return requested_at + REFERRAL_ACCEPTANCE_TIME[priority]


def deadline_risk(*, started_at: datetime, deadline: datetime, now: datetime) -> DeadlineRisk:
    """Overdue past the deadline; at risk in the last `AT_RISK_SHARE` of the window."""
    if now >= deadline:
        return DeadlineRisk.OVERDUE
    window = deadline - started_at
    if deadline - now <= window * AT_RISK_SHARE:
        return DeadlineRisk.AT_RISK
    return DeadlineRisk.OK
