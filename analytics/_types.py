"""Records flowing into and out of the detectors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from devices import Metric


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Channel(StrEnum):
    CLINICAL = "clinical"
    # Device silent, flatline, poor signal: for technicians, never a page to a clinician.
    DATA_QUALITY = "data_quality"


@dataclass(frozen=True, slots=True)
class ResidentSample:
    """One metric value attributed to the resident the device was assigned to at `ts`."""

    ts: datetime
    resident_id: str
    device_id: str
    metric: Metric
    value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """What a detector concluded, with the evidence that triggered it."""

    resident_id: str
    device_id: str
    kind: str
    severity: Severity
    channel: Channel
    started_at: datetime  # when the condition began (device time)
    detected_at: datetime  # when its definition was met (device time)
    detector: str
    detector_version: str
    evidence: Mapping[str, object] = field(default_factory=dict)
