"""Ground-truth physiology of one simulated resident, second by second: pure and seeded.

Published ranges the baselines are drawn from (adult/elderly, at rest):

- Heart rate: normal resting adult 60-100 /min (AHA); NEWS2 scores 0 for 51-90 /min (RCP 2017).
  Drawn around 70 /min; asleep it falls by 5-12 % in NREM (nocturnal dip), less in REM.
- Respiration: 12-20 /min for resting older adults (NEWS2 0-score band 12-20); older adults run
  slightly higher (Rodriguez-Molinero et al., J Am Geriatr Soc 2013;61:2238). Drawn around 16.
- SpO2: >= 96 % scores 0 in NEWS2; healthy elderly mostly 94-99 % (Rodriguez-Molinero 2013).
  A mild nocturnal fall of about 1 % is normal.
- Blood pressure: AHA/ACC 2017 categories (normal < 120/80, stage 2 >= 140/90, crisis > 180/120);
  systolic rises with age, so residents are drawn around 130-140 mmHg systolic with a 10-15 %
  nocturnal dip ("dipping", O'Brien et al., Lancet 1988).
- Sleep architecture in older adults (Ohayon et al., Sleep 2004;27:1255; Floyd et al., Sleep
  2007;30:829): sleep latency ~20 min, N3 (deep) 5-15 %, REM 15-20 %, wake after sleep onset
  large (60+ min), ~90 min NREM-REM cycles, N3 concentrated early and REM late in the night;
  30 s scoring epochs (AASM Manual). Nocturia: one to three bathroom trips a night is common.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np
from scipy.signal import lfilter

from devices import SleepPosture, SleepState

CHUNK_S = 60  # seconds generated per step; fixed, so output never depends on how far one runs
EPOCH_S = 30  # AASM sleep-scoring epoch
DAY_S = 86_400


class RiskTier(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResidentProfile:
    """Who a simulated resident is: drawn once from the seed, then fixed."""

    resident_id: str
    age: int
    frailty: int  # Clinical Frailty Scale 1-9 (Rockwood 2005); care-home residents mostly 4-7
    risk_tier: RiskTier
    heart_rate: float  # resting, awake, /min
    respiration_rate: float  # resting, awake, /min
    spo2: float  # %
    systolic_bp: float  # awake, mmHg
    diastolic_bp: float  # awake, mmHg
    bedtime_h: float  # local clock hours
    wake_h: float
    bathroom_trips_per_night: float
    naps: bool
    bp_interval_s: int  # cuff schedule: every 15-60 min

    @property
    def mean_arterial_pressure(self) -> float:
        return self.diastolic_bp + (self.systolic_bp - self.diastolic_bp) / 3


def draw_profile(rng: np.random.Generator, *, resident_id: str) -> ResidentProfile:
    """A plausible care-home resident; frailty and risk tier shift the baselines a little."""
    age = int(np.clip(rng.normal(84, 6), 66, 100))
    frailty = int(np.clip(round(rng.normal(5.2, 1.1)), 3, 8))
    risk = rng.choice([RiskTier.LOW, RiskTier.MEDIUM, RiskTier.HIGH], p=[0.3, 0.45, 0.25])
    risk_shift = {RiskTier.LOW: 0.0, RiskTier.MEDIUM: 1.0, RiskTier.HIGH: 2.0}[risk]
    heart_rate = float(np.clip(rng.normal(68 + 1.2 * (frailty - 5) + risk_shift, 7), 55, 92))
    respiration = float(
        np.clip(rng.normal(16 + 0.3 * (frailty - 5) + 0.4 * risk_shift, 1.6), 12, 20)
    )
    spo2 = float(np.clip(rng.normal(96.6 - 0.4 * risk_shift, 1.0), 94, 99))
    systolic = float(np.clip(rng.normal(128 + 0.5 * (age - 80) + 4 * risk_shift, 12), 105, 165))
    diastolic = float(np.clip(rng.normal(74 - 0.2 * (age - 80), 7), 58, 95))
    return ResidentProfile(
        resident_id=resident_id,
        age=age,
        frailty=frailty,
        risk_tier=RiskTier(risk),
        heart_rate=round(heart_rate, 1),
        respiration_rate=round(respiration, 1),
        spo2=round(spo2, 1),
        systolic_bp=round(systolic, 1),
        diastolic_bp=round(min(diastolic, systolic - 30), 1),
        bedtime_h=float(np.clip(rng.normal(21.0, 0.6), 19.5, 23.0)),
        wake_h=float(np.clip(rng.normal(6.5, 0.5), 5.5, 8.0)),
        bathroom_trips_per_night=float(np.clip(rng.normal(1.5, 0.7), 0.3, 3.5)),
        naps=bool(rng.random() < 0.5 + 0.05 * (frailty - 5)),
        # Higher risk, closer follow-up: 15 min for high, 30 for medium, 60 for low.
        bp_interval_s={RiskTier.LOW: 3600, RiskTier.MEDIUM: 1800, RiskTier.HIGH: 900}[risk],
    )


@dataclass(slots=True)
class Truth:
    """One chunk of ground truth, arrays indexed by second (t0 + i). Internal and mutable."""

    t0: int
    in_bed: np.ndarray  # bool
    stage: np.ndarray  # SleepState codes
    posture: np.ndarray  # SleepPosture codes
    movement: np.ndarray  # 0..1
    signal_quality: np.ndarray  # 0..1, of bed sensors
    heart_rate: np.ndarray
    respiration_rate: np.ndarray
    spo2: np.ndarray
    systolic_bp: np.ndarray
    diastolic_bp: np.ndarray
    immobile: np.ndarray  # bool: an immobility episode suppresses movement

    @property
    def t(self) -> np.ndarray:
        return np.arange(self.t0, self.t0 + len(self.in_bed))


@dataclass(frozen=True, slots=True)
class _Night:
    bed_s: int  # seconds from the scenario start
    wake_s: int
    trips: tuple[tuple[int, int], ...]
    nap: tuple[int, int] | None  # the afternoon before this night
    hypnogram: np.ndarray  # SleepState per epoch from bed_s


@dataclass(slots=True)
class _State:
    posture: int = int(SleepPosture.SUPINE)
    motion_left: int = 0
    motion_level: float = 0.0
    hr_zi: np.ndarray = field(default_factory=lambda: np.zeros(1))
    rr_zi: np.ndarray = field(default_factory=lambda: np.zeros(1))
    spo2_zi: np.ndarray = field(default_factory=lambda: np.zeros(1))
    sq_zi: np.ndarray = field(default_factory=lambda: np.zeros(1))
    bp_zi: np.ndarray = field(default_factory=lambda: np.zeros(1))


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float, zi: np.ndarray) -> np.ndarray:
    """AR(1) noise continuing from `zi` (updated in place); stationary sd is `sd`."""
    innovations = rng.normal(0.0, sd * math.sqrt(1 - phi * phi), n)
    out, zf = lfilter([1.0], [1.0, -phi], innovations, zi=zi * phi)
    zi[:] = out[-1:]
    del zf
    return out


class Physiology:
    """Second-by-second ground truth for one resident, generated in fixed chunks.

    Seeded per resident (`seed_key`), so adding a resident never changes another one, and each
    night's plan is seeded per night, so it does not depend on how long the run was before it.
    """

    def __init__(
        self,
        profile: ResidentProfile,
        *,
        seed_key: tuple[int, ...],
        start: datetime,
        utc_offset_h: float = 0.0,
    ) -> None:
        self.profile = profile
        self._seed_key = seed_key
        self._rng = np.random.default_rng([*seed_key, 1])
        local = start + timedelta(hours=utc_offset_h)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        self._midnight0 = -int((local - midnight).total_seconds())
        self._nights: dict[int, _Night] = {}
        self._state = _State()

    # --- the daily plan ---

    def local_hour(self, t: np.ndarray) -> np.ndarray:
        return ((t - self._midnight0) % DAY_S) / 3600.0

    def night(self, day: int) -> _Night:
        """The night starting on the evening of local `day` (0 = the start's local date)."""
        cached = self._nights.get(day)
        if cached is None:
            cached = self._plan_night(day)
            self._nights[day] = cached
            for old in [d for d in self._nights if d < day - 2]:
                del self._nights[old]
        return cached

    def _plan_night(self, day: int) -> _Night:
        p = self.profile
        rng = np.random.default_rng([*self._seed_key, 2, day + 10_000])
        midnight = self._midnight0 + day * DAY_S
        bed_s = midnight + int((p.bedtime_h + rng.normal(0, 0.35)) * 3600)
        wake_s = midnight + DAY_S + int((p.wake_h + rng.normal(0, 0.3)) * 3600)
        trips = []
        for _ in range(rng.poisson(p.bathroom_trips_per_night)):
            begin = int(rng.uniform(bed_s + 3600, wake_s - 1800))
            trips.append((begin, begin + int(rng.uniform(180, 600))))  # 3-10 min out of bed
        trips.sort()
        nap = None
        if p.naps and rng.random() < 0.8:
            begin = midnight + int(rng.uniform(13.0, 14.5) * 3600)
            nap = (begin, begin + int(rng.uniform(30, 75) * 60))
        return _Night(
            bed_s=bed_s,
            wake_s=wake_s,
            trips=tuple(trips),
            nap=nap,
            hypnogram=_hypnogram(rng, (wake_s - bed_s) // EPOCH_S + 1),
        )

    def _day_of(self, t: int) -> int:
        return (t - self._midnight0) // DAY_S

    def in_bed_and_stage(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        in_bed = np.zeros(len(t), dtype=bool)
        stage = np.full(len(t), int(SleepState.AWAKE), dtype=np.int8)
        first, last = self._day_of(int(t[0])), self._day_of(int(t[-1]))
        for day in range(first - 1, last + 1):
            night = self.night(day)
            asleep = (t >= night.bed_s) & (t < night.wake_s)
            if asleep.any():
                epochs = (t[asleep] - night.bed_s) // EPOCH_S
                stage[asleep] = night.hypnogram[np.minimum(epochs, len(night.hypnogram) - 1)]
                in_bed |= asleep
                for begin, end in night.trips:
                    trip = (t >= begin) & (t < end)
                    in_bed &= ~trip
                    stage[trip] = int(SleepState.AWAKE)
            if night.nap is not None:
                nap = (t >= night.nap[0]) & (t < night.nap[1])
                in_bed |= nap
                # Naps: mostly light sleep after a few awake minutes.
                stage[nap & (t >= night.nap[0] + 300)] = int(SleepState.LIGHT)
        return in_bed, stage

    # --- one chunk ---

    def truth(self, t0: int, n: int = CHUNK_S) -> Truth:
        """Ground truth for seconds t0..t0+n-1 before episodes (call with consecutive chunks)."""
        t = np.arange(t0, t0 + n)
        in_bed, stage = self.in_bed_and_stage(t)
        empty = np.zeros(n)
        return Truth(
            t0=t0,
            in_bed=in_bed,
            stage=stage,
            posture=np.full(n, self._state.posture, dtype=np.int8),
            movement=empty.copy(),
            signal_quality=empty.copy(),
            heart_rate=empty.copy(),
            respiration_rate=empty.copy(),
            spo2=empty.copy(),
            systolic_bp=empty.copy(),
            diastolic_bp=empty.copy(),
            immobile=np.zeros(n, dtype=bool),
        )

    def finish(self, truth: Truth, *, hr_offset: np.ndarray | None = None) -> None:
        """Fill movement and vitals from the (episode-adjusted) behaviour in `truth`."""
        rng, p, s, n = self._rng, self.profile, self._state, len(truth.in_bed)
        t = truth.t
        self._movement(truth)
        asleep = truth.in_bed & (truth.stage != SleepState.AWAKE)
        hour = self.local_hour(t)
        # Circadian rhythm: trough in the early morning (~04:00), peak in the afternoon.
        circadian = np.cos(2 * np.pi * (hour - 16.0) / 24.0)
        hr_factor = np.select(
            [
                truth.stage == SleepState.LIGHT,
                truth.stage == SleepState.DEEP,
                truth.stage == SleepState.REM,
            ],
            [0.93, 0.89, 0.96],
            default=1.0,
        )
        active = ~truth.in_bed  # up and about: light activity raises the rate
        truth.heart_rate[:] = (
            p.heart_rate * hr_factor
            + 3.0 * circadian
            + 8.0 * active
            + _ar1(rng, n, 0.98, 2.5, s.hr_zi)
        )
        if hr_offset is not None:
            truth.heart_rate += hr_offset
        rr_shift = np.select(
            [
                truth.stage == SleepState.LIGHT,
                truth.stage == SleepState.DEEP,
                truth.stage == SleepState.REM,
            ],
            [-0.6, -1.2, 0.4],
            default=0.0,
        )
        rr_noise_sd = np.where(
            truth.stage == SleepState.REM, 1.3, 0.8
        )  # REM breathing is irregular
        truth.respiration_rate[:] = (
            p.respiration_rate
            + rr_shift
            + 2.0 * active
            + _ar1(rng, n, 0.97, 1.0, s.rr_zi) * rr_noise_sd
        )
        truth.spo2[:] = p.spo2 - 0.8 * asleep + _ar1(rng, n, 0.99, 0.5, s.spo2_zi)
        dip = np.where(asleep, 0.88, 1.0)  # nocturnal BP dip of ~12 %
        bp_noise = _ar1(rng, n, 0.999, 4.0, s.bp_zi)
        truth.systolic_bp[:] = p.systolic_bp * dip + 4.0 * circadian + bp_noise
        truth.diastolic_bp[:] = p.diastolic_bp * dip + 2.0 * circadian + 0.5 * bp_noise
        base_quality = np.clip(0.9 + _ar1(rng, n, 0.95, 0.04, s.sq_zi), 0.55, 1.0)
        moving = truth.movement > 0.25
        truth.signal_quality[:] = np.where(
            truth.in_bed, np.where(moving, rng.uniform(0.05, 0.45, n), base_quality), 0.0
        )

    def _movement(self, truth: Truth) -> None:
        """Motion events (turns, restlessness) with the artefacts they cause; posture changes."""
        rng, s, n = self._rng, self._state, len(truth.in_bed)
        # Per-second chance a movement starts: awake in bed > light > REM (atonia) > deep.
        rate = np.select(
            [
                truth.stage == SleepState.AWAKE,
                truth.stage == SleepState.LIGHT,
                truth.stage == SleepState.REM,
            ],
            [1 / 150, 1 / 700, 1 / 2500],
            default=1 / 4000,
        )
        starts = rng.random(n) < rate
        durations = rng.integers(3, 26, n)
        levels = rng.uniform(0.3, 1.0, n)
        turns = rng.random(n) < 0.35
        new_postures = rng.choice(
            [SleepPosture.SUPINE, SleepPosture.LEFT, SleepPosture.RIGHT, SleepPosture.PRONE],
            p=[0.45, 0.25, 0.25, 0.05],
            size=n,
        )
        background = np.where(truth.stage == SleepState.AWAKE, 0.08, 0.02) * rng.random(n)
        for i in range(n):
            if not truth.in_bed[i] or truth.immobile[i]:
                s.motion_left = 0
                truth.movement[i] = 0.0 if truth.immobile[i] else 0.0
                if truth.immobile[i]:
                    truth.movement[i] = round(float(background[i]) * 0.2, 3)
                truth.posture[i] = s.posture
                continue
            if s.motion_left == 0 and starts[i]:
                s.motion_left = int(durations[i])
                s.motion_level = float(levels[i])
                if turns[i]:
                    s.posture = int(new_postures[i])
            if s.motion_left > 0:
                s.motion_left -= 1
                truth.movement[i] = s.motion_level
            else:
                truth.movement[i] = float(background[i])
            truth.posture[i] = s.posture

    def set_posture(self, posture: int) -> None:
        self._state.posture = posture


def _hypnogram(rng: np.random.Generator, epochs: int) -> np.ndarray:
    """Sleep stages per 30 s epoch: latency, ~90 min cycles, N3 early, REM late, awakenings."""
    stages = np.empty(epochs, dtype=np.int8)
    latency = int(rng.uniform(10, 35) * 60 // EPOCH_S)
    cycle_epochs = int(rng.uniform(80, 100) * 60 // EPOCH_S)
    previous = int(SleepState.AWAKE)
    draws = rng.random((epochs, 2))
    for i in range(epochs):
        if i < latency:
            stages[i] = SleepState.AWAKE
            continue
        k = i - latency
        cycle, phase = divmod(k, cycle_epochs)
        p = phase / cycle_epochs
        if p < 0.15:
            options = ((SleepState.LIGHT, 0.9), (SleepState.AWAKE, 0.1))
        elif p < 0.6:
            deep = max(0.04, 0.55 - 0.22 * cycle)
            options = (
                (SleepState.DEEP, deep),
                (SleepState.LIGHT, 0.92 - deep),
                (SleepState.AWAKE, 0.08),
            )
        elif p < 0.75:
            options = ((SleepState.LIGHT, 0.9), (SleepState.AWAKE, 0.1))
        else:
            rem = min(0.85, 0.5 + 0.1 * cycle)
            options = (
                (SleepState.REM, rem),
                (SleepState.LIGHT, 0.94 - rem),
                (SleepState.AWAKE, 0.06),
            )
        if draws[i, 0] < 0.8:  # stages persist: most epochs repeat the previous one
            wanted = previous
            if all(int(stage) != previous for stage, _ in options):
                wanted = -1
        else:
            wanted = -1
        if wanted == -1:
            acc, wanted = 0.0, int(options[-1][0])
            for stage, weight in options:
                acc += weight
                if draws[i, 1] < acc:
                    wanted = int(stage)
                    break
        stages[i] = wanted
        previous = wanted
    return stages
