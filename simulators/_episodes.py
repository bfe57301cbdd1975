"""Injectable episodes, their effect on ground truth, and their labels (pure).

Each clinical episode has a *definition* taken from a published threshold. Its label records the
first moment the definition is *observable*: the first sample a device actually sent (after
silences and lost packets) at which the modelled physiology (the resident's baseline plus the
episode's effect, before noise and sensor error) meets the definition, counting the readings the
definition itself asks for (a hypertensive crisis needs two consecutive valid cuff readings, so it
is dated at the second). Time-to-detect is then measured from when a clinician looking at the
device data could first have known, never from a crossing no device could see (a cuff reads every
15-60 min). An episode no device observed meeting its definition has an empty
`definition_met_at`, as do hard negatives, which look alarming but meet no definition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np

from devices import Metric, SleepPosture, SleepState
from simulators._physiology import ResidentProfile, RiskTier, Truth


class EpisodeType(StrEnum):
    TACHYCARDIA = "tachycardia"
    BRADYCARDIA = "bradycardia"
    APNEA_CLUSTER = "apnea_cluster"
    LOW_RESPIRATION = "low_respiration"
    HYPERTENSIVE_CRISIS = "hypertensive_crisis"
    HYPOTENSION = "hypotension"
    SEPSIS_LIKE = "sepsis_like"
    NIGHT_BED_EXIT = "night_bed_exit"
    IMMOBILITY = "immobility"
    GRADUAL_DETERIORATION = "gradual_deterioration"
    # Hard negatives: alarming-looking, clinically benign.
    POSTURE_HR_RISE = "posture_hr_rise"
    MOTION_SPIKE = "motion_spike"
    BORDERLINE_RR_DEEP_SLEEP = "borderline_rr_deep_sleep"
    SPURIOUS_BP = "spurious_bp"
    SHORT_BATHROOM_TRIP = "short_bathroom_trip"
    SHORT_NETWORK_GAP = "short_network_gap"


HARD_NEGATIVES = frozenset(
    {
        EpisodeType.POSTURE_HR_RISE,
        EpisodeType.MOTION_SPIKE,
        EpisodeType.BORDERLINE_RR_DEEP_SLEEP,
        EpisodeType.SPURIOUS_BP,
        EpisodeType.SHORT_BATHROOM_TRIP,
        EpisodeType.SHORT_NETWORK_GAP,
    }
)

# Definitions (cited) and defaults.
TACHYCARDIA_BPM = 131.0  # NEWS2 pulse >= 131 scores 3 (RCP 2017)
BRADYCARDIA_BPM = 40.0  # NEWS2 pulse <= 40 scores 3
LOW_RESPIRATION_PER_MIN = 8.0  # NEWS2 respiration <= 8 scores 3
APNEA_MIN_S = 10.0  # AASM: an apnea is a cessation of airflow for >= 10 s
APNEAS_FOR_CLUSTER = 5  # AASM: AHI >= 5 /h is abnormal; 5 apneas within the hour meet it
CRISIS_SYSTOLIC, CRISIS_DIASTOLIC = 180.0, 120.0  # AHA/ACC 2017 hypertensive crisis > 180 / > 120
HYPOTENSION_SYSTOLIC = 90.0  # NEWS2 systolic <= 90 scores 3
# qSOFA (Seymour et al., JAMA 2016): respiration >= 22 and systolic <= 100 (2 of 3 criteria).
QSOFA_RR, QSOFA_SBP = 22.0, 100.0
# Prolonged night bed exit: no published threshold; care-home protocols commonly check a resident
# not back within 15-30 min. Project definition: out of bed for 20 min at night.
NIGHT_EXIT_S = 20 * 60
# Immobility: no turn within the resident's own repositioning interval, the one their care plan
# (and their risk tier's turn reminder) sets. NICE CG179 (2014) 1.1.17-1.1.18 asks adults at risk
# to change position at least every 6 h, at high risk every 4 h; EPUAP/NPIAP/PPPIA 2019 asks for an
# individualised frequency. Project care plans: two-hourly turns (the traditional nursing schedule)
# at medium and high risk, four-hourly at low risk. A 2 h definition for every resident made a
# low-risk resident's correct silence at 2 h a missed episode. The episode lasts one hour beyond
# the interval, so a reminder at the interval falls inside it.
IMMOBILITY_S: dict[RiskTier, int] = {
    RiskTier.LOW: 4 * 3600,
    RiskTier.MEDIUM: 2 * 3600,
    RiskTier.HIGH: 2 * 3600,
}
IMMOBILITY_OBSERVE_S = 3600
# Gradual deterioration: project definition, not a published threshold: heart rate +12 /min and
# respiration +2.5 /min over the resident's baseline, while every single value stays in NEWS2 <= 2.
DETERIORATION_HR, DETERIORATION_RR = 12.0, 2.5

DEFAULT_DURATION_S: dict[EpisodeType, float] = {
    EpisodeType.TACHYCARDIA: 600,
    EpisodeType.BRADYCARDIA: 600,
    EpisodeType.APNEA_CLUSTER: 1800,
    EpisodeType.LOW_RESPIRATION: 900,
    EpisodeType.HYPERTENSIVE_CRISIS: 3 * 3600,
    EpisodeType.HYPOTENSION: 3 * 3600,
    EpisodeType.SEPSIS_LIKE: 6 * 3600,
    EpisodeType.NIGHT_BED_EXIT: 45 * 60,
    # The longest (low risk); `resolve` shortens it to the resident's interval + 1 h.
    EpisodeType.IMMOBILITY: max(IMMOBILITY_S.values()) + IMMOBILITY_OBSERVE_S,
    EpisodeType.GRADUAL_DETERIORATION: 48 * 3600,
    EpisodeType.POSTURE_HR_RISE: 120,
    EpisodeType.MOTION_SPIKE: 12,
    EpisodeType.BORDERLINE_RR_DEEP_SLEEP: 600,
    EpisodeType.SPURIOUS_BP: 60,
    EpisodeType.SHORT_BATHROOM_TRIP: 300,
    EpisodeType.SHORT_NETWORK_GAP: 90,
}

# Which device's data carries the episode (the label's device_id).
EPISODE_DEVICE: dict[EpisodeType, str] = {
    **dict.fromkeys(EpisodeType, "smart_mattress"),
    EpisodeType.HYPERTENSIVE_CRISIS: "bp_cuff",
    EpisodeType.HYPOTENSION: "bp_cuff",
    EpisodeType.SPURIOUS_BP: "bp_cuff",
}

# What observes each definition: the metric a sent sample must carry, and how many consecutive
# valid observations meeting the definition it takes. Continuous metrics are sampled every second;
# blood pressure only when the cuff takes a valid reading (a motion-spoiled reading carries only
# `cuff_status`). Hypertensive crisis asks for a confirming repeat reading (ACC/AHA 2017), which
# the cuff takes 60 s after an out-of-range reading (re-measure on alarm, `_scenario.py`);
# hypotension is one NEWS2 observation (systolic <= 90 scores 3); qSOFA's systolic <= 100 needs a
# cuff reading while the respiration rate (measured every second) is >= 22.
OBSERVED_BY: dict[EpisodeType, tuple[Metric, int]] = {
    EpisodeType.TACHYCARDIA: (Metric.HEART_RATE, 1),
    EpisodeType.BRADYCARDIA: (Metric.HEART_RATE, 1),
    EpisodeType.APNEA_CLUSTER: (Metric.RESPIRATION_RATE, 1),
    EpisodeType.LOW_RESPIRATION: (Metric.RESPIRATION_RATE, 1),
    EpisodeType.HYPERTENSIVE_CRISIS: (Metric.SYSTOLIC_BP, 2),
    EpisodeType.HYPOTENSION: (Metric.SYSTOLIC_BP, 1),
    EpisodeType.SEPSIS_LIKE: (Metric.SYSTOLIC_BP, 1),
    EpisodeType.NIGHT_BED_EXIT: (Metric.BED_PRESENCE, 1),
    EpisodeType.IMMOBILITY: (Metric.MOVEMENT, 1),
    EpisodeType.GRADUAL_DETERIORATION: (Metric.HEART_RATE, 1),
}

# Vital-sign episodes happen to a resident lying down (an unwell resident rests), so bed sensors
# can see them; behaviour episodes set presence themselves.
_FORCE_IN_BED = frozenset(
    {
        EpisodeType.TACHYCARDIA,
        EpisodeType.BRADYCARDIA,
        EpisodeType.APNEA_CLUSTER,
        EpisodeType.LOW_RESPIRATION,
        EpisodeType.SEPSIS_LIKE,
        EpisodeType.IMMOBILITY,
        EpisodeType.BORDERLINE_RR_DEEP_SLEEP,
        EpisodeType.POSTURE_HR_RISE,
        EpisodeType.MOTION_SPIKE,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class EpisodeSpec:
    """An episode to inject: `resident` is the resident's index in the scenario."""

    type: EpisodeType
    resident: int
    onset_s: float  # seconds after the scenario start
    duration_s: float | None = None  # None: the type's default

    @property
    def length_s(self) -> float:
        return self.duration_s if self.duration_s is not None else DEFAULT_DURATION_S[self.type]


