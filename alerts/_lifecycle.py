"""Pure alert lifecycle: a finding opens an alert or updates the open one (resident, kind); staff
acknowledge and resolve it.

Resolving while the condition persists (defined behaviour): a finding whose `detected_at` is at
or before the resolution belongs to the resolved episode and is absorbed (the resolved alert is
returned unchanged, nobody is paged again for what staff already handled). A finding detected
after the resolution is a new episode: a new open alert that links back to the resolved one
(`previous_alert_id`), so the nurse sees that the condition came back or never went away.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from alerts._errors import AlertStateError
from analytics import Channel, Finding, Severity


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    alert_id: int | None  # None until stored
    resident_id: str
    kind: str
    channel: Channel
    severity: Severity
    state: AlertState
    started_at: datetime
    detected_at: datetime
    last_seen_at: datetime
    finding_count: int
    escalation_level: int = 0
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    previous_alert_id: int | None = None


def apply_finding(current: Alert | None, finding: Finding) -> Alert:
    """The alert after `finding`: repeats update the unresolved alert (count, last seen, worst
    severity, earliest start); after resolution a finding is a new episode and a new alert, unless
    it was detected before the resolution (then it is absorbed: `current` comes back unchanged)."""
    if current is not None and current.state is AlertState.RESOLVED:
        if current.resolved_at is not None and finding.detected_at <= current.resolved_at:
            return current
        return _new_alert(finding, previous_alert_id=current.alert_id)
    if current is None:
        return _new_alert(finding, previous_alert_id=None)
    worst = max(current.severity, finding.severity, key=lambda s: s.rank)
    return replace(
        current,
        severity=worst,
        started_at=min(current.started_at, finding.started_at),
        last_seen_at=max(current.last_seen_at, finding.detected_at),
        finding_count=current.finding_count + 1,
    )


def _new_alert(finding: Finding, *, previous_alert_id: int | None) -> Alert:
    return Alert(
        alert_id=None,
        resident_id=finding.resident_id,
        kind=finding.kind,
        channel=finding.channel,
        severity=finding.severity,
        state=AlertState.OPEN,
        started_at=finding.started_at,
        detected_at=finding.detected_at,
        last_seen_at=finding.detected_at,
        finding_count=1,
        previous_alert_id=previous_alert_id,
    )


def acknowledge(alert: Alert, *, by: str, at: datetime) -> Alert:
    """Staff take ownership: escalation and reminders stop; only an open alert can be acked."""
    if alert.state is not AlertState.OPEN:
        raise AlertStateError(alert.alert_id, alert.state, "acknowledge")
    return replace(alert, state=AlertState.ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=by)


def resolve(alert: Alert, *, by: str, at: datetime) -> Alert:
    """Close the episode (open or acknowledged); a resolved alert cannot be resolved again."""
    if alert.state is AlertState.RESOLVED:
        raise AlertStateError(alert.alert_id, alert.state, "resolve")
    return replace(alert, state=AlertState.RESOLVED, resolved_at=at, resolved_by=by)
