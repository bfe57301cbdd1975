"""Hypertensive crisis and hypotension from cuff readings, confirmed by a second reading."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from analytics._base import BaseDetector
from analytics._types import Channel, Finding, ResidentSample, Severity
from devices import CuffStatus, Metric


@dataclass(slots=True)
class BloodPressureState:
    cuff_ok: dict[str, bool] = field(default_factory=dict)
    diastolic: dict[str, tuple[datetime, float]] = field(default_factory=dict)
    # Per kind: readings of the current run, and whether it has fired.
    runs: dict[str, list[tuple[datetime, float, float | None]]] = field(default_factory=dict)
    fired: dict[str, bool] = field(default_factory=dict)


class BloodPressure(BaseDetector):
    """Hypertensive crisis (systolic >= 180 or diastolic >= 120) or hypotension (systolic <= 90)
    on `confirm_readings` consecutive valid cuff readings no further apart than `max_interval_s`.

    One reading is never enough: a single spurious reading (motion, a loose cuff) is the commonest
    false BP alarm, and the guideline itself asks for a repeat. Readings the cuff flags (motion,
    loose cuff, error) are ignored. A run ends when a reading is back inside the band by the
    hysteresis margin.

    Parameters
    ----------
    crisis_systolic, crisis_diastolic : hypertensive crisis thresholds (ACC/AHA 2017: > 180 and/or
        > 120 mm Hg).
    hypotension_systolic : NEWS2 systolic band scoring 3 (<= 90 mm Hg).
    confirm_readings : consecutive readings needed.
    max_interval_s : readings further apart than this do not confirm each other.
    hysteresis_mmhg : margin back inside a band needed to end a run.

    References
    ----------
    Whelton PK et al. 2017 ACC/AHA guideline for the prevention, detection, evaluation, and
    management of high blood pressure in adults. Hypertension 2018;71:e13-e115 (hypertensive
    crisis: SBP > 180 and/or DBP > 120 mm Hg; confirm with repeated readings).
    Royal College of Physicians. NEWS2, 2017 (systolic <= 90 mm Hg scores 3).
    """

    name = "blood_pressure"
    version = "1"
    metrics = frozenset({Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP, Metric.CUFF_STATUS})
    parameter_ranges = {
        "crisis_systolic": (160.0, 240.0),
        "crisis_diastolic": (100.0, 150.0),
        "hypotension_systolic": (70.0, 110.0),
        "confirm_readings": (1.0, 5.0),
        "max_interval_s": (60.0, 86400.0),
        "hysteresis_mmhg": (0.0, 20.0),
    }

    def __init__(
        self,
        *,
        crisis_systolic: float = 180.0,
        crisis_diastolic: float = 120.0,
        hypotension_systolic: float = 90.0,
        confirm_readings: float = 2.0,
        max_interval_s: float = 7200.0,
        hysteresis_mmhg: float = 5.0,
    ) -> None:
        self.crisis_systolic = crisis_systolic
        self.crisis_diastolic = crisis_diastolic
        self.hypotension_systolic = hypotension_systolic
        self.confirm_readings = confirm_readings
        self.max_interval_s = max_interval_s
        self.hysteresis_mmhg = hysteresis_mmhg

    def new_state(self) -> BloodPressureState:
        return BloodPressureState()

    def update(self, state: BloodPressureState, sample: ResidentSample) -> Finding | None:
        if sample.metric is Metric.CUFF_STATUS:
            state.cuff_ok[sample.device_id] = sample.value == CuffStatus.OK
            return None
        if not state.cuff_ok.get(sample.device_id, True):
            return None
        if sample.metric is Metric.DIASTOLIC_BP:
            # Diastolic sorts before systolic at the same timestamp; the pair is judged on systolic.
            state.diastolic[sample.device_id] = (sample.ts, sample.value)
            return None
        systolic = sample.value
        paired = state.diastolic.get(sample.device_id)
        diastolic = paired[1] if paired is not None and paired[0] == sample.ts else None
        margin = self.hysteresis_mmhg
        finding = None
        for kind, inside, ended in (
            (
                "hypertensive_crisis",
                systolic >= self.crisis_systolic
                or (diastolic is not None and diastolic >= self.crisis_diastolic),
                systolic < self.crisis_systolic - margin
                and (diastolic is None or diastolic < self.crisis_diastolic - margin),
            ),
            (
                "hypotension",
                systolic <= self.hypotension_systolic,
                systolic > self.hypotension_systolic + margin,
            ),
        ):
            run = state.runs.setdefault(kind, [])
            if run and (sample.ts - run[-1][0]).total_seconds() > self.max_interval_s:
                run.clear()
                state.fired[kind] = False
            if inside:
                run.append((sample.ts, systolic, diastolic))
                if len(run) >= self.confirm_readings and not state.fired.get(kind):
                    state.fired[kind] = True
                    finding = self._finding(kind, sample, run)
            elif ended:
                run.clear()
                state.fired[kind] = False
        return finding

    def _finding(
        self, kind: str, sample: ResidentSample, run: list[tuple[datetime, float, float | None]]
    ) -> Finding:
        crisis = kind == "hypertensive_crisis"
        return Finding(
            resident_id=sample.resident_id,
            device_id=sample.device_id,
            kind=kind,
            severity=Severity.HIGH,
            channel=Channel.CLINICAL,
            started_at=run[0][0],
            detected_at=sample.ts,
            detector=self.name,
            detector_version=self.version,
            evidence={
                "readings": [
                    {"ts": ts.isoformat(), "systolic_mmhg": s, "diastolic_mmhg": d}
                    for ts, s, d in run
                ],
                "threshold": (
                    {"systolic_mmhg": self.crisis_systolic, "diastolic_mmhg": self.crisis_diastolic}
                    if crisis
                    else {"systolic_mmhg": self.hypotension_systolic}
                ),
                "confirm_readings": self.confirm_readings,
                "window_start": run[0][0].isoformat(),
                "window_end": sample.ts.isoformat(),
                "source": (
                    "ACC/AHA 2017 hypertensive crisis > 180 and/or > 120 mm Hg"
                    if crisis
                    else "NEWS2 (RCP 2017) systolic <= 90 mm Hg scores 3"
                ),
            },
        )
