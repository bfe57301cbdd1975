"""Sample factories shared by the analytics tests."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import psycopg

from analytics import AnalyticsService, Detector, Finding, ResidentSample, StreamRunner
from devices import Metric, Stream
from simulators import Scenario

T0 = datetime(2026, 11, 24, 2, 0, 0, tzinfo=UTC)


def at(second: float) -> datetime:
    return T0 + timedelta(seconds=second)


def sample(
    second: float,
    metric: Metric,
    value: float,
    *,
    resident: str = "r1",
    device: str = "mat-1",
) -> ResidentSample:
    return ResidentSample(
        ts=at(second), resident_id=resident, device_id=device, metric=metric, value=value
    )


def series(
    metric: Metric,
    values: Iterable[float],
    *,
    start: float = 0,
    step: float = 1,
    resident: str = "r1",
    device: str = "mat-1",
) -> list[ResidentSample]:
    return [
        sample(start + i * step, metric, v, resident=resident, device=device)
        for i, v in enumerate(values)
    ]


def run(detectors: Sequence[Detector], *batches: Iterable[ResidentSample]) -> list[Finding]:
    runner = StreamRunner(detectors)
    findings: list[Finding] = []
    for batch in batches:
        findings += runner.feed(batch)
    return findings + runner.flush()


def poll_until_caught_up(
    service: AnalyticsService, reader: psycopg.Connection, *, timeout_s: float = 60.0
) -> list[Finding]:
    """Poll until every committed reading is behind the service's cursor. The cursor follows the
    cluster-wide snapshot horizon, which another session's open transaction can hold back."""
    findings: list[Finding] = []
    deadline = time.monotonic() + timeout_s
    while True:
        findings += service.poll_once(reader)
        with reader.transaction():
            row = reader.execute(
                "SELECT coalesce((SELECT max(tx::text::bigint) FROM readings), 0)"
                " < (SELECT position::text::bigint FROM stream_cursors"
                " WHERE consumer = 'analytics')"
            ).fetchone()
        if row is not None and row[0]:
            return findings
        assert time.monotonic() < deadline, "the analytics cursor did not catch up"
        time.sleep(0.2)


def scenario_samples(scenario: Scenario) -> list[ResidentSample]:
    """Every measurement a simulated scenario's devices sent, as detector input."""
    return [
        ResidentSample(
            ts=sample.device_ts,
            resident_id=message.resident_id,
            device_id=message.device_id,
            metric=metric,
            value=value,
        )
        for message in scenario.messages
        if message.stream is not Stream.STATUS
        for sample in message.samples
        for metric, value in sample.values
    ]