@dataclass(frozen=True, slots=True, kw_only=True)
class Label:
    """One row of the labels file."""

    episode_id: str
    type: EpisodeType
    resident_id: str
    device_id: str
    onset: datetime
    offset: datetime
    definition_met_at: datetime | None

    @property
    def hard_negative(self) -> bool:
        return self.type in HARD_NEGATIVES


@dataclass(frozen=True, slots=True, kw_only=True)
class Episode:
    """An injected episode with its drawn parameters, as the simulator applies it."""

    episode_id: str
    spec: EpisodeSpec
    onset: int
    offset: int
    target: float  # the main parameter's target (bpm, /min, mmHg), type-specific
    secondary: float = 0.0
    apneas: tuple[tuple[int, int], ...] = ()

    @property
    def type(self) -> EpisodeType:
        return self.spec.type

    def overlaps(self, t0: int, t1: int, *, margin: int = 0) -> bool:
        return self.onset - margin < t1 and t0 < self.offset + margin


def resolve(
    spec: EpisodeSpec, *, episode_id: str, profile: ResidentProfile, rng: np.random.Generator
) -> Episode:
    """Draw the episode's parameters (targets, apnea times) for this resident."""
    onset = int(spec.onset_s)
    offset = onset + int(spec.length_s)
    kind, p = spec.type, profile
    target, secondary, apneas = 0.0, 0.0, ()
    if kind is EpisodeType.TACHYCARDIA:
        target = float(rng.uniform(138, 155))
    elif kind is EpisodeType.BRADYCARDIA:
        target = float(rng.uniform(30, 37))
    elif kind is EpisodeType.APNEA_CLUSTER:
        events, t = [], onset + int(rng.uniform(20, 60))
        while t + 40 < offset:
            length = int(rng.uniform(15, 40))
            events.append((t, t + length))
            t += length + int(rng.uniform(40, 100))
        apneas = tuple(events)
        target = float(rng.uniform(4, 9))  # SpO2 fall per apnea, %
    elif kind is EpisodeType.LOW_RESPIRATION:
        target = float(rng.uniform(4.5, 7.0))
        secondary = float(rng.uniform(5, 9))  # SpO2 fall, lagging
    elif kind is EpisodeType.HYPERTENSIVE_CRISIS:
        target = float(rng.uniform(188, 215))
        secondary = float(rng.uniform(105, 128))
    elif kind is EpisodeType.HYPOTENSION:
        target = float(rng.uniform(75, 86))
        secondary = float(rng.uniform(42, 52))
    elif kind is EpisodeType.SEPSIS_LIKE:
        target = float(rng.uniform(112, 125))  # heart rate
        secondary = float(rng.uniform(24, 28))  # respiration
    elif kind is EpisodeType.GRADUAL_DETERIORATION:
        # Rise that never leaves NEWS2 <= 2 per parameter: pulse <= 110, respiration <= 24.
        target = float(min(p.heart_rate + 18, 106))
        secondary = float(min(p.respiration_rate + 5.0, 22.5))
    elif kind is EpisodeType.POSTURE_HR_RISE:
        target = float(rng.uniform(15, 26))
    elif kind is EpisodeType.MOTION_SPIKE:
        offset = onset + int(min(spec.length_s, 19))  # shorter than 20 s by definition
        target = float(rng.uniform(0.7, 1.0))
    elif kind is EpisodeType.BORDERLINE_RR_DEEP_SLEEP:
        target = float(rng.uniform(9.3, 10.8))  # NEWS2 9-11 scores 1, not 3
    elif kind is EpisodeType.SPURIOUS_BP:
        target = float(rng.uniform(182, 198))
        secondary = float(rng.uniform(100, 112))
    elif kind is EpisodeType.SHORT_BATHROOM_TRIP:
        offset = onset + int(min(spec.length_s, 600))
    elif kind is EpisodeType.SHORT_NETWORK_GAP:
        offset = onset + int(min(spec.length_s, 180))
    elif kind is EpisodeType.IMMOBILITY and spec.duration_s is None:
        offset = onset + IMMOBILITY_S[p.risk_tier] + IMMOBILITY_OBSERVE_S
    return Episode(
        episode_id=episode_id,
        spec=spec,
        onset=onset,
        offset=offset,
        target=target,
        secondary=secondary,
        apneas=apneas,
    )


