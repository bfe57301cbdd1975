"""A scenario: residents, their devices, episodes and faults, as the exact messages devices send.

Pure and seeded: the same config gives the same messages, byte for byte, whether they are
published live (`ScenarioPublisher`) or exported (`write_readings_csv`). Messages come out in send
order, generated in fixed one-minute chunks, so an endless live run and a finite batch run agree
on every message they share.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np

from devices import (
    BP_CUFF,
    DEVICE_MODELS,
    FINGERTIP_OXIMETER,
    SMART_MATTRESS,
    SMART_PILLOW,
    CuffStatus,
    Metric,
    ProbeState,
    Sample,
    SleepState,
    StatusMessage,
    Stream,
    Topics,
    VitalsMessage,
    encode_status,
    encode_vitals,
)
from eldercare.registry import Bedside
from simulators._episodes import (
    EPISODE_DEVICE,
    DefinitionWatch,
    Episode,
    EpisodeSpec,
    EpisodeType,
    Label,
    apply_behaviour,
    apply_vitals,
    label,
    resolve,
)
from simulators._faults import FaultEvent, FaultRates, FaultType
from simulators._physiology import (
    CHUNK_S,
    DAY_S,
    Physiology,
    ResidentProfile,
    Truth,
    draw_profile,
)
from simulators._ward import RESIDENT_NAMES

_DEVICE_SUFFIX = {
    SMART_MATTRESS.key: "mat",
    SMART_PILLOW.key: "pil",
    BP_CUFF.key: "bp",
    FINGERTIP_OXIMETER.key: "oxi",
}
_BATTERY_POWERED = frozenset({SMART_PILLOW.key, BP_CUFF.key, FINGERTIP_OXIMETER.key})
_BED_SENSORS = frozenset({SMART_MATTRESS.key, SMART_PILLOW.key})
_STUCK_METRIC = {
    SMART_MATTRESS.key: Metric.HEART_RATE,
    SMART_PILLOW.key: Metric.RESPIRATION_RATE,
    BP_CUFF.key: Metric.SYSTOLIC_BP,
    FINGERTIP_OXIMETER.key: Metric.SPO2,
}
# The catalogue models the simulator can drive (a new catalogue model needs its sample rule here).
ALL_DEVICE_MODELS: tuple[str, ...] = tuple(_DEVICE_SUFFIX)
# Re-measure on alarm (device contract: a cuff SHOULD repeat an out-of-range reading within 60 s).
# A scheduled reading outside the cuff's alarm limits is followed by one confirmatory reading
# CUFF_REPEAT_DELAY_S later; the repeat is never itself repeated and the schedule is unchanged.
# 60 s: ACC/AHA 2017 (Whelton et al., Hypertension 2018;71:e13, table 8) and ESH/ESC 2013 ask for
# repeated readings 1-2 min apart, and a single reading is not to be acted on. The alarm limits are
# the alert thresholds: NEWS2 (RCP 2017) systolic <= 90 scores 3; hypertensive crisis from ACC/AHA
# 2017 (systolic 180 / diastolic 120, at or above, as the blood-pressure detector applies them).
CUFF_REPEAT_DELAY_S = 60
CUFF_ALARM_LOW_SYSTOLIC = 90.0
CUFF_ALARM_HIGH_SYSTOLIC = 180.0
CUFF_ALARM_HIGH_DIASTOLIC = 120.0
_MAX_DELAY_S = 12.0  # reordering holds a message back at most 10 s, plus jitter (capped)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioConfig:
    """Everything that defines a scenario; same config (with the same seed), same messages."""

    start: datetime
    duration_s: float | None = 3600.0  # None: endless (live only)
    seed: int = 1
    residents: int = 4
    site_id: str = "demo-care-home"
    devices: tuple[str, ...] = ALL_DEVICE_MODELS  # device model keys every resident has
    episodes: tuple[EpisodeSpec, ...] = ()
    episodes_per_day: float = 0.0  # random episodes per resident-day, on top of `episodes`
    faults: FaultRates = field(default_factory=FaultRates)
    batch: int = 1  # samples per message for 1 Hz devices (firmware batching)
    utc_offset_h: float = 0.0  # site local time, for sleep schedules

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start needs a UTC offset")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        if self.residents < 1 or self.batch < 1:
            raise ValueError("residents and batch must be >= 1")
        unknown = set(self.devices) - set(ALL_DEVICE_MODELS)
        if unknown:
            raise ValueError(
                f"unknown device models {sorted(unknown)} "
                f"(simulated: {', '.join(ALL_DEVICE_MODELS)})"
            )
        for spec in self.episodes:
            if not 0 <= spec.resident < self.residents:
                raise ValueError(f"episode {spec.type} names resident {spec.resident}")


@dataclass(frozen=True, slots=True)
class DeviceMessage:
    """One MQTT message a device sends, `send_s` seconds after the scenario start."""

    send_s: float
    site_id: str
    device_id: str
    resident_id: str
    stream: Stream
    payload: bytes
    samples: tuple[Sample, ...]  # empty for status messages
    retain: bool = False

    def topic(self, topics: Topics) -> str:
        return topics.topic(self.site_id, self.device_id, self.stream)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedResident:
    profile: ResidentProfile
    bedsides: tuple[Bedside, ...]  # one per device, for registering them


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A finished batch run: who was simulated, every message in send order, labels, faults."""

    config: ScenarioConfig
    residents: tuple[SimulatedResident, ...]
    messages: tuple[DeviceMessage, ...]
    labels: tuple[Label, ...]
    faults: tuple[FaultEvent, ...]


