"""Immobility in bed: a pressure-injury turn reminder."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from analytics._base import BaseDetector
from analytics._types import Channel, Finding, ResidentSample, Severity
from devices import Metric


@dataclass(slots=True)
class ImmobilityState:
    in_bed: bool | None = None
    still_since: datetime | None = None
    last_ts: datetime | None = None
    posture: dict[str, float] = field(default_factory=dict)
    reminders: int = 0


class Immobility(BaseDetector):
    """No position change in bed for `turn_interval_s`: remind staff to reposition the resident.

    A position change is a new sleep posture from the pillow or a movement index at or above
    `movement_threshold` from the mattress. Getting out of bed relieves pressure and restarts the
    clock; a data gap longer than `max_gap_s` also restarts it (no evidence of stillness). After a
    reminder the clock restarts, so reminders repeat every interval until the resident moves.

    Parameters
    ----------
    turn_interval_s : 2 h by default, the traditional two-hourly turning schedule (NICE asks for
        at least every 4 h at high risk and every 6 h at risk; a low risk tier lengthens it).
    movement_threshold : a movement index at or above this counts as a position change.
    max_gap_s : longer gaps in bed data restart the clock.

    References
    ----------
    NICE CG179 (2014) Pressure ulcers: prevention and management, 1.1.17-1.1.18 (reposition adults
    at risk at least every 6 hours, at high risk at least every 4 hours).
    EPUAP/NPIAP/PPPIA. Prevention and Treatment of Pressure Ulcers/Injuries: Clinical Practice
    Guideline, 2019 (individualised repositioning frequency).
    """

    name = "immobility"
    version = "1"
    metrics = frozenset({Metric.BED_PRESENCE, Metric.MOVEMENT, Metric.SLEEP_POSTURE})
    parameter_ranges = {
        "turn_interval_s": (600.0, 43200.0),
        "movement_threshold": (0.05, 1.0),
        "max_gap_s": (1.0, 3600.0),
    }

    def __init__(
        self,
        *,
        turn_interval_s: float = 7200.0,
        movement_threshold: float = 0.4,
        max_gap_s: float = 300.0,
    ) -> None:
        self.turn_interval_s = turn_interval_s
        self.movement_threshold = movement_threshold
        self.max_gap_s = max_gap_s

    def new_state(self) -> ImmobilityState:
        return ImmobilityState()

    def update(self, state: ImmobilityState, sample: ResidentSample) -> Finding | None:
        ts = sample.ts
        if state.last_ts is not None and (ts - state.last_ts).total_seconds() > self.max_gap_s:
            state.still_since = None
        state.last_ts = ts
        metric = sample.metric
        if metric is Metric.BED_PRESENCE:
            state.in_bed = sample.value >= 0.5
            if not state.in_bed:
                state.still_since = None
            elif state.still_since is None:
                state.still_since = ts
            return None
        if state.in_bed is not True:
            return None
        moved = False
        if metric is Metric.SLEEP_POSTURE:
            previous = state.posture.get(sample.device_id)
            state.posture[sample.device_id] = sample.value
            moved = previous is not None and previous != sample.value
        elif sample.value >= self.movement_threshold:
            moved = True
        if moved or state.still_since is None:
            state.still_since = ts
            return None
        still = (ts - state.still_since).total_seconds()
        if still < self.turn_interval_s:
            return None
        started = state.still_since
        state.still_since = ts
        state.reminders += 1
        return Finding(
            resident_id=sample.resident_id,
            device_id=sample.device_id,
            kind="turn_reminder",
            severity=Severity.LOW,
            channel=Channel.CLINICAL,
            started_at=started,
            detected_at=ts,
            detector=self.name,
            detector_version=self.version,
            evidence={
                "still_s": still,
                "turn_interval_s": self.turn_interval_s,
                "movement_threshold": self.movement_threshold,
                "posture": state.posture.get(sample.device_id),
                "window_start": started.isoformat(),
                "window_end": ts.isoformat(),
                "source": "NICE CG179 (2014) repositioning every 4-6 h by risk",
            },
        )
