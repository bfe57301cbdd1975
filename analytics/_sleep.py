"""Nightly sleep summary from the mattress (and pillow): pure computation over one night."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, time, timedelta, timezone
from statistics import median
from typing import Any

from analytics._types import ResidentSample
from devices import Metric, SleepState

EPOCH_S = 30  # the AASM scoring epoch, also the mattress's sleep-state report interval

# Compared with the resident's own recent nights.
COMPARED = (
    "time_in_bed_s",
    "total_sleep_s",
    "sleep_efficiency",
    "sleep_latency_s",
    "awakenings",
    "bed_exits",
    "hr_asleep_mean",
    "rr_asleep_mean",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SleepSummary:
    """One resident's night. Durations in seconds; rates per minute; None when not measurable.

    Sleep onset is the first epoch scored as sleep and wake time the end of the last one
    (AASM definitions); efficiency is total sleep / time in bed; an awakening is a run of wake
    or out-of-bed epochs of at least `min_awakening_s` between onset and wake time.
    """

    resident_id: str
    night: date
    window_start: datetime
    window_end: datetime
    time_in_bed_s: float
    bed_entry: datetime | None
    sleep_onset: datetime | None
    wake_time: datetime | None
    final_exit: datetime | None
    total_sleep_s: float
    sleep_efficiency: float | None
    sleep_latency_s: float | None
    awakenings: int
    bed_exits: int
    hr_asleep_mean: float | None
    rr_asleep_mean: float | None
    sleep_source: str  # "sleep_state" (device staging) or "movement" (fallback) or "none"
    coverage: float  # share of the window's epochs with presence data
    compared_with: Mapping[str, Mapping[str, float | int | None]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime | date):
                out[key] = value.isoformat()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SleepSummary:
        values = dict(data)
        for f in fields(cls):
            value = values.get(f.name)
            if value is None:
                continue
            if f.name == "night":
                values[f.name] = date.fromisoformat(value)
            elif f.type == "datetime" or f.type == "datetime | None":
                values[f.name] = datetime.fromisoformat(value)
        return cls(**values)


def night_window(
    night: date, *, utc_offset_h: float = 0.0, start_hour: int = 20, end_hour: int = 10
) -> tuple[datetime, datetime]:
    """The night starting on `night` (local date): `start_hour` that day to `end_hour` next day."""
    tz = timezone(timedelta(hours=utc_offset_h))
    start = datetime.combine(night, time(start_hour), tzinfo=tz)
    end = datetime.combine(night + timedelta(days=1), time(end_hour), tzinfo=tz)
    return start, end


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def sleep_summary(
    samples: Iterable[ResidentSample],
    *,
    resident_id: str,
    night: date,
    utc_offset_h: float = 0.0,
    start_hour: int = 20,
    end_hour: int = 10,
    min_awakening_s: float = 60.0,
    still_movement: float = 0.15,
) -> SleepSummary:
    """Summarise one night from the resident's samples (any order; others are ignored).

    References
    ----------
    Berry RB et al. The AASM Manual for the Scoring of Sleep and Associated Events, v2.6, 2020
    (30 s epochs; sleep onset = first epoch of any sleep stage; sleep efficiency = TST / TIB).
    Ohayon M et al. National Sleep Foundation's sleep quality recommendations. Sleep Health
    2017;3:6-19 (efficiency >= 85 % and <= 1 awakening > 5 min as good quality in older adults).
    """
    start, end = night_window(
        night, utc_offset_h=utc_offset_h, start_hour=start_hour, end_hour=end_hour
    )
    n = int((end - start).total_seconds() // EPOCH_S)
    presence: list[list[float]] = [[] for _ in range(n)]
    stage: list[float | None] = [None] * n
    movement: list[list[float]] = [[] for _ in range(n)]
    hr: list[list[float]] = [[] for _ in range(n)]
    rr: list[list[float]] = [[] for _ in range(n)]
    for s in samples:
        if s.resident_id != resident_id or not start <= s.ts < end:
            continue
        i = int((s.ts - start).total_seconds() // EPOCH_S)
        if s.metric is Metric.BED_PRESENCE:
            presence[i].append(s.value)
        elif s.metric is Metric.SLEEP_STATE:
            stage[i] = s.value
        elif s.metric is Metric.MOVEMENT:
            movement[i].append(s.value)
        elif s.metric is Metric.HEART_RATE:
            hr[i].append(s.value)
        elif s.metric is Metric.RESPIRATION_RATE:
            rr[i].append(s.value)
    in_bed = [bool(p) and sum(p) / len(p) >= 0.5 for p in presence]
    has_stage = any(v is not None for v in stage)
    asleep = []
    last_stage: float | None = None
    for i in range(n):
        if stage[i] is not None:
            last_stage = stage[i]
        if not in_bed[i]:
            asleep.append(False)
        elif has_stage:
            # The stage is reported every 30 s; carry it over an epoch that lacks one.
            asleep.append(last_stage is not None and last_stage != SleepState.AWAKE)
        else:
            asleep.append(bool(movement[i]) and max(movement[i]) < still_movement)
    source = "sleep_state" if has_stage else ("movement" if any(movement) else "none")
    if source == "none":
        asleep = [False] * n

    def at(i: int) -> datetime:
        return start + timedelta(seconds=i * EPOCH_S)

    bed_epochs = [i for i in range(n) if in_bed[i]]
    sleep_epochs = [i for i in range(n) if asleep[i]]
    onset_i = sleep_epochs[0] if sleep_epochs else None
    wake_i = sleep_epochs[-1] + 1 if sleep_epochs else None
    awakenings = 0
    if onset_i is not None and wake_i is not None:
        run = 0
        for i in range(onset_i, wake_i + 1):
            if i < wake_i and not asleep[i]:
                run += 1
                continue
            if run * EPOCH_S >= min_awakening_s:
                awakenings += 1
            run = 0
    bed_exits = 0
    final_exit = None
    if bed_epochs:
        # Exits the resident came back from; the final morning rise is `final_exit`.
        for i in range(bed_epochs[0] + 1, bed_epochs[-1] + 1):
            if not in_bed[i] and in_bed[i - 1]:
                bed_exits += 1
        final_exit = at(bed_epochs[-1] + 1)
    tib = len(bed_epochs) * EPOCH_S
    tst = len(sleep_epochs) * EPOCH_S
    bed_entry = at(bed_epochs[0]) if bed_epochs else None
    return SleepSummary(
        resident_id=resident_id,
        night=night,
        window_start=start,
        window_end=end,
        time_in_bed_s=float(tib),
        bed_entry=bed_entry,
        sleep_onset=at(onset_i) if onset_i is not None else None,
        wake_time=at(wake_i) if wake_i is not None else None,
        final_exit=final_exit,
        total_sleep_s=float(tst),
        sleep_efficiency=round(tst / tib, 3) if tib else None,
        sleep_latency_s=(
            (at(onset_i) - bed_entry).total_seconds()
            if onset_i is not None and bed_entry is not None
            else None
        ),
        awakenings=awakenings,
        bed_exits=bed_exits,
        hr_asleep_mean=_mean([v for i in sleep_epochs for v in hr[i]]),
        rr_asleep_mean=_mean([v for i in sleep_epochs for v in rr[i]]),
        sleep_source=source,
        coverage=round(sum(1 for p in presence if p) / n, 3) if n else 0.0,
    )


def compare_with_recent(summary: SleepSummary, recent: Sequence[SleepSummary]) -> SleepSummary:
    """`summary` with each compared figure set against the median of the resident's recent
    nights (value, median, delta, nights); fields without history are left out."""
    compared: dict[str, dict[str, float | int | None]] = {}
    for name in COMPARED:
        value = getattr(summary, name)
        history = [getattr(s, name) for s in recent if getattr(s, name) is not None]
        if value is None or not history:
            continue
        typical = float(median(history))
        compared[name] = {
            "value": value,
            "median": round(typical, 3),
            "delta": round(value - typical, 3),
            "nights": len(history),
        }
    values = {f.name: getattr(summary, f.name) for f in fields(summary)}
    values["compared_with"] = compared
    return SleepSummary(**values)
