"""Apnea: breathing stopped for a clinically meaningful time, with the SpO2 dip if measured."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from analytics._base import BaseDetector
from analytics._types import Channel, Finding, ResidentSample, Severity
from devices import Metric, ProbeState


@dataclass(slots=True)
class ApneaState:
    in_bed: bool | None = None
    quality: dict[str, float] = field(default_factory=dict)
    probe_off: bool = False
    spo2: deque[tuple[datetime, float]] = field(default_factory=deque)
    since: datetime | None = None
    last_ts: datetime | None = None
    n: int = 0
    fired: bool = False
    spo2_before: float | None = None


class Apnea(BaseDetector):
    """Respiration rate at or below `max_rpm` (no breathing detected) for `min_duration_s`.

    When a pulse oximeter is present, the finding carries the SpO2 before the event and its lowest
    value so far; a dip of `desaturation_pct` or more raises the severity to critical.

    Parameters
    ----------
    max_rpm : a rate at or below this counts as no breathing.
    min_duration_s : 20 s, the clinical apnea definition used for alarms (a pause of 20 s, or a
        shorter one with desaturation); sleep scoring uses >= 10 s, too short for paging.
    desaturation_pct : a fall of 3 % from the pre-event SpO2 (AASM hypopnea/desaturation rule).
    max_gap_s : a longer gap between usable samples ends the event.
    min_signal_quality : samples below this device quality score are ignored.

    References
    ----------
    Berry RB et al. Rules for scoring respiratory events in sleep: update of the 2007 AASM manual.
    J Clin Sleep Med 2012;8(5):597-619 (apnea >= 10 s; desaturation >= 3 %).
    American Academy of Pediatrics / NIH consensus on apnea: cessation of breathing for 20 s or
    longer, or shorter with desaturation or bradycardia (the monitoring-alarm definition).
    """

    name = "apnea"
    version = "1"
    metrics = frozenset(
        {
            Metric.RESPIRATION_RATE,
            Metric.SPO2,
            Metric.PROBE_STATE,
            Metric.BED_PRESENCE,
            Metric.SIGNAL_QUALITY,
        }
    )
    parameter_ranges = {
        "max_rpm": (0.0, 6.0),
        "min_duration_s": (10.0, 120.0),
        "desaturation_pct": (2.0, 10.0),
        "max_gap_s": (1.0, 60.0),
        "min_signal_quality": (0.0, 1.0),
    }

    def __init__(
        self,
        *,
        max_rpm: float = 3.0,
        min_duration_s: float = 20.0,
        desaturation_pct: float = 3.0,
        max_gap_s: float = 10.0,
        min_signal_quality: float = 0.3,
    ) -> None:
        self.max_rpm = max_rpm
        self.min_duration_s = min_duration_s
        self.desaturation_pct = desaturation_pct
        self.max_gap_s = max_gap_s
        self.min_signal_quality = min_signal_quality

    def new_state(self) -> ApneaState:
        return ApneaState()

    def update(self, state: ApneaState, sample: ResidentSample) -> Finding | None:
        metric = sample.metric
        if metric is Metric.BED_PRESENCE:
            state.in_bed = sample.value >= 0.5
            if not state.in_bed:
                state.since = None
            return None
        if metric is Metric.SIGNAL_QUALITY:
            state.quality[sample.device_id] = sample.value
            return None
        if metric is Metric.PROBE_STATE:
            state.probe_off = sample.value != ProbeState.OK
            return None
        if metric is Metric.SPO2:
            if not state.probe_off:
                state.spo2.append((sample.ts, sample.value))
                while (sample.ts - state.spo2[0][0]).total_seconds() > 300:
                    state.spo2.popleft()
            return None
        # respiration rate
        if state.in_bed is False:
            return None
        if state.quality.get(sample.device_id, 1.0) < self.min_signal_quality:
            return None
        if state.last_ts is not None and (sample.ts - state.last_ts).total_seconds() > (
            self.max_gap_s
        ):
            state.since = None
        state.last_ts = sample.ts
        if sample.value > self.max_rpm:
            state.since = None
            return None
        if state.since is None:
            state.since, state.n, state.fired = sample.ts, 0, False
            before = [v for ts, v in state.spo2 if ts <= sample.ts]
            state.spo2_before = max(before[-60:]) if before else None
        state.n += 1
        held = (sample.ts - state.since).total_seconds()
        if state.fired or held < self.min_duration_s:
            return None
        state.fired = True
        during = [v for ts, v in state.spo2 if ts >= state.since]
        lowest = min(during) if during else None
        dip = (
            state.spo2_before - lowest
            if state.spo2_before is not None and lowest is not None
            else None
        )
        severe = dip is not None and dip >= self.desaturation_pct
        return Finding(
            resident_id=sample.resident_id,
            device_id=sample.device_id,
            kind="apnea",
            severity=Severity.CRITICAL if severe else Severity.HIGH,
            channel=Channel.CLINICAL,
            started_at=state.since,
            detected_at=sample.ts,
            detector=self.name,
            detector_version=self.version,
            evidence={
                "metric": str(Metric.RESPIRATION_RATE),
                "max_rpm": self.max_rpm,
                "min_duration_s": self.min_duration_s,
                "window_start": state.since.isoformat(),
                "window_end": sample.ts.isoformat(),
                "samples": state.n,
                "oximeter_present": bool(state.spo2),
                "spo2_before_pct": state.spo2_before,
                "spo2_lowest_pct": lowest,
                "spo2_dip_pct": dip,
                "source": "apnea >= 20 s (AAP/NIH); desaturation >= 3 % (AASM 2012)",
            },
        )