def _blend(x: np.ndarray, w: np.ndarray, target: float) -> np.ndarray:
    """Move `x` towards `target` by weight `w`, keeping its short-term variation."""
    variation = x - x.mean()
    return (1 - w) * x + w * (target + variation)


def _ramp(t: np.ndarray, onset: int, offset: int, ramp_s: float) -> np.ndarray:
    """0 outside, 1 at full effect, linear ramps of `ramp_s` in and out."""
    up = (t - onset) / ramp_s
    down = (offset - t) / ramp_s
    return np.clip(np.minimum(up, down), 0.0, 1.0)


def apply_behaviour(episodes: list[Episode], truth: Truth) -> None:
    """Presence, stage and immobility overrides; before movement and vitals are generated."""
    t = truth.t
    for ep in episodes:
        window = (t >= ep.onset) & (t < ep.offset)
        if not window.any():
            continue
        if ep.type in _FORCE_IN_BED:
            truth.in_bed[window] = True
        if ep.type in (EpisodeType.NIGHT_BED_EXIT, EpisodeType.SHORT_BATHROOM_TRIP):
            truth.in_bed[window] = False
            truth.stage[window] = SleepState.AWAKE
        elif ep.type is EpisodeType.IMMOBILITY:
            truth.immobile[window] = True
        elif ep.type in (EpisodeType.BORDERLINE_RR_DEEP_SLEEP, EpisodeType.APNEA_CLUSTER):
            truth.stage[window] = (
                SleepState.DEEP
                if ep.type is EpisodeType.BORDERLINE_RR_DEEP_SLEEP
                else np.where(truth.stage[window] == SleepState.AWAKE, 1, truth.stage[window])
            )
        elif ep.type is EpisodeType.POSTURE_HR_RISE:
            truth.stage[window] = SleepState.AWAKE


