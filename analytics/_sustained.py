"""A vital sign held beyond a band for a minimum duration, with hysteresis and gating.

Shared by the heart-rate, respiration-rate and SpO2 detectors; each subclass names its bands and
cites their source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from analytics._base import BaseDetector
from analytics._types import Channel, Finding, ResidentSample, Severity
from devices import Metric, ProbeState


@dataclass(slots=True)
class _Run:
    kind: str
    started_at: datetime
    last_ts: datetime
    n: int
    low: float
    high: float
    total: float
    fired: bool = False


@dataclass(slots=True)
class BandState:
    in_bed: bool | None = None
    # Per device: a pillow's poor signal says nothing about the mattress beside it.
    signal_quality: dict[str, float] = field(default_factory=dict)
    probe_off: dict[str, bool] = field(default_factory=dict)
    run: _Run | None = None


class SustainedBand(BaseDetector):
    """Engine: subclasses set the class attributes and `_bands`/`_margin` from their parameters."""

    vital: ClassVar[Metric]
    high_kind: ClassVar[str | None]
    low_kind: ClassVar[str | None]
    unit_label: ClassVar[str]
    severity: ClassVar[Severity] = Severity.HIGH
    source: ClassVar[str]
    # Bed sensors lose the signal when the resident moves or leaves; an oximeter says so itself.
    gate_on_presence: ClassVar[bool] = True

    min_duration_s: float
    max_gap_s: float
    min_signal_quality: float

    def _bands(self) -> tuple[float | None, float | None]:
        raise NotImplementedError

    def _margin(self) -> float:
        raise NotImplementedError

    def new_state(self) -> BandState:
        return BandState()

    def update(self, state: BandState, sample: ResidentSample) -> Finding | None:
        metric = sample.metric
        if metric is Metric.BED_PRESENCE:
            if self.gate_on_presence:
                state.in_bed = sample.value >= 0.5
                if not state.in_bed:
                    state.run = None
            return None
        if metric is Metric.SIGNAL_QUALITY:
            state.signal_quality[sample.device_id] = sample.value
            return None
        if metric is Metric.PROBE_STATE:
            state.probe_off[sample.device_id] = sample.value != ProbeState.OK
            return None
        if metric is not self.vital or state.in_bed is False:
            return None
        quality = state.signal_quality.get(sample.device_id)
        if quality is not None and quality < self.min_signal_quality:
            return None
        if state.probe_off.get(sample.device_id):
            return None
        run = state.run
        if run is not None and (sample.ts - run.last_ts).total_seconds() > self.max_gap_s:
            run = state.run = None
        value = sample.value
        if run is not None and self._continues(run.kind, value):
            run.last_ts = sample.ts
            run.n += 1
            run.low = min(run.low, value)
            run.high = max(run.high, value)
            run.total += value
            held = (sample.ts - run.started_at).total_seconds()
            if not run.fired and held >= self.min_duration_s:
                run.fired = True
                return self._finding(sample, run)
            return None
        kind = self._band(value)
        state.run = (
            None
            if kind is None
            else _Run(
                kind=kind,
                started_at=sample.ts,
                last_ts=sample.ts,
                n=1,
                low=value,
                high=value,
                total=value,
            )
        )
        return None

    def _band(self, value: float) -> str | None:
        high, low = self._bands()
        if high is not None and value >= high:
            return self.high_kind
        if low is not None and value <= low:
            return self.low_kind
        return None

    def _continues(self, kind: str, value: float) -> bool:
        high, low = self._bands()
        if kind == self.high_kind and high is not None:
            return value > high - self._margin()
        assert low is not None
        return value < low + self._margin()

    def _finding(self, sample: ResidentSample, run: _Run) -> Finding:
        high, low = self._bands()
        threshold = high if run.kind == self.high_kind else low
        unit = self.unit_label
        return Finding(
            resident_id=sample.resident_id,
            device_id=sample.device_id,
            kind=run.kind,
            severity=self.severity,
            channel=Channel.CLINICAL,
            started_at=run.started_at,
            detected_at=sample.ts,
            detector=self.name,
            detector_version=self.version,
            evidence={
                "metric": str(self.vital),
                f"threshold_{unit}": threshold,
                "min_duration_s": self.min_duration_s,
                "window_start": run.started_at.isoformat(),
                "window_end": sample.ts.isoformat(),
                "samples": run.n,
                f"min_{unit}": run.low,
                f"max_{unit}": run.high,
                f"mean_{unit}": round(run.total / run.n, 1),
                "source": self.source,
            },
        )
