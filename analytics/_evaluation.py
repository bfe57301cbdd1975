"""Evaluation harness: event-level scoring of findings against labelled episodes.

Scoring rules (ARCHITECTURE.md, "Measuring detection"):

- Findings become alerts as the alerts stage would: same kind on the same resident within
  `merge_s` (10 min) of the previous one merge into one alert (its first detection counts).
- A labelled episode is detected when an alert of a matching kind (`EPISODE_KINDS`) on its
  resident is detected in [onset, offset + grace]. Time to detect runs from the moment the
  clinical definition is met in the device data (`definition_met_at`) to that alert's detection.
- A positive episode with an empty `definition_met_at` was never observable (no device sample
  met its definition: a cuff that read before the pressure crossed and not again in the window, a
  silenced mattress). It is counted as `unobserved`, left out of recall and time to detect, and
  alerts during it are not false (the condition was there).
- An alert is true when it falls in [onset, offset + grace] of a positive (not hard-negative)
  episode on its resident whose type it matches; every other alert is false, including alerts
  during hard negatives, which are also reported per hard-negative type.
- False alerts per resident-day divide false alerts by the observed resident time (first to last
  reading per resident), split into day and night by local clock hour.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from analytics._bed_exit import is_night
from analytics._fault_scoring import (
    DataQualityReport,
    parse_ts,
    percentile,
    read_faults_csv,
    score_data_quality,
)
from analytics._types import Channel, Finding, ResidentSample
from eldercare.errors import ConfigError

# Labelled episode type -> finding kinds that detect it. Types not listed match the kind of the
# same name.
EPISODE_KINDS: dict[str, frozenset[str]] = {
    "tachycardia": frozenset({"tachycardia"}),
    "bradycardia": frozenset({"bradycardia"}),
    "tachypnea": frozenset({"tachypnea"}),
    "bradypnea": frozenset({"bradypnea", "apnea"}),
    "low_respiration": frozenset({"bradypnea", "apnea", "hypoxemia", "news2_aggregate"}),
    "apnea": frozenset({"apnea", "bradypnea"}),
    "apnea_cluster": frozenset({"apnea", "hypoxemia", "news2_aggregate"}),
    "hypoxemia": frozenset({"hypoxemia", "apnea"}),
    "desaturation": frozenset({"hypoxemia", "apnea"}),
    "hypertensive_crisis": frozenset({"hypertensive_crisis"}),
    "hypotension": frozenset({"hypotension"}),
    "bed_exit": frozenset({"bed_exit_night", "no_return_to_bed"}),
    "night_bed_exit": frozenset({"bed_exit_night", "no_return_to_bed"}),
    "bed_exit_night": frozenset({"bed_exit_night", "no_return_to_bed"}),
    "no_return_to_bed": frozenset({"no_return_to_bed"}),
    "immobility": frozenset({"turn_reminder"}),
    "deterioration": frozenset({"deterioration", "news2_aggregate"}),
    "sepsis_like": frozenset(
        {"deterioration", "news2_aggregate", "tachycardia", "tachypnea", "hypoxemia", "hypotension"}
    ),
    "gradual_deterioration": frozenset({"deterioration", "news2_aggregate"}),
    "device_silent": frozenset({"device_silent"}),
    "device_offline": frozenset({"device_silent"}),
    "network_gap": frozenset({"device_silent"}),
    "flatline": frozenset({"flatline"}),
    "stuck_value": frozenset({"flatline"}),
    "poor_signal": frozenset({"poor_signal"}),
    "probe_off": frozenset({"probe_off"}),
}
CRITICAL_TYPES = frozenset(
    {
        "tachycardia",
        "bradycardia",
        "tachypnea",
        "bradypnea",
        "low_respiration",
        "apnea",
        "apnea_cluster",
        "hypoxemia",
        "desaturation",
        "hypertensive_crisis",
        "hypotension",
        "no_return_to_bed",
    }
)
TARGETS = {
    "recall_critical": 0.95,
    "median_ttd_s": 90.0,
    "false_alerts_per_resident_day": 1.0,
    "bed_exit_precision": 0.70,
}
_BED_EXIT_TYPES = frozenset({"bed_exit", "night_bed_exit", "bed_exit_night"})


def kinds_for(episode_type: str) -> frozenset[str]:
    return EPISODE_KINDS.get(episode_type, frozenset({episode_type}))


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelledEpisode:
    episode_id: str
    type: str
    resident_id: str
    device_id: str
    onset: datetime
    offset: datetime
    definition_met_at: datetime | None
    hard_negative: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    resident_id: str
    kind: str
    channel: Channel
    detected_at: datetime
    last_at: datetime
    findings: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeScore:
    type: str
    critical: bool
    episodes: int
    detected: int
    alerts: int
    true_alerts: int
    ttd_s: tuple[float, ...]
    false_day: int
    false_night: int
    resident_days_day: float
    resident_days_night: float
    unobserved: int = 0

    @property
    def recall(self) -> float | None:
        return self.detected / self.episodes if self.episodes else None

    @property
    def precision(self) -> float | None:
        return self.true_alerts / self.alerts if self.alerts else None

    @property
    def median_ttd_s(self) -> float | None:
        return percentile(self.ttd_s, 50)

    @property
    def p90_ttd_s(self) -> float | None:
        return percentile(self.ttd_s, 90)

    @property
    def false_per_day(self) -> float | None:
        days = self.resident_days_day + self.resident_days_night
        return (self.false_day + self.false_night) / days if days else None


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluationReport:
    types: tuple[TypeScore, ...]
    hard_negatives: Mapping[str, tuple[int, int]]  # type -> (episodes, alerted)
    false_by_kind: Mapping[str, tuple[int, int]]  # kind -> (day, night) false alerts
    resident_days_day: float
    resident_days_night: float
    checks: Mapping[str, bool] = field(default_factory=dict)
    data_quality: DataQualityReport | None = None

    @property
    def false_alerts_per_resident_day(self) -> tuple[float | None, float | None, float | None]:
        """Clinical false alerts per resident-day: (all, day, night)."""
        day = sum(d for d, _ in self.false_by_kind.values())
        night = sum(n for _, n in self.false_by_kind.values())
        total_days = self.resident_days_day + self.resident_days_night
        return (
            (day + night) / total_days if total_days else None,
            day / self.resident_days_day if self.resident_days_day else None,
            night / self.resident_days_night if self.resident_days_night else None,
        )

    def format(self) -> str:
        def f(value: float | None, digits: int = 2) -> str:
            return "-" if value is None else f"{value:.{digits}f}"

        lines = [
            f"resident-days observed: {self.resident_days_day + self.resident_days_night:.2f} "
            f"(day {self.resident_days_day:.2f}, night {self.resident_days_night:.2f})",
            "",
            f"{'type':<22}{'crit':>5}{'eps':>5}{'det':>5}{'recall':>8}{'alerts':>8}"
            f"{'prec':>7}{'ttd p50 s':>11}{'ttd p90 s':>11}{'FA/day':>8}{'FA day':>8}"
            f"{'FA night':>9}{'unobs':>7}",
        ]
        for t in self.types:
            lines.append(
                f"{t.type:<22}{'yes' if t.critical else '':>5}{t.episodes:>5}{t.detected:>5}"
                f"{f(t.recall):>8}{t.alerts:>8}{f(t.precision):>7}{f(t.median_ttd_s, 0):>11}"
                f"{f(t.p90_ttd_s, 0):>11}{f(t.false_per_day):>8}{t.false_day:>8}"
                f"{t.false_night:>9}{t.unobserved:>7}"
            )
        if self.hard_negatives:
            lines += ["", "hard negatives (episodes, alerted):"]
            lines += [f"  {k}: {n}, {a}" for k, (n, a) in sorted(self.hard_negatives.items())]
        if self.false_by_kind:
            lines += ["", "false alerts by kind (day, night):"]
            lines += [f"  {k}: {d}, {n}" for k, (d, n) in sorted(self.false_by_kind.items())]
        total, day, night = self.false_alerts_per_resident_day
        lines += [
            "",
            f"clinical false alerts per resident-day: {f(total)} (day {f(day)}, night {f(night)})",
        ]
        lines += [
            f"target {name}: {'met' if ok else 'NOT met'}" for name, ok in self.checks.items()
        ]
        if self.data_quality is not None:
            lines += ["", self.data_quality.format()]
        return "\n".join(lines)


def read_labels_csv(path: Path) -> list[LabelledEpisode]:
    """Columns: episode_id, type, resident_id, device_id, onset, offset, definition_met_at,
    hard_negative (ISO 8601 with offset; definition_met_at empty for hard negatives)."""
    episodes = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        required = {"episode_id", "type", "resident_id", "onset", "offset", "hard_negative"}
        missing = required - set(reader.fieldnames or ())
        if missing:
            raise ConfigError(f"{path}: missing columns {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            met = row.get("definition_met_at") or ""
            flag = row["hard_negative"].strip().lower()
            if flag not in ("true", "false", "1", "0", "yes", "no"):
                raise ConfigError(f"{where}: hard_negative {row['hard_negative']!r}")
            episodes.append(
                LabelledEpisode(
                    episode_id=row["episode_id"],
                    type=row["type"],
                    resident_id=row["resident_id"],
                    device_id=row.get("device_id") or "",
                    onset=parse_ts(row["onset"], where),
                    offset=parse_ts(row["offset"], where),
                    definition_met_at=parse_ts(met, where) if met else None,
                    hard_negative=flag in ("true", "1", "yes"),
                )
            )
    return episodes


def merge_alerts(findings: Iterable[Finding], *, merge_s: float = 600.0) -> list[Alert]:
    """Same kind on the same resident within `merge_s` of the previous finding: one alert."""
    by_key: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for finding in findings:
        by_key[(finding.resident_id, finding.kind)].append(finding)
    alerts = []
    for (resident_id, kind), group in by_key.items():
        group.sort(key=lambda f: f.detected_at)
        runs = [[group[0]]]
        for finding in group[1:]:
            if (finding.detected_at - runs[-1][-1].detected_at).total_seconds() <= merge_s:
                runs[-1].append(finding)
            else:
                runs.append([finding])
        alerts += [
            Alert(
                resident_id=resident_id,
                kind=kind,
                channel=run[0].channel,
                detected_at=run[0].detected_at,
                last_at=run[-1].detected_at,
                findings=len(run),
            )
            for run in runs
        ]
    return alerts


def observed_spans(samples: Iterable[ResidentSample]) -> dict[str, tuple[datetime, datetime]]:
    spans: dict[str, tuple[datetime, datetime]] = {}
    for s in samples:
        span = spans.get(s.resident_id)
        spans[s.resident_id] = (
            (s.ts, s.ts) if span is None else (min(span[0], s.ts), max(span[1], s.ts))
        )
    return spans


def _split_days(
    spans: Mapping[str, tuple[datetime, datetime]], night: Mapping[str, float]
) -> tuple[float, float]:
    day_s = night_s = 0.0
    step = timedelta(minutes=1)
    for start, end in spans.values():
        t = start
        while t < end:
            chunk = min(step, end - t).total_seconds()
            if is_night(t, **night):  # type: ignore[arg-type]
                night_s += chunk
            else:
                day_s += chunk
            t += step
    return day_s / 86400, night_s / 86400


def score(
    findings: Iterable[Finding],
    episodes: Sequence[LabelledEpisode],
    *,
    spans: Mapping[str, tuple[datetime, datetime]],
    grace_s: float = 300.0,
    merge_s: float = 600.0,
    night_start_hour: float = 22.0,
    night_end_hour: float = 7.0,
    utc_offset_h: float = 0.0,
) -> EvaluationReport:
    night = {
        "start_hour": night_start_hour,
        "end_hour": night_end_hour,
        "utc_offset_h": utc_offset_h,
    }
    alerts = merge_alerts(findings, merge_s=merge_s)
    grace = timedelta(seconds=grace_s)
    # Every positive episode makes its alerts true; only observed ones are scored for recall.
    positives = [e for e in episodes if not e.hard_negative]
    observed = [e for e in positives if e.definition_met_at is not None]
    by_resident: dict[str, list[LabelledEpisode]] = defaultdict(list)
    for episode in positives:
        by_resident[episode.resident_id].append(episode)

    def true_alert(alert: Alert) -> bool:
        return any(
            alert.kind in kinds_for(e.type) and e.onset <= alert.detected_at <= e.offset + grace
            for e in by_resident.get(alert.resident_id, ())
        )

    truth = {id(a): true_alert(a) for a in alerts}
    day_days, night_days = _split_days(spans, night)
    types = sorted({e.type for e in positives})
    rows = []
    for episode_type in types:
        kinds = kinds_for(episode_type)
        wanted = [e for e in observed if e.type == episode_type]
        ttd = []
        for episode in wanted:
            hits = [
                a
                for a in alerts
                if a.resident_id == episode.resident_id
                and a.kind in kinds
                and episode.onset <= a.detected_at <= episode.offset + grace
            ]
            if hits and episode.definition_met_at is not None:
                first = min(a.detected_at for a in hits)
                ttd.append((first - episode.definition_met_at).total_seconds())
        typed = [a for a in alerts if a.kind in kinds]
        false = [a for a in typed if not truth[id(a)]]
        false_night = sum(1 for a in false if is_night(a.detected_at, **night))  # type: ignore[arg-type]
        rows.append(
            TypeScore(
                type=episode_type,
                critical=episode_type in CRITICAL_TYPES,
                episodes=len(wanted),
                detected=len(ttd),
                alerts=len(typed),
                true_alerts=len(typed) - len(false),
                ttd_s=tuple(ttd),
                false_day=len(false) - false_night,
                false_night=false_night,
                resident_days_day=day_days,
                resident_days_night=night_days,
                unobserved=sum(1 for e in positives if e.type == episode_type) - len(wanted),
            )
        )
    hard: dict[str, tuple[int, int]] = {}
    for episode in episodes:
        if not episode.hard_negative:
            continue
        alerted = any(
            a.resident_id == episode.resident_id
            and a.channel is Channel.CLINICAL
            and episode.onset <= a.detected_at <= episode.offset + grace
            and not truth[id(a)]
            for a in alerts
        )
        n, k = hard.get(episode.type, (0, 0))
        hard[episode.type] = (n + 1, k + int(alerted))
    false_by_kind: dict[str, tuple[int, int]] = {}
    for alert in alerts:
        if alert.channel is not Channel.CLINICAL or truth[id(alert)]:
            continue
        d, n = false_by_kind.get(alert.kind, (0, 0))
        if is_night(alert.detected_at, **night):  # type: ignore[arg-type]
            false_by_kind[alert.kind] = (d, n + 1)
        else:
            false_by_kind[alert.kind] = (d + 1, n)
    report = EvaluationReport(
        types=tuple(rows),
        hard_negatives=hard,
        false_by_kind=false_by_kind,
        resident_days_day=day_days,
        resident_days_night=night_days,
    )
    return replace(report, checks=_checks(report))


def _checks(report: EvaluationReport) -> dict[str, bool]:
    checks = {}
    critical = [t for t in report.types if t.critical and t.episodes]
    if critical:
        checks["recall >= 0.95 on critical types"] = all(
            (t.recall or 0.0) >= TARGETS["recall_critical"] for t in critical
        )
        ttd = [v for t in critical for v in t.ttd_s]
        median = percentile(ttd, 50)
        checks["median time-to-detect <= 90 s (critical types)"] = (
            median is not None and median <= TARGETS["median_ttd_s"]
        )
    total, _, _ = report.false_alerts_per_resident_day
    if total is not None:
        checks["<= 1 clinical false alert per resident-day"] = (
            total <= TARGETS["false_alerts_per_resident_day"]
        )
    exits = [t for t in report.types if t.type in _BED_EXIT_TYPES and t.alerts]
    if exits:
        checks["bed-exit precision >= 0.70"] = all(
            (t.precision or 0.0) >= TARGETS["bed_exit_precision"] for t in exits
        )
    return checks


def evaluate_csv(readings: Path, labels: Path, faults: Path | None = None) -> EvaluationReport:
    """Run the default detectors over a readings CSV (batch) and score them against labels, and
    the data-quality findings against injected faults when a faults CSV is given."""
    from analytics._batch import read_readings_csv, run_batch

    samples = read_readings_csv(readings)
    episodes = read_labels_csv(labels)
    findings = run_batch(samples)
    spans = observed_spans(samples)
    report = score(findings, episodes, spans=spans)
    if faults is None:
        return report
    quality = score_data_quality(findings, read_faults_csv(faults), samples=samples, spans=spans)
    return replace(report, data_quality=quality)
