"""Night-time bed exit beyond a per-resident limit, and no return to bed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from analytics._base import BaseDetector
from analytics._types import Channel, Finding, ResidentSample, Severity
from devices import Metric


def is_night(ts: datetime, *, start_hour: float, end_hour: float, utc_offset_h: float) -> bool:
    """Whether `ts` falls in the night window, in the home's local time (a fixed UTC offset)."""
    local = ts + timedelta(hours=utc_offset_h)
    hour = local.hour + local.minute / 60
    if start_hour <= end_hour:
        return start_hour <= hour < end_hour
    return hour >= start_hour or hour < end_hour


@dataclass(slots=True)
class BedExitState:
    in_bed: bool | None = None
    out_since: datetime | None = None
    last_ts: datetime | None = None
    night_exit: bool = False
    fired_exit: bool = False
    fired_no_return: bool = False


class NightBedExit(BaseDetector):
    """Out of bed at night for longer than the resident's limit; a second, more urgent finding
    when the resident has still not returned after `no_return_s`.

    A bathroom trip is normal: the limit is per resident (a clinician override), and short
    absences never fire. Presence must be continuously 0; a gap in presence data longer than
    `max_gap_s` ends the absence (a silent mattress is a data-quality matter, not an exit).

    Parameters
    ----------
    night_start_hour, night_end_hour, utc_offset_h : the window, in the home's local time, in which
        an exit must start: 22:00-05:00 by default, ending before the usual waking time so the
        morning rise (05:30-08:00 in older adults) is not an alarm; set per resident to their
        routine.
    max_out_s : out-of-bed time at night that counts as a bed exit to check on (default 20 min:
        care-home protocols check on a resident not back within 15-30 min; longer than a
        night-time toilet visit).
    no_return_s : still out after this long: possible fall or wandering.
    max_gap_s : presence gaps longer than this end the absence.

    References
    ----------
    NICE CG161 (2013) Falls in older people: assessing risk and prevention (night-time toileting
    and unobserved bed exits as fall risks; individualised plans).
    Capezuti E et al. Bed-exit alarm effectiveness. Arch Gerontol Geriatr 2009;49(1):27-31
    (alarm fatigue from immediate bed-exit alarms; delays and per-person settings).
    """

    name = "night_bed_exit"
    version = "1"
    metrics = frozenset({Metric.BED_PRESENCE})
    parameter_ranges = {
        "night_start_hour": (0.0, 24.0),
        "night_end_hour": (0.0, 24.0),
        "utc_offset_h": (-12.0, 14.0),
        "max_out_s": (30.0, 7200.0),
        "no_return_s": (60.0, 14400.0),
        "max_gap_s": (1.0, 600.0),
    }

    def __init__(
        self,
        *,
        night_start_hour: float = 22.0,
        night_end_hour: float = 5.0,
        utc_offset_h: float = 0.0,
        max_out_s: float = 1200.0,
        no_return_s: float = 2700.0,
        max_gap_s: float = 120.0,
    ) -> None:
        self.night_start_hour = night_start_hour
        self.night_end_hour = night_end_hour
        self.utc_offset_h = utc_offset_h
        self.max_out_s = max_out_s
        self.no_return_s = no_return_s
        self.max_gap_s = max_gap_s

    def new_state(self) -> BedExitState:
        return BedExitState()

    def update(self, state: BedExitState, sample: ResidentSample) -> Finding | None:
        ts = sample.ts
        gap = state.last_ts is not None and (ts - state.last_ts).total_seconds() > self.max_gap_s
        state.last_ts = ts
        if sample.value >= 0.5:
            state.in_bed, state.out_since = True, None
            return None
        if gap:
            # No evidence across the gap: wait to see the resident in bed again.
            state.in_bed, state.out_since = None, None
            return None
        if state.out_since is None:
            if state.in_bed is not True:
                # An exit counts only after the resident was seen in bed (not an unused bed).
                state.in_bed = False
                return None
            state.out_since = ts
            state.night_exit = is_night(
                ts,
                start_hour=self.night_start_hour,
                end_hour=self.night_end_hour,
                utc_offset_h=self.utc_offset_h,
            )
            state.fired_exit = state.fired_no_return = False
        state.in_bed = False
        if not state.night_exit:
            return None
        out_s = (ts - state.out_since).total_seconds()
        if not state.fired_exit and out_s >= self.max_out_s:
            state.fired_exit = True
            return self._finding("bed_exit_night", Severity.MEDIUM, sample, state, out_s)
        if not state.fired_no_return and out_s >= self.no_return_s:
            state.fired_no_return = True
            return self._finding("no_return_to_bed", Severity.HIGH, sample, state, out_s)
        return None

    def _finding(
        self, kind: str, severity: Severity, sample: ResidentSample, state: BedExitState, out: float
    ) -> Finding:
        assert state.out_since is not None
        return Finding(
            resident_id=sample.resident_id,
            device_id=sample.device_id,
            kind=kind,
            severity=severity,
            channel=Channel.CLINICAL,
            started_at=state.out_since,
            detected_at=sample.ts,
            detector=self.name,
            detector_version=self.version,
            evidence={
                "metric": str(Metric.BED_PRESENCE),
                "out_of_bed_s": out,
                "limit_s": self.max_out_s if kind == "bed_exit_night" else self.no_return_s,
                "night_window_local": [self.night_start_hour, self.night_end_hour],
                "utc_offset_h": self.utc_offset_h,
                "window_start": state.out_since.isoformat(),
                "window_end": sample.ts.isoformat(),
                "source": "per-resident limit (NICE CG161 individualised falls plan)",
            },
        )