@dataclass(slots=True)
class _Window:
    start: int
    end: int
    kind: FaultType
    value: float = 0.0
    record: int = -1  # index in the run's fault records; -1: outside the scenario
    first: int | None = None  # first and last second the fault changed a produced sample
    last: int | None = None

    def mark(self, t: int) -> None:
        if self.first is None:
            self.first = t
        self.last = t


class _Device:
    """One device: turns ground truth into samples, then messages with its faults."""

    def __init__(self, run: ScenarioRun, resident: _Resident, model: str, index: int) -> None:
        self.run = run
        self.resident = resident
        self.model = model
        self.device_id = f"{run.config.site_id}-{_DEVICE_SUFFIX[model]}{index + 1:03d}"
        self.stream = Stream(DEVICE_MODELS[model].stream)
        self.seq = 0
        cfg = run.config
        key = (cfg.seed, index, ALL_DEVICE_MODELS.index(model))  # stable when models are added
        self.rng = np.random.default_rng([*key, 3])  # sensor error
        self.fault_rng = np.random.default_rng([*key, 4])  # per-message faults
        self._window_key = key
        skewed = np.random.default_rng([*key, 5]).random() < cfg.faults.clock_skew
        magnitude = float(np.random.default_rng([*key, 6]).uniform(5, 300))
        sign = 1 if np.random.default_rng([*key, 7]).random() < 0.5 else -1
        self.skew_s = sign * magnitude if skewed else 0.0
        self.pending: list[tuple[int, dict[Metric, float]]] = []
        self.windows: dict[int, list[_Window]] = {}
        self.stuck_value: float | None = None
        self.repeat_at: int | None = None  # cuff: the confirmatory reading an alarm asked for
        self.perfusion = 2.5
        self.chunk_windows: list[_Window] = []
        self.chunk_t0 = 0
        self.noise = np.zeros((0, 3))
        self.uniform = np.zeros((0, 1))
        self.fault_draws = np.zeros((0, 5))
        if self.skew_s:
            run._fault(FaultType.CLOCK_SKEW, self.device_id, 0, 0, f"{self.skew_s:+.1f} s")

    # --- fault windows, planned per local day and seeded per day ---

    def windows_for(self, day: int) -> list[_Window]:
        planned = self.windows.get(day)
        if planned is not None:
            return planned
        rates, rng = (
            self.run.config.faults,
            np.random.default_rng([*self._window_key, 8, day + 10_000]),
        )
        begin_day = day * DAY_S
        out: list[_Window] = []

        def draw(rate: float, kind: FaultType, low: float, high: float) -> None:
            for _ in range(rng.poisson(rate)):
                begin = begin_day + int(rng.uniform(0, DAY_S))
                out.append(_Window(begin, begin + int(rng.uniform(low, high)), kind))

        draw(rates.silence_per_day, FaultType.SILENCE, 300, 1800)
        draw(rates.stuck_value_per_day, FaultType.STUCK_VALUE, 600, 2400)
        if self.model == FINGERTIP_OXIMETER.key:
            draw(rates.probe_off_per_day, FaultType.PROBE_OFF, 60, 900)
        if self.model in _BATTERY_POWERED:
            draw(rates.low_battery_per_day, FaultType.LOW_BATTERY, 1800, 4 * 3600)
        if self.model in _BED_SENSORS:
            draw(rates.poor_signal_per_day, FaultType.POOR_SIGNAL, 600, 2400)
        duration = self.run.config.duration_s
        for window in out:
            if window.end > 0 and (duration is None or window.start < duration):
                self.run._fault(
                    window.kind, self.device_id, window.start, window.end, window=window
                )
        self.windows[day] = out
        for old in [d for d in self.windows if d < day - 2]:
            del self.windows[old]
        return out

    def begin_chunk(self, t0: int, t1: int) -> None:
        """Draw the chunk's sensor errors and per-message fault draws in one go (fast, and the
        same whatever is sent), and cache the fault windows touching seconds t0..t1-1."""
        n = t1 - t0
        self.chunk_t0 = t0
        self.noise = self.rng.normal(0.0, 1.0, (n, 3))
        self.uniform = self.rng.random((n, 1))
        self.fault_draws = np.concatenate(
            [self.fault_rng.random((n, 4)), self.fault_rng.normal(0.0, 1.0, (n, 1))], axis=1
        )
        day = t0 // DAY_S
        self.chunk_windows = [
            w
            for d in range(day - 1, (t1 - 1) // DAY_S + 1)
            for w in self.windows_for(d)
            if w.start < t1 and t0 < w.end
        ]

    def active(self, t: int, kind: FaultType) -> _Window | None:
        for window in self.chunk_windows:
            if window.kind is kind and window.start <= t < window.end:
                return window
        return None

    # --- samples ---

    def sample(self, i: int, t: int, truth_values: Truth) -> dict[Metric, float] | None:
        v = truth_values
        if self.model == SMART_MATTRESS.key:
            return self._mattress(i, t, v)
        if self.model == SMART_PILLOW.key:
            return self._pillow(i, t, v)
        if self.model == FINGERTIP_OXIMETER.key:
            return self._oximeter(i, t, v)
        return self._cuff(i, t, v)

    def _mattress(self, i: int, t: int, v: Truth) -> dict[Metric, float]:
        in_bed = bool(v.in_bed[i])
        values: dict[Metric, float] = {
            Metric.BED_PRESENCE: 1.0 if in_bed else 0.0,
            Metric.MOVEMENT: round(float(v.movement[i]), 3) if in_bed else 0.0,
        }
        if in_bed:
            quality = self._quality(i, t, float(v.signal_quality[i]))
            values[Metric.SIGNAL_QUALITY] = quality
            # Below ~0.15 the device cannot find a heartbeat and reports none (not a guess).
            if quality >= 0.15:
                values[Metric.HEART_RATE] = _rate(v.heart_rate[i] + 1.5 * self.noise[i, 0], 25)
                values[Metric.RESPIRATION_RATE] = _breaths(
                    v.respiration_rate[i] + 0.6 * self.noise[i, 1]
                )
        if t % 30 == 0:
            values[Metric.SLEEP_STATE] = float(v.stage[i] if in_bed else SleepState.AWAKE)
        return values

    def _pillow(self, i: int, t: int, v: Truth) -> dict[Metric, float]:
        if not v.in_bed[i]:
            return {Metric.HEAD_MOVEMENT: 0.0, Metric.SIGNAL_QUALITY: 0.0}
        quality = self._quality(i, t, min(1.0, max(0.0, float(v.signal_quality[i]) * 0.95)))
        asleep = v.stage[i] != SleepState.AWAKE
        supine = v.posture[i] == 0
        snoring = (0.45 if supine else 0.12) * asleep * (0.4 + self.uniform[i, 0])
        values: dict[Metric, float] = {
            Metric.HEAD_MOVEMENT: round(float(min(1.0, v.movement[i] * 0.8)), 3),
            Metric.SNORING: round(float(min(1.0, snoring)), 2),
            Metric.SIGNAL_QUALITY: quality,
        }
        if quality >= 0.15:
            values[Metric.HEART_RATE] = _rate(v.heart_rate[i] + 2.5 * self.noise[i, 0], 25)
            values[Metric.RESPIRATION_RATE] = _breaths(
                v.respiration_rate[i] + 0.8 * self.noise[i, 1]
            )
        if t % 30 == 0:
            values[Metric.SLEEP_POSTURE] = float(v.posture[i])
        return values

    def _quality(self, i: int, t: int, quality: float) -> float:
        """The bed sensor's quality score; a displaced sensor (poor-signal fault) reads 0.2-0.45,
        still enough to report a rate, not enough for detectors to trust it."""
        poor = self.active(t, FaultType.POOR_SIGNAL)
        if poor is not None:
            poor.mark(t)
            quality = min(quality, 0.2 + 0.25 * float(self.uniform[i, 0]))
        return round(quality, 2)

    def _oximeter(self, i: int, t: int, v: Truth) -> dict[Metric, float]:
        # Worn in bed (overnight oximetry); off the finger otherwise.
        if not v.in_bed[i]:
            return {Metric.PROBE_STATE: float(ProbeState.PROBE_OFF)}
        probe_off = self.active(t, FaultType.PROBE_OFF)
        if probe_off is not None:
            probe_off.mark(t)
            return {Metric.PROBE_STATE: float(ProbeState.PROBE_OFF)}
        self.perfusion = 0.97 * self.perfusion + 0.03 * (2.5 + float(self.noise[i, 2]))
        if v.movement[i] > 0.5:  # motion artefact: the oximeter drops the reading
            return {
                Metric.PROBE_STATE: float(ProbeState.LOW_PERFUSION),
                Metric.PERFUSION_INDEX: round(0.1 + 0.3 * float(self.uniform[i, 0]), 2),
            }
        return {
            Metric.SPO2: float(min(100, round(v.spo2[i] + 0.7 * self.noise[i, 0]))),
            Metric.PULSE_RATE: _rate(v.heart_rate[i] + 1.2 * self.noise[i, 1], 25),
            Metric.PERFUSION_INDEX: round(min(15.0, max(0.3, self.perfusion)), 2),
            Metric.PROBE_STATE: float(ProbeState.OK),
        }

    def _cuff(self, i: int, t: int, v: Truth) -> dict[Metric, float] | None:
        profile = self.resident.profile
        if t % profile.bp_interval_s != self.resident.bp_phase and t != self.repeat_at:
            return None
        spurious = self.resident.spurious_bp.get(t)
        if spurious is None and v.movement[i] > 0.5 and self.uniform[i, 0] < 0.5:
            return {Metric.CUFF_STATUS: float(CuffStatus.MOTION)}
        # Oscillometric measurement error: validated cuffs are within 5 +/- 8 mmHg (ISO 81060-2).
        systolic = v.systolic_bp[i] + 5 * self.noise[i, 0]
        diastolic = v.diastolic_bp[i] + 3.5 * self.noise[i, 1]
        if spurious is not None:  # one artefactual reading the cuff still marks OK
            systolic, diastolic = spurious
        systolic, diastolic = round(float(systolic)), round(float(min(diastolic, systolic - 15)))
        return {
            Metric.SYSTOLIC_BP: float(systolic),
            Metric.DIASTOLIC_BP: float(diastolic),
            Metric.MEAN_ARTERIAL_PRESSURE: float(round(diastolic + (systolic - diastolic) / 3)),
            Metric.PULSE_RATE: _rate(v.heart_rate[i] + 2 * self.noise[i, 2], 25),
            Metric.CUFF_STATUS: float(CuffStatus.OK),
        }

    # --- messages ---

    def step(self, i: int, t: int, v: Truth) -> None:
        values = self.sample(i, t, v)
        if values is None:
            return
        stuck = self.active(t, FaultType.STUCK_VALUE)
        metric = _STUCK_METRIC[self.model]
        if stuck is None:
            self.stuck_value = None
        elif metric in values:
            if self.stuck_value is None:
                self.stuck_value = values[metric]
            values[metric] = self.stuck_value
            stuck.mark(t)
        if self.model == BP_CUFF.key:
            self._remeasure_on_alarm(t, values)
        silence = self.active(t, FaultType.SILENCE)
        if silence is not None:
            silence.mark(t)
        if silence is not None or self.resident.network_gap(t, self.model):
            self._flush(t)
            return
        self.pending.append((t, values))
        batch = 1 if self.stream is Stream.BP else self.run.config.batch
        if len(self.pending) >= batch:
            self._flush(t)

    def _remeasure_on_alarm(self, t: int, values: dict[Metric, float]) -> None:
        """Schedule one repeat after a scheduled reading outside the alarm limits (judged on the
        values the cuff reports, as firmware would); a radio silence does not stop the cuff
        measuring, only sending."""
        if t == self.repeat_at:
            self.repeat_at = None  # this is the repeat: never repeated itself
        elif cuff_alarm(values):
            self.repeat_at = t + CUFF_REPEAT_DELAY_S

    def _flush(self, t: int) -> None:
        if not self.pending:
            return
        start = self.run.config.start
        samples = tuple(
            Sample(
                device_ts=start + timedelta(seconds=ts + self.skew_s),
                values=tuple(values.items()),
            )
            for ts, values in self.pending
        )
        pending, self.pending = self.pending, []
        self.seq += 1
        payload = encode_vitals(VitalsMessage(seq=self.seq, samples=samples))
        if self._send(t, payload, samples):
            self.run._observe(self.resident, pending)

    def _send(self, t: int, payload: bytes, samples: tuple[Sample, ...]) -> bool:
        """Queue the message (and any duplicate); False when it was lost."""
        rates = self.run.config.faults
        draws = self.fault_draws[t - self.chunk_t0]
        delay = min(abs(float(draws[4])) * rates.send_jitter_s, 1.5)
        loss = rates.packet_loss
        if self.active(t, FaultType.LOW_BATTERY):
            loss = max(loss, 0.3)  # a failing battery drops radio packets
        if draws[0] < loss:
            return False
        send_s = t + delay
        if draws[1] < rates.reorder:
            send_s += 2 + 8 * float(draws[3])
        self.run._queue(self._message(send_s, self.stream, payload, samples))
        if draws[2] < rates.duplicate:
            repeat = send_s + 0.5 + 2.5 * float(draws[3])
            self.run._queue(self._message(repeat, self.stream, payload, samples))
        return True

    def status(self, t: int, battery: float | None) -> None:
        ts = self.run.config.start + timedelta(seconds=t + self.skew_s)
        payload = encode_status(StatusMessage(state="online", device_ts=ts, battery=battery))
        self.run._queue(self._message(float(t), Stream.STATUS, payload, (), retain=True))

    def _message(
        self,
        send_s: float,
        stream: Stream,
        payload: bytes,
        samples: tuple[Sample, ...],
        *,
        retain: bool = False,
    ) -> DeviceMessage:
        return DeviceMessage(
            send_s=round(send_s, 3),
            site_id=self.run.config.site_id,
            device_id=self.device_id,
            resident_id=self.resident.profile.resident_id,
            stream=stream,
            payload=payload,
            samples=samples,
            retain=retain,
        )


def cuff_alarm(values: Mapping[Metric, float]) -> bool:
    """Is this cuff reading valid and outside the alarm limits (low or high)?"""
    systolic = values.get(Metric.SYSTOLIC_BP)
    if systolic is None or values.get(Metric.CUFF_STATUS) != CuffStatus.OK:
        return False
    diastolic = values.get(Metric.DIASTOLIC_BP, 0.0)
    return (
        systolic <= CUFF_ALARM_LOW_SYSTOLIC
        or systolic >= CUFF_ALARM_HIGH_SYSTOLIC
        or diastolic >= CUFF_ALARM_HIGH_DIASTOLIC
    )


def _rate(value: float, low: float) -> float:
    return round(min(240.0, max(low, float(value))), 1)


def _breaths(value: float) -> float:
    return 0.0 if value < 1.0 else round(float(min(value, 65)), 1)


class _Resident:
    def __init__(self, run: ScenarioRun, index: int) -> None:
        cfg = run.config
        self.index = index
        resident_id = f"{cfg.site_id}-r{index + 1:03d}"
        self.profile = draw_profile(
            np.random.default_rng([cfg.seed, index, 0]), resident_id=resident_id
        )
        self.physiology = Physiology(
            self.profile, seed_key=(cfg.seed, index), start=cfg.start, utc_offset_h=cfg.utc_offset_h
        )
        self.bp_phase = int(np.random.default_rng([cfg.seed, index, 9]).integers(0, 600))
        self.bp_phase %= self.profile.bp_interval_s
        self.episodes: list[Episode] = []
        self.watches: list[tuple[int, DefinitionWatch]] = []  # (label index, open watch)
        self.spurious_bp: dict[int, tuple[float, float]] = {}
        self.gaps: list[tuple[int, int, str]] = []
        self.devices = [_Device(run, self, model, index) for model in cfg.devices]
        name = RESIDENT_NAMES[index % len(RESIDENT_NAMES)]
        self.bedsides = tuple(
            Bedside(
                site_id=cfg.site_id,
                resident_id=resident_id,
                display_name=name,
                bed_id=f"{cfg.site_id}-bed{index + 1:03d}",
                device_id=device.device_id,
                device_model=device.model,
                risk_tier=str(self.profile.risk_tier),
            )
            for device in self.devices
        )

    def device_id(self, model: str) -> str:
        for device in self.devices:
            if device.model == model:
                return device.device_id
        return self.devices[0].device_id

    def next_bp_reading(self, t: int) -> int:
        interval = self.profile.bp_interval_s
        k = math.ceil((t - self.bp_phase) / interval)
        return self.bp_phase + k * interval

    def network_gap(self, t: int, model: str) -> bool:
        return any(begin <= t < end and model == m for begin, end, m in self.gaps)


class ScenarioRun:
    """Generates a scenario chunk by chunk; `messages()` yields in send order, labels accrue."""

    def __init__(self, config: ScenarioConfig) -> None:
        self.config = config
        self.labels: list[Label] = []
        self._fault_events: list[FaultEvent] = []
        self._fault_windows: list[_Window | None] = []
        self._heap: list[tuple[float, int, DeviceMessage]] = []
        self._counter = 0
        self._episode_count = 0
        self._planned_days: set[int] = set()
        self.residents = [_Resident(self, i) for i in range(config.residents)]
        for spec in config.episodes:
            self._add_episode(self.residents[spec.resident], spec)

    @property
    def simulated(self) -> tuple[SimulatedResident, ...]:
        return tuple(
            SimulatedResident(profile=r.profile, bedsides=r.bedsides) for r in self.residents
        )

    @property
    def faults(self) -> list[FaultEvent]:
        """Fault windows so far, with the span of samples each actually changed."""
        origin = self.config.start
        out = []
        for event, window in zip(self._fault_events, self._fault_windows, strict=True):
            if window is not None and window.first is not None and window.last is not None:
                event = replace(
                    event,
                    observed_start=origin + timedelta(seconds=window.first),
                    observed_end=origin + timedelta(seconds=window.last),
                )
            out.append(event)
        return out

    def _fault(
        self,
        kind: FaultType,
        device_id: str,
        start: int,
        end: int,
        detail: str = "",
        *,
        window: _Window | None = None,
    ) -> None:
        origin = self.config.start
        if window is not None:
            window.record = len(self._fault_events)
        self._fault_events.append(
            FaultEvent(
                type=kind,
                device_id=device_id,
                start=origin + timedelta(seconds=start),
                end=origin + timedelta(seconds=end),
                detail=detail,
            )
        )
        self._fault_windows.append(window)

    def _observe(self, resident: _Resident, samples: list[tuple[int, dict[Metric, float]]]) -> None:
        """Samples a device sent: date the definitions they make observable."""
        if not resident.watches or not samples:
            return
        first, last = samples[0][0], samples[-1][0]
        expired = False
        for index, watch in resident.watches:  # sorted by onset
            episode = watch.episode
            if episode.onset > last:
                break
            # Devices send a chunk each in turn, so another device's samples may still be up to
            # a chunk older than this one's.
            if episode.offset + CHUNK_S <= first:
                expired = True
                continue
            for t, values in samples:
                if watch.observe(t, values):
                    assert watch.met_at is not None
                    self.labels[index] = replace(
                        self.labels[index],
                        definition_met_at=self.config.start + timedelta(seconds=watch.met_at),
                    )
        if expired:
            resident.watches = [
                (i, w) for i, w in resident.watches if w.episode.offset + CHUNK_S > first
            ]

    def _queue(self, message: DeviceMessage) -> None:
        self._counter += 1
        heapq.heappush(self._heap, (message.send_s, self._counter, message))

    def _add_episode(self, resident: _Resident, spec: EpisodeSpec) -> None:
        self._episode_count += 1
        episode_id = f"ep{self._episode_count:05d}"
        rng = np.random.default_rng([self.config.seed, resident.index, 10, self._episode_count])
        if spec.type is EpisodeType.SPURIOUS_BP:
            at = resident.next_bp_reading(int(spec.onset_s))
            spec = EpisodeSpec(type=spec.type, resident=spec.resident, onset_s=at, duration_s=1)
        episode = resolve(spec, episode_id=episode_id, profile=resident.profile, rng=rng)
        if spec.type is EpisodeType.SPURIOUS_BP:
            resident.spurious_bp[episode.onset] = (episode.target, episode.secondary)
        if spec.type is EpisodeType.SHORT_NETWORK_GAP:
            resident.gaps.append((episode.onset, episode.offset, SMART_MATTRESS.key))
        resident.episodes.append(episode)
        model = EPISODE_DEVICE[spec.type]
        watch = DefinitionWatch(episode, resident.profile)
        if watch.scored:
            resident.watches.append((len(self.labels), watch))
            resident.watches.sort(key=lambda item: item[1].episode.onset)
        self.labels.append(
            label(
                episode,
                profile=resident.profile,
                device_id=resident.device_id(model),
                start=self.config.start,
            )
        )

    def _plan_random_day(self, day: int) -> None:
        """Random episodes for local day `day`, planned a day ahead and seeded per day."""
        if day in self._planned_days or self.config.episodes_per_day <= 0:
            return
        self._planned_days.add(day)
        night_types = (
            EpisodeType.APNEA_CLUSTER,
            EpisodeType.NIGHT_BED_EXIT,
            EpisodeType.IMMOBILITY,
            EpisodeType.BORDERLINE_RR_DEEP_SLEEP,
            EpisodeType.SHORT_BATHROOM_TRIP,
            EpisodeType.LOW_RESPIRATION,
        )
        kinds = list(EpisodeType)
        for resident in self.residents:
            rng = np.random.default_rng([self.config.seed, resident.index, 11, day + 10_000])
            for _ in range(rng.poisson(self.config.episodes_per_day)):
                kind = kinds[int(rng.integers(len(kinds)))]
                night = resident.physiology.night(day)
                if kind in night_types:
                    onset = float(rng.uniform(night.bed_s + 3600, night.wake_s - 3 * 3600))
                else:
                    midnight = night.bed_s - int(resident.profile.bedtime_h * 3600)
                    onset = float(midnight + rng.uniform(0, DAY_S))
                spec = EpisodeSpec(type=kind, resident=resident.index, onset_s=onset)
                end = onset + spec.length_s
                clash = any(
                    e.onset < end + 600 and onset < e.offset + 600 for e in resident.episodes
                )
                if onset < 0 or clash or not self._fits(end):
                    continue
                self._add_episode(resident, spec)

    def _fits(self, end: float) -> bool:
        return self.config.duration_s is None or end <= self.config.duration_s

    def messages(self) -> Iterator[DeviceMessage]:
        """Every message in send order (ties keep generation order); endless if no duration."""
        cfg = self.config
        for device in (d for r in self.residents for d in r.devices):
            device.status(0, 1.0 if device.model in _BATTERY_POWERED else None)
        total = math.inf if cfg.duration_s is None else int(cfg.duration_s)
        t0 = 0
        while t0 < total:
            n = int(min(CHUNK_S, total - t0))
            day = int(t0 // DAY_S)
            for ahead in (day, day + 1):
                self._plan_random_day(ahead)
            for resident in self.residents:
                self._step_resident(resident, t0, n)
            t0 += n
            horizon = t0 if t0 < total else math.inf
            while self._heap and self._heap[0][0] < horizon:
                yield heapq.heappop(self._heap)[2]

    def _step_resident(self, resident: _Resident, t0: int, n: int) -> None:
        physiology = resident.physiology
        truth = physiology.truth(t0, n)
        active = [e for e in resident.episodes if e.overlaps(t0, t0 + n, margin=600)]
        apply_behaviour(active, truth)
        physiology.finish(truth)
        apply_vitals(active, truth, resident.profile)
        physiology.set_posture(int(truth.posture[-1]))
        values = truth
        for device in resident.devices:
            device.begin_chunk(t0, t0 + n)
            battery = {
                t: charge
                for w in device.chunk_windows
                if w.kind is FaultType.LOW_BATTERY
                for t, charge in ((w.start, 0.07), (w.end - 1, 1.0))
            }
            for t in range(t0, t0 + n):
                if t in battery:
                    device.status(t, battery[t])  # low-battery warning, then recharged
                device.step(t - t0, t, values)
        if t0 + n == self.config.duration_s:
            for device in resident.devices:
                device._flush(t0 + n - 1)


def build_scenario(config: ScenarioConfig) -> Scenario:
    """Run a finite scenario without MQTT: the batch path; same messages as a live run."""
    if config.duration_s is None:
        raise ValueError("a batch scenario needs a duration")
    run = ScenarioRun(config)
    messages = tuple(run.messages())
    return Scenario(
        config=config,
        residents=run.simulated,
        messages=messages,
        labels=tuple(sorted(run.labels, key=lambda x: (x.onset, x.episode_id))),
        faults=tuple(sorted(run.faults, key=lambda f: (f.start, f.device_id, f.type))),
    )


def iter_scenario(config: ScenarioConfig) -> tuple[ScenarioRun, Iterator[DeviceMessage]]:
    """A run and its lazy message stream (for live and endless runs)."""
    run = ScenarioRun(config)
    return run, run.messages()
