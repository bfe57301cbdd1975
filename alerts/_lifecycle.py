"""Pure alert lifecycle: a finding opens an alert or updates the open one (resident, kind)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

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


def apply_finding(current: Alert | None, finding: Finding) -> Alert:
    """The alert after `finding`: repeats update the unresolved alert (count, last seen, worst
    severity, earliest start); after resolution a finding is a new episode and a new alert."""
    if current is None or current.state is AlertState.RESOLVED:
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
        )
    worst = max(current.severity, finding.severity, key=lambda s: s.rank)
    return replace(
        current,
        severity=worst,
        started_at=min(current.started_at, finding.started_at),
        last_seen_at=max(current.last_seen_at, finding.detected_at),
        finding_count=current.finding_count + 1,
    )