def apply_vitals(episodes: list[Episode], truth: Truth, profile: ResidentProfile) -> None:
    """Vital-sign effects; after the baseline vitals are generated."""
    t = truth.t
    for ep in episodes:
        if not ep.overlaps(int(t[0]), int(t[-1]) + 1, margin=600):
            continue
        for metric, values in effect(ep, t, profile, truth).items():
            getattr(truth, metric)[:] = values


def effect(
    ep: Episode, t: np.ndarray, profile: ResidentProfile, truth: Truth | None = None
) -> dict[str, np.ndarray]:
    """New values of the affected truth arrays at seconds `t` (`truth` None: noise-free model)."""

    def base(name: str, default: float) -> np.ndarray:
        if truth is None:
            return np.full(len(t), default)
        return getattr(truth, name).copy()

    p, kind = profile, ep.type
    hr = base("heart_rate", p.heart_rate)
    rr = base("respiration_rate", p.respiration_rate)
    spo2 = base("spo2", p.spo2)
    sbp = base("systolic_bp", p.systolic_bp)
    dbp = base("diastolic_bp", p.diastolic_bp)
    if kind in (EpisodeType.TACHYCARDIA, EpisodeType.BRADYCARDIA):
        w = _ramp(t, ep.onset, ep.offset, 20.0)
        return {"heart_rate": _blend(hr, w, ep.target)}
    if kind is EpisodeType.APNEA_CLUSTER:
        out_rr, drop = rr.copy(), np.zeros(len(t))
        for begin, end in ep.apneas:
            out_rr[(t >= begin) & (t < end)] = 0.0
            # Desaturation follows the apnea after the circulation delay (~20-40 s).
            nadir = end + 25
            drop = np.maximum(drop, ep.target * np.clip(1 - np.abs(t - nadir) / 30.0, 0, 1))
        return {"respiration_rate": out_rr, "spo2": spo2 - drop}
    if kind is EpisodeType.LOW_RESPIRATION:
        w = _ramp(t, ep.onset, ep.offset, 60.0)
        lagged = _ramp(t - 90, ep.onset, ep.offset, 120.0)  # SpO2 lags ventilation
        return {
            "respiration_rate": _blend(rr, w, ep.target),
            "spo2": spo2 - lagged * ep.secondary,
        }
    if kind in (EpisodeType.HYPERTENSIVE_CRISIS, EpisodeType.HYPOTENSION):
        w = _ramp(t, ep.onset, ep.offset, 900.0)
        return {
            "systolic_bp": _blend(sbp, w, ep.target),
            "diastolic_bp": _blend(dbp, w, ep.secondary),
        }
    if kind is EpisodeType.SEPSIS_LIKE:
        w = _ramp(t, ep.onset, ep.offset, 3600.0)
        return {
            "heart_rate": _blend(hr, w, ep.target),
            "respiration_rate": _blend(rr, w, ep.secondary),
            "systolic_bp": _blend(sbp, w, min(96.0, p.systolic_bp - 25)),
            "diastolic_bp": dbp - w * 12.0,
            "spo2": spo2 - w * 4.0,
        }
    if kind is EpisodeType.GRADUAL_DETERIORATION:
        span = max(ep.offset - ep.onset, 1)
        w = np.clip((t - ep.onset) / span, 0.0, 1.0) * (t < ep.offset)
        return {
            "heart_rate": hr + w * (ep.target - p.heart_rate),
            "respiration_rate": rr + w * (ep.secondary - p.respiration_rate),
            "spo2": spo2 - w * 2.0,
            "systolic_bp": sbp - w * 10.0,
        }
    if kind is EpisodeType.POSTURE_HR_RISE:
        w = _ramp(t, ep.onset, ep.offset, 15.0)
        out = {"heart_rate": hr + w * ep.target}
        if truth is not None:
            first = (t >= ep.onset) & (t < ep.onset + 8)  # sitting up is a movement
            out["movement"] = np.where(first, 0.8, truth.movement)
            out["posture"] = np.where(
                (t >= ep.onset) & (t < ep.offset), int(SleepPosture.SITTING), truth.posture
            )
        return out
    if kind is EpisodeType.MOTION_SPIKE and truth is not None:
        window = (t >= ep.onset) & (t < ep.offset)
        return {
            "movement": np.where(window, ep.target, truth.movement),
            "signal_quality": np.where(window, 0.3, truth.signal_quality),
            # Artefact: the sensor reads the motion as a fast pulse.
            "heart_rate": np.where(window, hr + 55.0, hr),
        }
    if kind is EpisodeType.BORDERLINE_RR_DEEP_SLEEP:
        w = _ramp(t, ep.onset, ep.offset, 60.0)
        return {"respiration_rate": _blend(rr, w, ep.target)}
    return {}


