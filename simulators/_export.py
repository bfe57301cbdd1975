"""Batch export: readings, labels and faults as CSV (the formats `eldercare detect` and the
evaluation harness read)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from devices import Metric, Stream
from simulators._episodes import Label
from simulators._faults import FaultEvent
from simulators._scenario import DeviceMessage

READINGS_HEADER: tuple[str, ...] = ("ts", "device_id", "resident_id", *(str(m) for m in Metric))
LABELS_HEADER: tuple[str, ...] = (
    "episode_id",
    "type",
    "resident_id",
    "device_id",
    "onset",
    "offset",
    "definition_met_at",
    "hard_negative",
)
FAULTS_HEADER: tuple[str, ...] = (
    "type",
    "device_id",
    "start",
    "end",
    "detail",
    "observed_start",
    "observed_end",
)
_COLUMN = {metric: i for i, metric in enumerate(Metric)}


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds")


def readings_rows(messages: Iterable[DeviceMessage]) -> Iterable[list[str]]:
    """One row per device sample, in send order (a re-sent message gives its rows again)."""
    for message in messages:
        if message.stream is Stream.STATUS:
            continue
        for sample in message.samples:
            row = [_iso(sample.device_ts), message.device_id, message.resident_id]
            cells = [""] * len(_COLUMN)
            for metric, value in sample.values:
                cells[_COLUMN[metric]] = repr(value)
            yield row + cells


def write_readings_csv(messages: Iterable[DeviceMessage], handle: TextIO) -> int:
    """Write the readings CSV; returns the number of sample rows."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(READINGS_HEADER)
    count = 0
    for row in readings_rows(messages):
        writer.writerow(row)
        count += 1
    return count


def write_labels_csv(labels: Iterable[Label], handle: TextIO) -> int:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(LABELS_HEADER)
    count = 0
    for label in labels:
        met = label.definition_met_at
        writer.writerow(
            [
                label.episode_id,
                str(label.type),
                label.resident_id,
                label.device_id,
                _iso(label.onset),
                _iso(label.offset),
                "" if met is None else _iso(met),
                "true" if label.hard_negative else "false",
            ]
        )
        count += 1
    return count


def write_faults_csv(faults: Iterable[FaultEvent], handle: TextIO) -> int:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(FAULTS_HEADER)
    count = 0
    for fault in faults:
        first, last = fault.observed_start, fault.observed_end
        writer.writerow(
            [
                str(fault.type),
                fault.device_id,
                _iso(fault.start),
                _iso(fault.end),
                fault.detail,
                "" if first is None else _iso(first),
                "" if last is None else _iso(last),
            ]
        )
        count += 1
    return count
