"""Streaming and batch give identical findings on the same data, whatever the arrival order
(within the reorder window) and with duplicated input; also through the database service."""

from __future__ import annotations

import functools
import random
from datetime import UTC, datetime, timedelta

import psycopg

from analytics import (
    AnalyticsService,
    Finding,
    ResidentSample,
    StreamRunner,
    default_detectors,
    run_batch,
)
from devices import Stream
from eldercare.registry import Bedside, register_bedside, register_site
from eldercare.settings import Settings
from simulators import EpisodeSpec, EpisodeType, ScenarioConfig, build_scenario
from tests.analytics.support import poll_until_caught_up

START = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


@functools.cache
def _scenario() -> tuple[tuple[ResidentSample, ...], tuple[tuple[str, str], ...]]:
    """Two residents, 40 device-minutes at night, with episodes that several detectors see."""
    config = ScenarioConfig(
        start=START,
        duration_s=2400,
        seed=11,
        residents=2,
        episodes=(
            EpisodeSpec(type=EpisodeType.TACHYCARDIA, resident=0, onset_s=300, duration_s=600),
            EpisodeSpec(type=EpisodeType.APNEA_CLUSTER, resident=1, onset_s=200, duration_s=900),
            EpisodeSpec(type=EpisodeType.LOW_RESPIRATION, resident=1, onset_s=1400),
        ),
    )
    scenario = build_scenario(config)
    samples = []
    devices = set()
    for message in scenario.messages:
        if message.stream is Stream.STATUS:
            continue
        devices.add((message.device_id, message.resident_id))
        for s in message.samples:
            for metric, value in s.values:
                samples.append(
                    ResidentSample(
                        ts=s.device_ts,
                        resident_id=message.resident_id,
                        device_id=message.device_id,
                        metric=metric,
                        value=value,
                    )
                )
    return tuple(samples), tuple(sorted(devices))


def _shuffled(samples: list[ResidentSample], *, max_delay_s: float, seed: int) -> list:
    """Arrival order: each sample delayed by up to `max_delay_s`, 10 % sent twice."""
    rng = random.Random(seed)
    arrivals = []
    for s in samples:
        arrivals.append((s.ts + timedelta(seconds=rng.uniform(0, max_delay_s)), rng.random(), s))
        if rng.random() < 0.1:
            arrivals.append((s.ts + timedelta(seconds=rng.uniform(0, max_delay_s)), 0.5, s))
    arrivals.sort(key=lambda a: (a[0], a[1]))
    return [s for _, _, s in arrivals]


def _chunks(items: list, seed: int) -> list[list]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(items):
        n = rng.randint(1, 3000)
        out.append(items[i : i + n])
        i += n
    return out


def _key(f: Finding) -> tuple:
    return (f.detected_at, f.resident_id, f.kind, f.device_id, f.started_at, f.detector)


def test_stream_in_scrambled_order_with_duplicates_equals_batch() -> None:
    samples, _ = _scenario()
    batch = run_batch(reversed(samples))
    kinds = {f.kind for f in batch}
    assert {"tachycardia", "apnea"} <= kinds, kinds

    runner = StreamRunner(default_detectors(), reorder_s=20)
    streamed: list[Finding] = []
    for chunk in _chunks(_shuffled(list(samples), max_delay_s=15, seed=1), seed=2):
        streamed += runner.feed(chunk)
    streamed += runner.flush()

    assert runner.late_samples == 0
    assert runner.duplicate_samples > 0
    assert sorted(streamed, key=_key) == sorted(batch, key=_key)


def test_batch_ignores_order_and_duplicates() -> None:
    samples = list(_scenario()[0])
    shuffled = samples + samples[::7]
    random.Random(3).shuffle(shuffled)
    assert run_batch(shuffled) == run_batch(samples)


def test_disorder_beyond_the_window_is_counted_not_silently_used() -> None:
    samples = list(_scenario()[0])
    runner = StreamRunner(default_detectors(), reorder_s=5)
    for chunk in _chunks(_shuffled(samples, max_delay_s=60, seed=4), seed=5):
        runner.feed(chunk)
    assert runner.late_samples > 0


def test_database_service_reading_in_commit_order_equals_batch(
    settings: Settings, conn: psycopg.Connection
) -> None:
    samples, devices = _scenario()
    register_site(conn, site_id="parity-home", name="Parity", tier="care_home")
    for device_id, resident_id in devices:
        register_bedside(
            conn,
            Bedside(
                site_id="parity-home",
                resident_id=resident_id,
                display_name=resident_id,
                bed_id=f"bed-{resident_id}",
                device_id=device_id,
                device_model="smart_mattress",
            ),
            since=START - timedelta(days=1),
        )
    service = AnalyticsService(settings, reorder_s=20, profile_refresh_s=0)
    stored: list[Finding] = []
    received = datetime(2026, 11, 24, 12, tzinfo=UTC)
    with psycopg.connect(settings.database.url or "") as reader:  # type: ignore[arg-type]
        for chunk in _chunks(_shuffled(list(samples), max_delay_s=15, seed=6), seed=7):
            with conn.transaction():
                conn.cursor().executemany(
                    "INSERT INTO readings (ts, device_id, metric, value, received_at)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    [(s.ts, s.device_id, str(s.metric), s.value, received) for s in chunk],
                )
            stored += service.poll_once(reader)
        stored += poll_until_caught_up(service, reader)
        stored += service.flush(reader)
    batch = run_batch(samples)
    assert sorted(stored, key=_key) == sorted(batch, key=_key)
    (count,) = conn.execute("SELECT count(*) FROM findings").fetchone()  # type: ignore[misc]
    assert count == len(batch)
