"""Evaluation of the detectors on simulated scenarios (several seeds, hard negatives included).

    python bench/analytics_evaluation.py [--seeds 1 2 3] [--residents 4] [--days 2]
        [--episodes-per-day 6] [--variant default|hr60]

Each seed builds a scenario in process with `simulators.build_scenario` (no MQTT), turns its
messages into samples, runs the batch runner (`analytics.run_batch`) and scores the findings
against the scenario's labels with `analytics.score` (the same rules as `eldercare evaluate`).
Resident ids are prefixed with the seed so the seeds pool into one report. `--variant hr60` runs
`SustainedHeartRate(min_duration_s=60)` instead of the default 120 s, to show the trade-off.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from analytics import (
    LabelledEpisode,
    ResidentSample,
    SustainedHeartRate,
    default_detectors,
    observed_spans,
    run_batch,
    score,
)
from devices import Stream
from simulators import ScenarioConfig, build_scenario


def scenario_data(
    seed: int, residents: int, days: float, rate: float
) -> tuple[list[ResidentSample], list[LabelledEpisode]]:
    config = ScenarioConfig(
        start=datetime(2026, 11, 20, 12, tzinfo=UTC),
        duration_s=days * 86400,
        seed=seed,
        residents=residents,
        episodes_per_day=rate,
    )
    scenario = build_scenario(config)
    samples = []
    for message in scenario.messages:
        if message.stream is Stream.STATUS:
            continue
        resident = f"s{seed}-{message.resident_id}"
        for sample in message.samples:
            for metric, value in sample.values:
                samples.append(
                    ResidentSample(
                        ts=sample.device_ts,
                        resident_id=resident,
                        device_id=f"s{seed}-{message.device_id}",
                        metric=metric,
                        value=value,
                    )
                )
    episodes = [
        LabelledEpisode(
            episode_id=f"s{seed}-{label.episode_id}",
            type=str(label.type),
            resident_id=f"s{seed}-{label.resident_id}",
            device_id=label.device_id,
            onset=label.onset,
            offset=label.offset,
            definition_met_at=label.definition_met_at,
            hard_negative=label.hard_negative,
        )
        for label in scenario.labels
    ]
    return samples, episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--residents", type=int, default=4)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--episodes-per-day", type=float, default=6.0)
    parser.add_argument("--variant", choices=("default", "hr60"), default="default")
    args = parser.parse_args()
    detectors = default_detectors()
    if args.variant == "hr60":
        detectors = tuple(
            SustainedHeartRate(min_duration_s=60.0) if d.name == "heart_rate_sustained" else d
            for d in detectors
        )
    findings, episodes, spans = [], [], {}
    started = time.perf_counter()
    for seed in args.seeds:
        samples, labelled = scenario_data(seed, args.residents, args.days, args.episodes_per_day)
        findings += run_batch(samples, detectors=detectors)
        episodes += labelled
        spans.update(observed_spans(samples))
        print(f"seed {seed}: {len(samples):,} samples, {len(labelled)} labels", flush=True)
    report = score(findings, episodes, spans=spans)
    print(
        f"\nseeds {args.seeds}, {args.residents} residents x {args.days:g} days each, "
        f"{args.episodes_per_day:g} episodes/resident-day, variant {args.variant} "
        f"({time.perf_counter() - started:.0f} s)\n"
    )
    print(report.format())
    critical = [t for t in report.types if t.critical]
    print("\nper critical type median time-to-detect (s):")
    for t in critical:
        print(f"  {t.type}: {t.median_ttd_s}")


if __name__ == "__main__":
    main()
