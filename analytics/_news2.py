"""NEWS2 from whatever parameters the devices measure, always saying which are missing."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from statistics import median

from analytics._base import BaseDetector
from analytics._types import Channel, Finding, ResidentSample, Severity
from devices import CuffStatus, Metric, ProbeState

NEWS2_PARAMETERS = (
    "respiration_rate",
    "spo2",
    "supplemental_oxygen",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
)


class News2Response(StrEnum):
    """Clinical response bands (RCP 2017, chart 2)."""

    LOW = "low"  # aggregate 0-4
    LOW_MEDIUM = "low_medium"  # a 3 in any single parameter: urgent ward-based response
    MEDIUM = "medium"  # aggregate 5-6: urgent response
    HIGH = "high"  # aggregate >= 7: emergency response

    @property
    def rank(self) -> int:
        return list(News2Response).index(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class News2Score:
    """A NEWS2 aggregate; `complete` is False whenever a parameter is missing, and the aggregate is
    then a lower bound: never show it as the full score."""

    total: int
    scores: Mapping[str, int]
    missing: tuple[str, ...]
    response: News2Response

    @property
    def complete(self) -> bool:
        return not self.missing

    def label(self) -> str:
        if self.complete:
            return f"NEWS2 {self.total}"
        return f"partial NEWS2 >= {self.total} (missing: {', '.join(self.missing)})"


def _band(value: float, bands: tuple[tuple[float, int], ...], last: int) -> int:
    for upper, score in bands:
        if value <= upper:
            return score
    return last


def news2_score(values: Mapping[str, float | None]) -> News2Score:
    """Score the parameters present (name -> value; None or absent means not measured).

    `consciousness` is 0 for alert and 1 for new confusion/V/P/U; `supplemental_oxygen` is 1 when
    on oxygen. SpO2 uses scale 1 (scale 2 is a clinician's choice for hypercapnic patients).

    References
    ----------
    Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the
    assessment of acute-illness severity in the NHS. London: RCP, 2017 (chart 1 bands, chart 2
    trigger thresholds).
    """
    scores: dict[str, int] = {}
    missing = []
    for name in NEWS2_PARAMETERS:
        value = values.get(name)
        if value is None:
            missing.append(name)
            continue
        if name == "respiration_rate":
            scores[name] = _band(value, ((8, 3), (11, 1), (20, 0), (24, 2)), 3)
        elif name == "spo2":
            scores[name] = _band(value, ((91, 3), (93, 2), (95, 1)), 0)
        elif name == "supplemental_oxygen":
            scores[name] = 2 if value >= 0.5 else 0
        elif name == "systolic_bp":
            scores[name] = _band(value, ((90, 3), (100, 2), (110, 1), (219, 0)), 3)
        elif name == "pulse":
            scores[name] = _band(value, ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2)), 3)
        elif name == "consciousness":
            scores[name] = 3 if value >= 0.5 else 0
        else:  # temperature
            scores[name] = _band(value, ((35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1)), 2)
    total = sum(scores.values())
    if total >= 7:
        response = News2Response.HIGH
    elif total >= 5:
        response = News2Response.MEDIUM
    elif 3 in scores.values():
        response = News2Response.LOW_MEDIUM
    else:
        response = News2Response.LOW
    return News2Score(total=total, scores=scores, missing=tuple(missing), response=response)


_SEVERITY = {News2Response.MEDIUM: Severity.HIGH, News2Response.HIGH: Severity.CRITICAL}
_VITAL_PARAMETER = {
    Metric.RESPIRATION_RATE: "respiration_rate",
    Metric.SPO2: "spo2",
    Metric.HEART_RATE: "pulse",
    Metric.PULSE_RATE: "pulse",
}


@dataclass(slots=True)
class News2State:
    in_bed: bool | None = None
    quality: dict[str, float] = field(default_factory=dict)
    probe_off: dict[str, bool] = field(default_factory=dict)
    cuff_ok: dict[str, bool] = field(default_factory=dict)
    recent: dict[str, deque[tuple[datetime, float]]] = field(default_factory=dict)
    systolic: tuple[datetime, float] | None = None
    last_eval: datetime | None = None
    level_since: datetime | None = None
    level: News2Response = News2Response.LOW
    fired_rank: int = -1


class News2Aggregate(BaseDetector):
    """A partial NEWS2 over recent medians of the measured parameters; fires on the aggregate
    triggers (5-6 medium, >= 7 high) held for `min_duration_s`.

    Bed sensors, cuffs and oximeters never give temperature, consciousness or supplemental
    oxygen, so the score is always reported as partial with the missing parameters listed, and the
    aggregate is a lower bound. The single-parameter-3 trigger is computed in `news2_score`; as a
    finding it comes from the per-parameter detectors (`SustainedHeartRate`,
    `SustainedRespiration`, `SustainedHypoxemia`, `BloodPressure` hypotension), which use the same
    score-3 bands with durations, so one event does not page twice.

    Parameters
    ----------
    window_s : the median of each vital over this window is scored (robust to single samples).
    bp_max_age_s : a cuff reading older than this is missing, not current.
    eval_interval_s : how often (device time) the score is recomputed.
    min_duration_s : the trigger level must hold this long before a finding.
    min_parameters : fewer measured parameters than this gives no score at all.
    min_signal_quality : bed-sensor samples below this quality are ignored.

    References
    ----------
    Royal College of Physicians. National Early Warning Score (NEWS) 2. London: RCP, 2017
    (aggregate 5-6 urgent response, >= 7 emergency response; single 3 urgent ward-based response).
    """

    name = "news2_partial"
    version = "1"
    metrics = frozenset(
        {
            Metric.RESPIRATION_RATE,
            Metric.SPO2,
            Metric.HEART_RATE,
            Metric.PULSE_RATE,
            Metric.SYSTOLIC_BP,
            Metric.CUFF_STATUS,
            Metric.PROBE_STATE,
            Metric.BED_PRESENCE,
            Metric.SIGNAL_QUALITY,
        }
    )
    parameter_ranges = {
        "window_s": (10.0, 3600.0),
        "bp_max_age_s": (60.0, 86400.0),
        "eval_interval_s": (1.0, 600.0),
        "min_duration_s": (0.0, 3600.0),
        "min_parameters": (1.0, 7.0),
        "min_signal_quality": (0.0, 1.0),
    }

    def __init__(
        self,
        *,
        window_s: float = 120.0,
        bp_max_age_s: float = 3600.0,
        eval_interval_s: float = 30.0,
        min_duration_s: float = 120.0,
        min_parameters: float = 2.0,
        min_signal_quality: float = 0.5,
    ) -> None:
        self.window_s = window_s
        self.bp_max_age_s = bp_max_age_s
        self.eval_interval_s = eval_interval_s
        self.min_duration_s = min_duration_s
        self.min_parameters = min_parameters
        self.min_signal_quality = min_signal_quality

    def new_state(self) -> News2State:
        return News2State()

    def update(self, state: News2State, sample: ResidentSample) -> Finding | None:
        metric = sample.metric
        if metric is Metric.BED_PRESENCE:
            state.in_bed = sample.value >= 0.5
            return None
        if metric is Metric.SIGNAL_QUALITY:
            state.quality[sample.device_id] = sample.value
            return None
        if metric is Metric.PROBE_STATE:
            state.probe_off[sample.device_id] = sample.value != ProbeState.OK
            return None
        if metric is Metric.CUFF_STATUS:
            state.cuff_ok[sample.device_id] = sample.value == CuffStatus.OK
            return None
        if metric is Metric.SYSTOLIC_BP:
            if state.cuff_ok.get(sample.device_id, True):
                state.systolic = (sample.ts, sample.value)
        else:
            if metric is Metric.SPO2:
                if state.probe_off.get(sample.device_id):
                    return None
            elif metric is not Metric.PULSE_RATE:  # bed-sensor vitals
                if state.in_bed is False:
                    return None
                if state.quality.get(sample.device_id, 1.0) < self.min_signal_quality:
                    return None
            parameter = _VITAL_PARAMETER[metric]
            recent = state.recent.setdefault(parameter, deque())
            recent.append((sample.ts, sample.value))
        if (
            state.last_eval is not None
            and (sample.ts - state.last_eval).total_seconds() < self.eval_interval_s
        ):
            return None
        state.last_eval = sample.ts
        return self._evaluate(state, sample)

    def _evaluate(self, state: News2State, sample: ResidentSample) -> Finding | None:
        now = sample.ts
        values: dict[str, float | None] = {}
        window: dict[str, dict[str, object]] = {}
        for parameter, recent in state.recent.items():
            while recent and (now - recent[0][0]).total_seconds() > self.window_s:
                recent.popleft()
            if recent:
                values[parameter] = median(v for _, v in recent)
                window[parameter] = {
                    "median": values[parameter],
                    "samples": len(recent),
                    "from": recent[0][0].isoformat(),
                }
        if state.systolic is not None:
            taken, systolic = state.systolic
            if (now - taken).total_seconds() <= self.bp_max_age_s:
                values["systolic_bp"] = systolic
                window["systolic_bp"] = {"value": systolic, "taken_at": taken.isoformat()}
        if len(values) < self.min_parameters:
            state.level, state.level_since = News2Response.LOW, None
            return None
        score = news2_score(values)
        level = score.response if score.response.rank >= News2Response.MEDIUM.rank else None
        if level is None:
            state.level, state.level_since = News2Response.LOW, None
            state.fired_rank = -1
            return None
        if level != state.level or state.level_since is None:
            state.level, state.level_since = level, now
        held = (now - state.level_since).total_seconds()
        if held < self.min_duration_s or level.rank <= state.fired_rank:
            return None
        state.fired_rank = level.rank
        return Finding(
            resident_id=sample.resident_id,
            device_id=sample.device_id,
            kind="news2_aggregate",
            severity=_SEVERITY[level],
            channel=Channel.CLINICAL,
            started_at=state.level_since,
            detected_at=now,
            detector=self.name,
            detector_version=self.version,
            evidence={
                "score": score.total,
                "complete": score.complete,
                "partial": not score.complete,
                "missing": list(score.missing),
                "label": score.label(),
                "response": str(score.response),
                "parameter_scores": dict(score.scores),
                "values": window,
                "window_start": state.level_since.isoformat(),
                "window_end": now.isoformat(),
                "source": "NEWS2 (RCP 2017) aggregate trigger; partial score is a lower bound",
            },
        )
