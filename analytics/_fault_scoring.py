"""Scoring of the data-quality channel against injected device faults (pure).

Data-quality findings (device silent, flatline, poor signal, probe off) go to technicians, never
to clinical paging, so they are scored on their own, against the simulator's faults file
(`type,device_id,start,end,detail,observed_start,observed_end`):

- Each fault type maps to the finding kind that reports it (`FAULT_KINDS`); other fault types
  (clock skew, low battery) have no data-quality detector and are listed as not scored.
- A fault is *in scope* when the samples it changed (`observed_start` to `observed_end`; the
  whole window when a file lacks them) meet the condition's definition: the technical alarm
  conditions the detectors implement (`DEFINITIONS`). A device is silent once it has missed
  max(300 s, 3 report intervals) (the availability rule), so a cuff silenced between two hourly
  readings is no silence; a flatline is a vital exactly unchanged for 300 s on a device that
  reports it at least every minute (identical cuff readings an hour apart are physiology, not a
  fault); poor signal is quality < 0.5 for 600 s in bed; probe off is 120 s. Shorter faults are
  counted as out of scope, not as misses.
- Findings merge per device and kind within `merge_s` (as clinical alerts do per resident). A
  fault is detected when an alert of its kind on its device is detected in
  [observed_start, end + grace]. Time to detect is reported from the moment the definition is met
  (observed_start + definition) and from the fault's first changed sample.
- An alert is true when it falls in such a window of a fault of its kind on its device (in scope
  or not); every other data-quality alert is false, reported per resident-day.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from analytics._data_quality import EXPECTED_INTERVAL_S
from analytics._types import Channel, Finding, ResidentSample
from eldercare.errors import ConfigError

# Fault type (simulators.FaultType) -> the data-quality finding kind that reports it.
FAULT_KINDS: dict[str, str] = {
    "silence": "device_silent",
    "stuck_value": "flatline",
    "poor_signal": "poor_signal",
    "probe_off": "probe_off",
}
# Definitions (seconds of changed samples) of each data-quality condition: the technical alarm
# conditions of `DeviceSilence` and `SignalProblems` (availability rule; ISO 80601-2-61 and
# IEC 60601-1-8 technical alarm conditions, durations as the project defines them).
SILENCE_MIN_S = 300.0
SILENCE_INTERVALS = 3.0
FLATLINE_S = 300.0
FLATLINE_MAX_INTERVAL_S = 60.0
DEFINITIONS: dict[str, float] = {
    "device_silent": SILENCE_MIN_S,
    "flatline": FLATLINE_S,
    "poor_signal": 600.0,
    "probe_off": 120.0,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultWindow:
    """One row of the faults file."""

    type: str
    device_id: str
    start: datetime
    end: datetime
    observed_start: datetime | None
    observed_end: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DataQualityScore:
    kind: str
    faults: int  # injected faults of this kind (in scope or not)
    in_scope: int
    detected: int
    alerts: int
    true_alerts: int
    ttd_s: tuple[float, ...]  # from the moment the definition was met
    ttd_from_start_s: tuple[float, ...]  # from the fault's first changed sample

    @property
    def recall(self) -> float | None:
        return self.detected / self.in_scope if self.in_scope else None

    @property
    def precision(self) -> float | None:
        return self.true_alerts / self.alerts if self.alerts else None


@dataclass(frozen=True, slots=True, kw_only=True)
class DataQualityReport:
    kinds: tuple[DataQualityScore, ...]
    not_scored: Mapping[str, int]  # fault type without a detector -> faults
    resident_days: float

    def format(self) -> str:
        def f(value: float | None, digits: int = 2) -> str:
            return "-" if value is None else f"{value:.{digits}f}"

        lines = [
            "data quality (technician channel, not clinical alerts):",
            f"{'kind':<16}{'faults':>7}{'scope':>7}{'det':>5}{'recall':>8}{'alerts':>8}"
            f"{'prec':>7}{'ttd p50 s':>11}{'ttd p90 s':>11}{'from start p50':>16}{'FA/day':>8}",
        ]
        for k in self.kinds:
            false = k.alerts - k.true_alerts
            per_day = false / self.resident_days if self.resident_days else None
            lines.append(
                f"{k.kind:<16}{k.faults:>7}{k.in_scope:>7}{k.detected:>5}{f(k.recall):>8}"
                f"{k.alerts:>8}{f(k.precision):>7}{f(percentile(k.ttd_s, 50), 0):>11}"
                f"{f(percentile(k.ttd_s, 90), 0):>11}"
                f"{f(percentile(k.ttd_from_start_s, 50), 0):>16}{f(per_day):>8}"
            )
        if self.not_scored:
            lines.append(
                "not scored (no data-quality detector): "
                + ", ".join(f"{k} {n}" for k, n in sorted(self.not_scored.items()))
            )
        return "\n".join(lines)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def parse_ts(value: str, where: str) -> datetime:
    """An ISO 8601 time with a UTC offset from a CSV cell; `where` names the cell in errors."""
    try:
        ts = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {value!r} is not ISO 8601") from exc
    if ts.tzinfo is None:
        raise ConfigError(f"{where}: {value!r} needs a UTC offset")
    return ts


def read_faults_csv(path: Path) -> list[FaultWindow]:
    """Columns: type, device_id, start, end (ISO 8601 with offset); optional observed_start,
    observed_end (empty: the fault changed nothing a device sent)."""
    faults = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        missing = {"type", "device_id", "start", "end"} - columns
        if missing:
            raise ConfigError(f"{path}: missing columns {', '.join(sorted(missing))}")
        has_observed = {"observed_start", "observed_end"} <= columns
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            start, end = parse_ts(row["start"], where), parse_ts(row["end"], where)
            if has_observed:
                first, last = row["observed_start"], row["observed_end"]
                observed = (
                    (parse_ts(first, where), parse_ts(last, where)) if first and last else None
                )
            else:
                observed = (start, end)
            faults.append(
                FaultWindow(
                    type=row["type"],
                    device_id=row["device_id"],
                    start=start,
                    end=end,
                    observed_start=observed[0] if observed else None,
                    observed_end=observed[1] if observed else None,
                )
            )
    return faults


def device_intervals(samples: Iterable[ResidentSample]) -> dict[str, float]:
    """Per device, its expected report interval: the slowest catalogue interval among the metrics
    it sent (the availability rule `DeviceSilence` uses)."""
    intervals: dict[str, float] = {}
    for s in samples:
        interval = EXPECTED_INTERVAL_S.get(s.metric, 1.0)
        if interval > intervals.get(s.device_id, 0.0):
            intervals[s.device_id] = interval
    return intervals


def definition_s(fault: FaultWindow, interval_s: float) -> float | None:
    """Seconds of changed samples that meet the fault's data-quality definition; None when no
    duration can (a flatline on an intermittent device)."""
    kind = FAULT_KINDS[fault.type]
    if kind == "device_silent":
        return max(SILENCE_MIN_S, SILENCE_INTERVALS * interval_s)
    if kind == "flatline" and interval_s > FLATLINE_MAX_INTERVAL_S:
        return None
    return DEFINITIONS[kind]


@dataclass(frozen=True, slots=True)
class _Alert:
    device_id: str
    kind: str
    detected_at: datetime


def _merge(findings: Iterable[Finding], merge_s: float) -> list[_Alert]:
    by_key: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for f in findings:
        if f.channel is Channel.DATA_QUALITY:
            by_key[(f.device_id, f.kind)].append(f.detected_at)
    alerts = []
    for (device_id, kind), times in by_key.items():
        times.sort()
        last: datetime | None = None
        for ts in times:
            if last is None or (ts - last).total_seconds() > merge_s:
                alerts.append(_Alert(device_id, kind, ts))
            last = ts
    return alerts


def score_data_quality(
    findings: Iterable[Finding],
    faults: Sequence[FaultWindow],
    *,
    samples: Iterable[ResidentSample],
    spans: Mapping[str, tuple[datetime, datetime]],
    grace_s: float = 300.0,
    merge_s: float = 600.0,
) -> DataQualityReport:
    intervals = device_intervals(samples)
    alerts = _merge(findings, merge_s)
    grace = timedelta(seconds=grace_s)
    scored = [f for f in faults if f.type in FAULT_KINDS]
    not_scored: dict[str, int] = defaultdict(int)
    for fault in faults:
        if fault.type not in FAULT_KINDS:
            not_scored[fault.type] += 1

    def window(fault: FaultWindow) -> tuple[datetime, datetime]:
        return (fault.observed_start or fault.start, fault.end + grace)

    def hits(fault: FaultWindow) -> list[_Alert]:
        begin, end = window(fault)
        kind = FAULT_KINDS[fault.type]
        return [
            a
            for a in alerts
            if a.device_id == fault.device_id and a.kind == kind and begin <= a.detected_at <= end
        ]

    true_ids = {id(a) for fault in scored for a in hits(fault)}
    rows = []
    for kind in sorted(set(FAULT_KINDS.values())):
        of_kind = [f for f in scored if FAULT_KINDS[f.type] == kind]
        in_scope, ttd, from_start = 0, [], []
        for fault in of_kind:
            if fault.observed_start is None or fault.observed_end is None:
                continue
            needed = definition_s(fault, intervals.get(fault.device_id, 1.0))
            changed = (fault.observed_end - fault.observed_start).total_seconds()
            if needed is None or changed < needed:
                continue
            in_scope += 1
            found = hits(fault)
            if found:
                first = min(a.detected_at for a in found)
                met = fault.observed_start + timedelta(seconds=needed)
                ttd.append((first - met).total_seconds())
                from_start.append((first - fault.observed_start).total_seconds())
        typed = [a for a in alerts if a.kind == kind]
        rows.append(
            DataQualityScore(
                kind=kind,
                faults=len(of_kind),
                in_scope=in_scope,
                detected=len(ttd),
                alerts=len(typed),
                true_alerts=sum(1 for a in typed if id(a) in true_ids),
                ttd_s=tuple(ttd),
                ttd_from_start_s=tuple(from_start),
            )
        )
    days = sum((end - start).total_seconds() for start, end in spans.values()) / 86400
    return DataQualityReport(kinds=tuple(rows), not_scored=dict(not_scored), resident_days=days)
