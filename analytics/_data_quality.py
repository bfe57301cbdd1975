"""Data quality, on its own channel: device silent, flatline/stuck value, poor signal, probe off.

These findings go to technicians; they are never clinical alerts (a silent device is not a
resident in trouble, and never a made-up value).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from analytics._base import BaseDetector
from analytics._types import Channel, Finding, ResidentSample, Severity
from devices import DEVICE_MODELS, Metric, ProbeState


def _fastest_interval() -> dict[Metric, float]:
    table: dict[Metric, float] = {}
    for model in DEVICE_MODELS.values():
        for spec in model.metrics:
            table[spec.metric] = min(
                table.get(spec.metric, spec.report_interval_s), spec.report_interval_s
            )
    return table


# The catalogue's report interval per metric (the fastest model that sends it).
EXPECTED_INTERVAL_S = _fastest_interval()


@dataclass(slots=True)
class _Device:
    last_seen: datetime
    interval_s: float
    silent_reported: bool = False


@dataclass(slots=True)
class SilenceState:
    devices: dict[str, _Device] = field(default_factory=dict)
    resident_id: str = ""


class DeviceSilence(BaseDetector):
    """A device that stops sending for longer than `max(min_silence_s, factor x interval)`.

    The expected interval of a device is the slowest catalogue report interval among the metrics
    it sends (a cuff sending hourly readings is not silent after a minute). Stream time is the
    newest timestamp seen over all residents (`on_clock`), so a device that never returns is
    reported too; `clock_slack_s` covers data of one resident that commits later than another's.
    The finding's `detected_at` is when the silence limit was reached (last seen + limit),
    whichever path notices it first, so streaming and batch agree.

    Parameters
    ----------
    min_silence_s : the shortest silence reported (short network gaps are normal).
    interval_factor : missed report intervals before a device is silent.
    clock_slack_s : extra stream time before a silence is called from the clock alone.

    References
    ----------
    Home Assistant MQTT `expire_after` / availability: a value older than its expected interval is
    unavailable, not a value (the project's availability rule). Bed-sensor data loss of 6-34 %
    is reported in validation studies, so short gaps are expected and not reported.
    """

    name = "device_silence"
    version = "1"
    metrics = frozenset(Metric)
    uses_clock = True
    parameter_ranges = {
        "min_silence_s": (10.0, 86400.0),
        "interval_factor": (1.0, 100.0),
        "clock_slack_s": (0.0, 3600.0),
    }

    def __init__(
        self,
        *,
        min_silence_s: float = 300.0,
        interval_factor: float = 3.0,
        clock_slack_s: float = 60.0,
    ) -> None:
        self.min_silence_s = min_silence_s
        self.interval_factor = interval_factor
        self.clock_slack_s = clock_slack_s

    def new_state(self) -> SilenceState:
        return SilenceState()

    def _limit(self, device: _Device) -> float:
        return max(self.min_silence_s, self.interval_factor * device.interval_s)

    def update(self, state: SilenceState, sample: ResidentSample) -> Finding | None:
        state.resident_id = sample.resident_id
        interval = EXPECTED_INTERVAL_S.get(sample.metric, 1.0)
        device = state.devices.get(sample.device_id)
        if device is None:
            state.devices[sample.device_id] = _Device(sample.ts, interval)
            return None
        finding = None
        if sample.ts > device.last_seen:
            gap = (sample.ts - device.last_seen).total_seconds()
            if gap > self._limit(device) and not device.silent_reported:
                finding = self._finding(state, sample.device_id, device, resumed_at=sample.ts)
            device.last_seen = sample.ts
            device.silent_reported = False
        device.interval_s = max(device.interval_s, interval)
        return finding

    def on_clock(self, state: SilenceState, now: datetime) -> list[Finding]:
        findings = []
        for device_id, device in state.devices.items():
            silent_for = (now - device.last_seen).total_seconds()
            if not device.silent_reported and silent_for > self._limit(device) + self.clock_slack_s:
                device.silent_reported = True
                findings.append(self._finding(state, device_id, device, resumed_at=None))
        return findings

    def _finding(
        self, state: SilenceState, device_id: str, device: _Device, *, resumed_at: datetime | None
    ) -> Finding:
        limit = self._limit(device)
        return Finding(
            resident_id=state.resident_id,
            device_id=device_id,
            kind="device_silent",
            severity=Severity.LOW,
            channel=Channel.DATA_QUALITY,
            started_at=device.last_seen,
            detected_at=device.last_seen + timedelta(seconds=limit),
            detector=self.name,
            detector_version=self.version,
            evidence={
                "last_seen": device.last_seen.isoformat(),
                "limit_s": limit,
                "expected_interval_s": device.interval_s,
                "window_start": device.last_seen.isoformat(),
                "window_end": (device.last_seen + timedelta(seconds=limit)).isoformat(),
                "source": "catalogue report interval x factor (availability rule)",
            },
        )


@dataclass(slots=True)
class _Stuck:
    value: float
    since: datetime
    last: datetime
    n: int = 1
    fired: bool = False


@dataclass(slots=True)
class _Since:
    since: datetime
    fired: bool = False


@dataclass(slots=True)
class SignalState:
    in_bed: bool | None = None
    stuck: dict[tuple[str, Metric], _Stuck] = field(default_factory=dict)
    poor: dict[str, _Since] = field(default_factory=dict)
    probe_off: dict[str, _Since] = field(default_factory=dict)


_STUCK_METRICS = frozenset({Metric.HEART_RATE, Metric.RESPIRATION_RATE, Metric.SPO2})


class SignalProblems(BaseDetector):
    """Flatline (a vital exactly unchanged for `flatline_s`), poor signal quality for
    `poor_signal_s`, and an oximeter probe off for `probe_off_s`, each once per episode.

    Physiological signals are never exactly constant at 0.1 resolution for minutes: a stuck value
    is a sensor or firmware fault, not a stable resident. Poor signal and probe-off are the
    device's own flags; short ones are normal (movement) and not reported. Both count only while
    the resident is in bed (or no bed sensor says otherwise): overnight oximetry is worn in bed,
    and a probe taken off to get up is expected, not a fault.

    Parameters
    ----------
    flatline_s : identical consecutive values for this long are a stuck sensor.
    poor_signal_s, min_signal_quality : quality below the minimum for this long, while in bed.
    probe_off_s : probe reported off (or low perfusion) for this long.
    max_gap_s : a longer gap ends a run.

    References
    ----------
    ISO 80601-2-61:2017 (pulse oximeters shall indicate probe-off / inadequate signal as a
    technical, not physiological, alarm condition). IEC 60601-1-8:2006 (technical vs physiological
    alarm conditions are distinct categories).
    """

    name = "signal_problems"
    version = "2"  # 2: probe off counts only in bed
    metrics = frozenset(
        {*_STUCK_METRICS, Metric.SIGNAL_QUALITY, Metric.PROBE_STATE, Metric.BED_PRESENCE}
    )
    parameter_ranges = {
        "flatline_s": (30.0, 7200.0),
        "poor_signal_s": (30.0, 7200.0),
        "min_signal_quality": (0.0, 1.0),
        "probe_off_s": (10.0, 7200.0),
        "max_gap_s": (1.0, 600.0),
    }

    def __init__(
        self,
        *,
        flatline_s: float = 300.0,
        poor_signal_s: float = 600.0,
        min_signal_quality: float = 0.5,
        probe_off_s: float = 120.0,
        max_gap_s: float = 60.0,
    ) -> None:
        self.flatline_s = flatline_s
        self.poor_signal_s = poor_signal_s
        self.min_signal_quality = min_signal_quality
        self.probe_off_s = probe_off_s
        self.max_gap_s = max_gap_s

    def new_state(self) -> SignalState:
        return SignalState()

    def update(self, state: SignalState, sample: ResidentSample) -> Finding | None:
        metric = sample.metric
        ts = sample.ts
        if metric is Metric.BED_PRESENCE:
            state.in_bed = sample.value >= 0.5
            if not state.in_bed:
                state.poor.clear()
                state.stuck.clear()
                state.probe_off.clear()
            return None
        if metric is Metric.PROBE_STATE:
            if state.in_bed is False:
                return None  # taken off to get up: expected, not a fault
            return self._flag(
                state.probe_off,
                sample,
                sample.value != ProbeState.OK,
                self.probe_off_s,
                "probe_off",
            )
        if state.in_bed is False:
            return None
        if metric is Metric.SIGNAL_QUALITY:
            return self._flag(
                state.poor,
                sample,
                sample.value < self.min_signal_quality,
                self.poor_signal_s,
                "poor_signal",
            )
        key = (sample.device_id, metric)
        stuck = state.stuck.get(key)
        if (
            stuck is None
            or stuck.value != sample.value
            or (ts - stuck.last).total_seconds() > self.max_gap_s
        ):
            state.stuck[key] = _Stuck(sample.value, ts, ts)
            return None
        stuck.last = ts
        stuck.n += 1
        held = (ts - stuck.since).total_seconds()
        if stuck.fired or held < self.flatline_s:
            return None
        stuck.fired = True
        return self._finding(
            "flatline",
            sample,
            stuck.since,
            {
                "metric": str(metric),
                "value": sample.value,
                "samples": stuck.n,
                "flatline_s": self.flatline_s,
            },
        )

    def _flag(
        self,
        runs: dict[str, _Since],
        sample: ResidentSample,
        bad: bool,
        limit_s: float,
        kind: str,
    ) -> Finding | None:
        if not bad:
            runs.pop(sample.device_id, None)
            return None
        run = runs.get(sample.device_id)
        if run is None:
            runs[sample.device_id] = _Since(sample.ts)
            return None
        if run.fired or (sample.ts - run.since).total_seconds() < limit_s:
            return None
        run.fired = True
        return self._finding(
            kind,
            sample,
            run.since,
            {"metric": str(sample.metric), "value": sample.value, "limit_s": limit_s},
        )

    def _finding(
        self, kind: str, sample: ResidentSample, since: datetime, details: dict[str, object]
    ) -> Finding:
        return Finding(
            resident_id=sample.resident_id,
            device_id=sample.device_id,
            kind=kind,
            severity=Severity.LOW,
            channel=Channel.DATA_QUALITY,
            started_at=since,
            detected_at=sample.ts,
            detector=self.name,
            detector_version=self.version,
            evidence={
                **details,
                "window_start": since.isoformat(),
                "window_end": sample.ts.isoformat(),
                "source": "technical alarm condition (ISO 80601-2-61, IEC 60601-1-8)",
            },
        )
