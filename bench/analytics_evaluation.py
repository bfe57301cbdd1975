"""Evaluation of the detectors on simulated scenarios (several seeds, hard negatives included).

    python bench/analytics_evaluation.py [--seeds 1 2 3 4 5] [--residents 4] [--days 2]
        [--episodes-per-day 6] [--faults realistic] [--tier own|low|medium|high]
        [--set DETECTOR.PARAMETER=VALUE ...] [--workers 2]

Each seed builds a scenario in process with `simulators.build_scenario` (no MQTT), with device
faults (`realistic` by default: packet loss, silences, stuck values, probe off, poor signal...),
turns its messages into samples, runs the batch runner (`analytics.run_batch`) with each
resident's detectors for their risk tier (`analytics.detectors_for`, as the streaming service
does; `--tier` forces one tier for all) and scores the findings against the scenario's labels
with `analytics.score` (the same rules as `eldercare evaluate`), and the data-quality findings
against the injected faults (`analytics.score_data_quality`, as `eldercare evaluate --faults`).
Resident and device ids are prefixed with the seed so the seeds pool into one report.
`--set heart_rate_sustained.min_duration_s=120` sets a parameter for every resident (as a
clinician override would), to show the trade-off of a different setting.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from analytics import (
    Detector,
    FaultWindow,
    Finding,
    LabelledEpisode,
    ResidentSample,
    detectors_for,
    observed_spans,
    run_batch,
    score,
    score_data_quality,
)
from devices import Stream
from simulators import FaultRates, ScenarioConfig, build_scenario


@dataclass(frozen=True, slots=True)
class SeedResult:
    seed: int
    samples: int
    findings: list[Finding]
    episodes: list[LabelledEpisode]
    faults: list[FaultWindow]
    spans: dict[str, tuple[datetime, datetime]]
    tiers: dict[str, str]  # resident -> risk tier used
    intervals_samples: list[ResidentSample]  # one sample per device and metric (intervals)
    seconds: float


def _run_seed(
    seed: int,
    residents: int,
    days: float,
    rate: float,
    faults: str,
    tier: str,
    overrides: dict[str, float],
) -> SeedResult:
    started = time.perf_counter()
    config = ScenarioConfig(
        start=datetime(2026, 11, 20, 12, tzinfo=UTC),
        duration_s=days * 86400,
        seed=seed,
        residents=residents,
        episodes_per_day=rate,
        faults=FaultRates.parse(faults),
    )
    scenario = build_scenario(config)
    prefix = f"s{seed}-"
    samples = [
        ResidentSample(
            ts=sample.device_ts,
            resident_id=prefix + message.resident_id,
            device_id=prefix + message.device_id,
            metric=metric,
            value=value,
        )
        for message in scenario.messages
        if message.stream is not Stream.STATUS
        for sample in message.samples
        for metric, value in sample.values
    ]
    tiers = {
        prefix + r.profile.resident_id: (str(r.profile.risk_tier) if tier == "own" else tier)
        for r in scenario.residents
    }
    profiles: dict[str, Sequence[Detector]] = {
        resident: detectors_for(resident_tier, overrides)
        for resident, resident_tier in tiers.items()
    }
    findings = run_batch(samples, detectors=detectors_for("medium"), profiles=profiles)
    episodes = [
        LabelledEpisode(
            episode_id=prefix + label.episode_id,
            type=str(label.type),
            resident_id=prefix + label.resident_id,
            device_id=prefix + label.device_id,
            onset=label.onset,
            offset=label.offset,
            definition_met_at=label.definition_met_at,
            hard_negative=label.hard_negative,
        )
        for label in scenario.labels
    ]
    windows = [
        FaultWindow(
            type=str(fault.type),
            device_id=prefix + fault.device_id,
            start=fault.start,
            end=fault.end,
            observed_start=fault.observed_start,
            observed_end=fault.observed_end,
        )
        for fault in scenario.faults
    ]
    seen: dict[tuple[str, str], ResidentSample] = {}
    for s in samples:
        seen.setdefault((s.device_id, s.metric), s)
    return SeedResult(
        seed=seed,
        samples=len(samples),
        findings=findings,
        episodes=episodes,
        faults=windows,
        spans=observed_spans(samples),
        tiers=tiers,
        intervals_samples=list(seen.values()),
        seconds=time.perf_counter() - started,
    )


def _by_tier(
    findings: list[Finding],
    episodes: list[LabelledEpisode],
    spans: dict[str, tuple[datetime, datetime]],
    tiers: dict[str, str],
) -> list[str]:
    """Median time to detect per critical type, per risk tier."""
    lines = []
    for tier in ("low", "medium", "high"):
        residents = {r for r, t in tiers.items() if t == tier}
        if not residents:
            continue
        report = score(
            [f for f in findings if f.resident_id in residents],
            [e for e in episodes if e.resident_id in residents],
            spans={r: s for r, s in spans.items() if r in residents},
        )
        cells = [
            f"{t.type} {t.median_ttd_s:.0f} s (n={len(t.ttd_s)})"
            for t in report.types
            if t.critical and t.median_ttd_s is not None
        ]
        total, day, night = report.false_alerts_per_resident_day
        kinds = ", ".join(f"{k} {d}+{n}" for k, (d, n) in sorted(report.false_by_kind.items()))
        lines.append(
            f"  {tier} ({len(residents)} residents): {', '.join(cells)}; false alerts/resident-day "
            f"{total or 0:.2f} (day {day or 0:.2f}, night {night or 0:.2f}; by kind day+night: "
            f"{kinds or 'none'})"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--residents", type=int, default=4)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--episodes-per-day", type=float, default=6.0)
    parser.add_argument("--faults", default="realistic", help="none, realistic or NAME=RATE,...")
    parser.add_argument("--tier", choices=("own", "low", "medium", "high"), default="own")
    parser.add_argument("--set", action="append", default=[], metavar="DETECTOR.PARAMETER=VALUE")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = float(value)
    started = time.perf_counter()
    jobs = [
        (
            seed,
            args.residents,
            args.days,
            args.episodes_per_day,
            args.faults,
            args.tier,
            overrides,
        )
        for seed in args.seeds
    ]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(_run_seed, *zip(*jobs, strict=True)))
    findings = [f for r in results for f in r.findings]
    episodes = [e for r in results for e in r.episodes]
    faults = [f for r in results for f in r.faults]
    spans = {k: v for r in results for k, v in r.spans.items()}
    tiers = {k: v for r in results for k, v in r.tiers.items()}
    for r in results:
        print(
            f"seed {r.seed}: {r.samples:,} samples, {len(r.episodes)} labels, "
            f"{len(r.faults)} fault windows ({r.seconds:.0f} s)"
        )
    report = score(findings, episodes, spans=spans)
    quality = score_data_quality(
        findings,
        faults,
        samples=[s for r in results for s in r.intervals_samples],
        spans=spans,
    )
    counts = {t: sum(1 for v in tiers.values() if v == t) for t in ("low", "medium", "high")}
    print(
        f"\nseeds {args.seeds}, {args.residents} residents x {args.days:g} days each, "
        f"{args.episodes_per_day:g} episodes/resident-day, faults {args.faults}, tier "
        f"{args.tier} {counts}, overrides {overrides or 'none'} "
        f"({time.perf_counter() - started:.0f} s wall, {args.workers} workers)\n"
    )
    print(report.format())
    print()
    print(quality.format())
    print("\nper critical type median time-to-detect (s), all tiers:")
    for t in report.types:
        if t.critical:
            print(f"  {t.type}: {t.median_ttd_s} (p90 {t.p90_ttd_s}, n={len(t.ttd_s)})")
    print("\nby risk tier:")
    for line in _by_tier(findings, episodes, spans, tiers):
        print(line)


if __name__ == "__main__":
    main()
