"""Batch runner over a readings CSV: the streaming runner, fed everything, then flushed.

CSV format (the same as the simulators' export): a header row, then one row per device and
timestamp. Columns: `ts` (ISO 8601 with a UTC offset), `device_id`, `resident_id`, then any of the
metric names of the device catalogue (`devices.Metric`: heart_rate, respiration_rate,
bed_presence, ...). An empty cell means the metric was not measured at that time. Unknown columns
are ignored. Duplicated rows change nothing.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from analytics._runner import Detector, StreamRunner, default_detectors
from analytics._types import Finding, ResidentSample
from devices import Metric
from eldercare.errors import ConfigError

FINDING_COLUMNS = (
    "resident_id",
    "device_id",
    "kind",
    "severity",
    "channel",
    "started_at",
    "detected_at",
    "detector",
    "detector_version",
    "evidence",
)


def read_readings_csv(path: Path) -> list[ResidentSample]:
    """Samples from a readings CSV; raises ConfigError naming the file and line of a bad row."""
    samples = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        missing = {"ts", "device_id", "resident_id"} - columns
        if missing:
            raise ConfigError(f"{path}: missing columns {', '.join(sorted(missing))}")
        metrics = [m for m in Metric if m.value in columns]
        for line, row in enumerate(reader, start=2):
            try:
                ts = datetime.fromisoformat(row["ts"])
            except ValueError as exc:
                raise ConfigError(f"{path}:{line}: ts {row['ts']!r} is not ISO 8601") from exc
            if ts.tzinfo is None:
                raise ConfigError(f"{path}:{line}: ts {row['ts']!r} needs a UTC offset")
            for metric in metrics:
                cell = row[metric.value]
                if cell in ("", None):
                    continue
                try:
                    value = float(cell)
                except ValueError as exc:
                    raise ConfigError(f"{path}:{line}: {metric} {cell!r} is not a number") from exc
                samples.append(
                    ResidentSample(
                        ts=ts,
                        resident_id=row["resident_id"],
                        device_id=row["device_id"],
                        metric=metric,
                        value=value,
                    )
                )
    return samples


def run_batch(
    samples: Iterable[ResidentSample],
    *,
    detectors: Sequence[Detector] | None = None,
    profiles: Mapping[str, Sequence[Detector]] | None = None,
) -> list[Finding]:
    """All findings over `samples`, in any order and with duplicates: the streaming runner with
    every sample released at once, so it gives what streaming gives on in-order data."""
    runner = StreamRunner(
        detectors if detectors is not None else default_detectors(), profiles=profiles
    )
    findings = runner.feed(samples)
    findings += runner.flush()
    findings.sort(key=lambda f: (f.detected_at, f.resident_id, f.kind))
    return findings


def write_findings_csv(path: Path, findings: Iterable[Finding]) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(FINDING_COLUMNS)
        for f in findings:
            writer.writerow(
                [
                    f.resident_id,
                    f.device_id,
                    f.kind,
                    f.severity,
                    f.channel,
                    f.started_at.isoformat(),
                    f.detected_at.isoformat(),
                    f.detector,
                    f.detector_version,
                    json.dumps(dict(f.evidence), sort_keys=True, default=str),
                ]
            )
            count += 1
    return count


def detect_csv(input: Path, output: Path) -> tuple[int, int]:
    """Run the default detectors over a readings CSV; returns (samples, findings)."""
    samples = read_readings_csv(input)
    findings = run_batch(samples)
    return len(samples), write_findings_csv(output, findings)
