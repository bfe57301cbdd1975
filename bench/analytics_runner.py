"""Benchmark: the streaming runner (`analytics.StreamRunner`), samples/s and memory per resident.

    python bench/analytics_runner.py [--residents 10000] [--seconds 30] [--reorder-s 15]

Setup (not timed): N residents, each with one smart mattress sending 5 metrics at 1 Hz (heart
rate, respiration rate, bed presence, movement, signal quality), plus a sleep state every 30 s:
about 5 samples per resident-second, built in memory as `ResidentSample`s, one list per second of
device time, with realistic noise and a few residents in a tachycardia episode.

What is timed: `runner.feed(samples_of_one_second)` for every second, as the streaming service
feeds a poll. Three runners over the same data, in the same process:

1. baseline: the runner with one no-op detector (the cost of the reorder buffer, ordering and
   dispatch alone);
2. heart rate only (the pre-existing single-detector slice);
3. every default detector (what `eldercare detect` runs).

The target is 10,000 residents at 1 Hz on one core: each runner must sustain
`residents x samples per resident-second` samples/s, i.e. finish a second of data in < 1 s.

Memory per resident: `tracemalloc` difference after warm-up (full reorder buffer, detector state
for every resident), divided by N, measured in a separate run so tracing does not slow the timing.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from analytics import (
    Detector,
    Finding,
    ResidentSample,
    StreamRunner,
    SustainedHeartRate,
    default_detectors,
)
from devices import Metric, SleepState

START = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


@dataclass
class NoOp:
    name: str = "noop"
    version: str = "1"
    metrics: frozenset[Metric] = frozenset(Metric)

    def new_state(self) -> None:
        return None

    def update(self, state: Any, sample: ResidentSample) -> Finding | None:
        return None


def make_seconds(residents: int, seconds: int, seed: int = 1) -> list[list[ResidentSample]]:
    rng = np.random.default_rng(seed)
    base_hr = rng.normal(68, 6, residents)
    base_rr = rng.normal(15, 1.5, residents)
    ids = [f"r{i:05d}" for i in range(residents)]
    devices = [f"mat{i:05d}" for i in range(residents)]
    episode = rng.random(residents) < 0.01  # 1 % of residents in tachycardia
    out = []
    for second in range(seconds):
        ts = START + timedelta(seconds=second)
        hr = np.round(np.where(episode, 142.0, base_hr) + rng.normal(0, 2, residents), 1)
        rr = np.round(base_rr + rng.normal(0, 0.7, residents), 1)
        mv = np.round(np.abs(rng.normal(0.05, 0.03, residents)), 3)
        sq = np.round(np.clip(rng.normal(0.9, 0.04, residents), 0, 1), 2)
        batch = []
        for i in range(residents):
            r, d = ids[i], devices[i]
            batch += [
                ResidentSample(ts, r, d, Metric.HEART_RATE, float(hr[i])),
                ResidentSample(ts, r, d, Metric.RESPIRATION_RATE, float(rr[i])),
                ResidentSample(ts, r, d, Metric.BED_PRESENCE, 1.0),
                ResidentSample(ts, r, d, Metric.MOVEMENT, float(mv[i])),
                ResidentSample(ts, r, d, Metric.SIGNAL_QUALITY, float(sq[i])),
            ]
            if second % 30 == 0:
                batch.append(ResidentSample(ts, r, d, Metric.SLEEP_STATE, float(SleepState.LIGHT)))
        out.append(batch)
    return out


def timed(detectors: Sequence[Detector], seconds: list[list[ResidentSample]], reorder_s: float):
    runner = StreamRunner(detectors, reorder_s=reorder_s)
    per_second = []
    findings = 0
    gc.collect()
    for batch in seconds:
        t0 = time.perf_counter()
        findings += len(runner.feed(batch))
        per_second.append(time.perf_counter() - t0)
    return per_second, findings


def memory_per_resident(
    detectors: Sequence[Detector],
    seconds: list[list[ResidentSample]],
    residents: int,
    reorder_s: float,
) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    runner = StreamRunner(detectors, reorder_s=reorder_s)
    for batch in seconds:
        runner.feed(batch)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # The sample objects themselves belong to the input lists, not to the runner, except those
    # held in the reorder buffer, which are counted since they are kept alive by it.
    del runner
    return grown / residents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--reorder-s", type=float, default=15.0)
    args = parser.parse_args()
    print(f"building {args.residents:,} residents x {args.seconds} s ...", flush=True)
    seconds = make_seconds(args.residents, args.seconds)
    total = sum(len(b) for b in seconds)
    per_res_s = total / args.residents / args.seconds
    print(f"{total:,} samples ({per_res_s:.2f} per resident-second)\n")
    runs = {
        "baseline: no-op detector": [NoOp()],
        "heart rate only": [SustainedHeartRate()],
        "all default detectors": list(default_detectors()),
    }
    print(
        f"{'runner':<28}{'samples/s':>12}{'p50 s/sec':>11}{'max s/sec':>11}"
        f"{'residents @1Hz':>16}{'findings':>10}"
    )
    for label, detectors in runs.items():
        per_second, findings = timed(detectors, seconds, args.reorder_s)
        busy = sum(per_second)
        rate = total / busy
        print(
            f"{label:<28}{rate:>12,.0f}{float(np.median(per_second)):>11.3f}"
            f"{max(per_second):>11.3f}{rate / per_res_s:>16,.0f}{findings:>10}",
            flush=True,
        )
    print()
    for label, detectors in runs.items():
        kib = memory_per_resident(detectors, seconds, args.residents, args.reorder_s) / 1024
        print(f"memory per resident, {label}: {kib:.1f} KiB", flush=True)


if __name__ == "__main__":
    main()