def definition_mask(ep: Episode, profile: ResidentProfile) -> np.ndarray | None:
    """Per second of [onset, offset): does the noise-free physiology meet the definition?

    None for hard negatives. Definitions that accumulate (5 apneas, 20 min out of bed, the
    resident's repositioning interval without turning) stay met from the moment they are met
    until the episode ends."""
    kind = ep.type
    if kind in HARD_NEGATIVES:
        return None
    t = np.arange(ep.onset, ep.offset)
    if kind is EpisodeType.NIGHT_BED_EXIT:
        return t >= ep.onset + NIGHT_EXIT_S
    if kind is EpisodeType.IMMOBILITY:
        return t >= ep.onset + IMMOBILITY_S[profile.risk_tier]
    if kind is EpisodeType.APNEA_CLUSTER:
        qualifying = [begin for begin, end in ep.apneas if end - begin >= APNEA_MIN_S]
        for i in range(APNEAS_FOR_CLUSTER - 1, len(qualifying)):
            if qualifying[i] - qualifying[i - APNEAS_FOR_CLUSTER + 1] <= 3600:
                return t >= qualifying[i] + int(APNEA_MIN_S)
        return np.zeros(len(t), dtype=bool)
    tests: dict[EpisodeType, Callable[[dict[str, np.ndarray]], np.ndarray]] = {
        EpisodeType.TACHYCARDIA: lambda v: v["heart_rate"] >= TACHYCARDIA_BPM,
        EpisodeType.BRADYCARDIA: lambda v: v["heart_rate"] <= BRADYCARDIA_BPM,
        EpisodeType.LOW_RESPIRATION: lambda v: v["respiration_rate"] <= LOW_RESPIRATION_PER_MIN,
        EpisodeType.HYPERTENSIVE_CRISIS: lambda v: (
            (v["systolic_bp"] > CRISIS_SYSTOLIC) | (v["diastolic_bp"] > CRISIS_DIASTOLIC)
        ),
        EpisodeType.HYPOTENSION: lambda v: v["systolic_bp"] <= HYPOTENSION_SYSTOLIC,
        EpisodeType.SEPSIS_LIKE: lambda v: (
            (v["respiration_rate"] >= QSOFA_RR) & (v["systolic_bp"] <= QSOFA_SBP)
        ),
        EpisodeType.GRADUAL_DETERIORATION: lambda v: (
            (v["heart_rate"] >= profile.heart_rate + DETERIORATION_HR)
            & (v["respiration_rate"] >= profile.respiration_rate + DETERIORATION_RR)
        ),
    }
    return np.asarray(tests[kind](effect(ep, t, profile)), dtype=bool)


