"""Sustained heart-rate out of range, gated on bed presence and signal quality."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from analytics._types import Channel, Finding, ResidentSample, Severity
from devices import Metric


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
class HeartRateState:
    in_bed: bool | None = None
    signal_quality: float | None = None
    run: _Run | None = None


class SustainedHeartRate:
    """Heart rate held at or beyond a NEWS2 score-3 band for a minimum duration.

    A run starts at the first sample in a band and ends once the rate is back inside it by the
    hysteresis margin, or after a gap longer than `max_gap_s` (silence is not evidence).
    Samples taken out of bed or with poor signal quality do not count, because under-mattress
    sensors lose the heartbeat when the resident moves or leaves the bed.

    Parameters
    ----------
    high_bpm, low_bpm : NEWS2 pulse bands scoring 3 (>= 131 and <= 40 /min).
    min_duration_s : how long the rate must stay in the band; a duration rather than one sample,
        since bed-sensor data are noisy (data loss of 6-34 % reported) and single-sample alarms are
        mostly false (Drew 2014).
    hysteresis_bpm : margin back inside the band needed to end a run, so a rate hovering at the
        threshold does not start and stop repeatedly.
    max_gap_s : a longer gap between usable samples ends the run.
    min_signal_quality : samples below this device quality score are ignored.

    References
    ----------
    Royal College of Physicians. National Early Warning Score (NEWS) 2. London: RCP, 2017
    (pulse: <=40 scores 3, >=131 scores 3; a single parameter scoring 3 calls for an urgent
    ward-based response).
    Drew BJ et al. Insights into the problem of alarm fatigue with physiologic monitor devices.
    PLoS One 2014;9(10):e110274 (88.8 % of 12,671 annotated arrhythmia alarms were false).
    """

    name = "heart_rate_sustained"
    version = "1"
    parameter_ranges: dict[str, tuple[float, float]] = {
        "high_bpm": (100.0, 250.0),
        "low_bpm": (20.0, 60.0),
        "min_duration_s": (1.0, 3600.0),
        "hysteresis_bpm": (0.0, 20.0),
        "max_gap_s": (1.0, 600.0),
        "min_signal_quality": (0.0, 1.0),
    }

    def __init__(
        self,
        *,
        high_bpm: float = 131.0,
        low_bpm: float = 40.0,
        min_duration_s: float = 120.0,
        hysteresis_bpm: float = 5.0,
        max_gap_s: float = 30.0,
        min_signal_quality: float = 0.5,
    ) -> None:
        self.high_bpm = high_bpm
        self.low_bpm = low_bpm
        self.min_duration_s = min_duration_s
        self.hysteresis_bpm = hysteresis_bpm
        self.max_gap_s = max_gap_s
        self.min_signal_quality = min_signal_quality

    def get_params(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.parameter_ranges}

    def check_params(self) -> None:
        """Raise ValueError naming any parameter outside its declared range."""
        for name, (low, high) in self.parameter_ranges.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{type(self).__name__}.{name}={value} not in [{low}, {high}]")

    def new_state(self) -> HeartRateState:
        return HeartRateState()

    def update(self, state: HeartRateState, sample: ResidentSample) -> Finding | None:
        if sample.metric is Metric.BED_PRESENCE:
            state.in_bed = sample.value >= 0.5
            if not state.in_bed:
                state.run = None
            return None
        if sample.metric is Metric.SIGNAL_QUALITY:
            state.signal_quality = sample.value
            return None
        if sample.metric is not Metric.HEART_RATE or state.in_bed is False:
            return None
        if state.signal_quality is not None and state.signal_quality < self.min_signal_quality:
            return None
        run = state.run
        if run is not None and (sample.ts - run.last_ts).total_seconds() > self.max_gap_s:
            run = state.run = None
        if run is not None and self._continues(run.kind, sample.value):
            run.last_ts = sample.ts
            run.n += 1
            run.low = min(run.low, sample.value)
            run.high = max(run.high, sample.value)
            run.total += sample.value
            held = (sample.ts - run.started_at).total_seconds()
            if not run.fired and held >= self.min_duration_s:
                run.fired = True
                return self._finding(sample, run)
            return None
        kind = self._band(sample.value)
        state.run = (
            None
            if kind is None
            else _Run(
                kind=kind,
                started_at=sample.ts,
                last_ts=sample.ts,
                n=1,
                low=sample.value,
                high=sample.value,
                total=sample.value,
            )
        )
        return None

    def _band(self, bpm: float) -> str | None:
        if bpm >= self.high_bpm:
            return "tachycardia"
        if bpm <= self.low_bpm:
            return "bradycardia"
        return None

    def _continues(self, kind: str, bpm: float) -> bool:
        if kind == "tachycardia":
            return bpm > self.high_bpm - self.hysteresis_bpm
        return bpm < self.low_bpm + self.hysteresis_bpm

    def _finding(self, sample: ResidentSample, run: _Run) -> Finding:
        threshold = self.high_bpm if run.kind == "tachycardia" else self.low_bpm
        return Finding(
            resident_id=sample.resident_id,
            device_id=sample.device_id,
            kind=run.kind,
            severity=Severity.HIGH,
            channel=Channel.CLINICAL,
            started_at=run.started_at,
            detected_at=sample.ts,
            detector=self.name,
            detector_version=self.version,
            evidence={
                "metric": str(Metric.HEART_RATE),
                "threshold_bpm": threshold,
                "min_duration_s": self.min_duration_s,
                "window_start": run.started_at.isoformat(),
                "window_end": sample.ts.isoformat(),
                "samples": run.n,
                "min_bpm": run.low,
                "max_bpm": run.high,
                "mean_bpm": round(run.total / run.n, 1),
                "source": "NEWS2 (RCP 2017) pulse band scoring 3",
            },
        )