def definition_met_at(ep: Episode, profile: ResidentProfile) -> int | None:
    """First second the noise-free physiology meets the definition (whether or not any device
    could see it then); None if never. The label uses `DefinitionWatch` instead."""
    mask = definition_mask(ep, profile)
    if mask is None:
        return None
    hits = np.flatnonzero(mask)
    return ep.onset + int(hits[0]) if len(hits) else None


class DefinitionWatch:
    """Dates one episode's definition from the samples devices actually send.

    `observe(t, values)` is called with every sent sample of the resident (true time `t`, seconds
    after the scenario start; one device's samples arrive in time order, several devices'
    interleave by chunk). The watch keeps the earliest `t` at which `needed` consecutive
    observations of its metric met the definition. An observation that does not meet it resets
    the count; seconds without a sample of the metric (silence, lost packets, a spoiled cuff
    reading) are no observation at all.
    """

    __slots__ = ("episode", "metric", "needed", "mask", "streak", "met_at")

    def __init__(self, episode: Episode, profile: ResidentProfile) -> None:
        self.episode = episode
        self.metric, self.needed = OBSERVED_BY.get(episode.type, (Metric.HEART_RATE, 1))
        self.mask = definition_mask(episode, profile)
        self.streak = 0
        self.met_at: int | None = None

    @property
    def scored(self) -> bool:
        """False for hard negatives (no definition to date)."""
        return self.mask is not None

    def observe(self, t: int, values: Mapping[Metric, float]) -> bool:
        """True when this sample dates the definition earlier than before."""
        ep, mask = self.episode, self.mask
        if mask is None or not ep.onset <= t < ep.offset or self.metric not in values:
            return False
        if self.met_at is not None and (self.needed > 1 or t >= self.met_at):
            return False
        if not mask[t - ep.onset]:
            self.streak = 0
            return False
        self.streak += 1
        if self.streak < self.needed:
            return False
        self.met_at = t
        return True


def label(
    ep: Episode,
    *,
    profile: ResidentProfile,
    device_id: str,
    start: datetime,
    met: int | None = None,
) -> Label:
    """The episode's label; `met` is the observed definition time (seconds after `start`)."""
    return Label(
        episode_id=ep.episode_id,
        type=ep.type,
        resident_id=profile.resident_id,
        device_id=device_id,
        onset=start + timedelta(seconds=ep.onset),
        offset=start + timedelta(seconds=ep.offset),
        definition_met_at=None if met is None else start + timedelta(seconds=met),
    )
