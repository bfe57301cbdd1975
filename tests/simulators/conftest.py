"""Scenarios shared by the simulator tests (built once per module; each takes seconds)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest

from devices import Metric
from simulators import DeviceMessage, EpisodeSpec, EpisodeType, Scenario, ScenarioConfig
from simulators import build_scenario as build

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
EVENING = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)


def series(
    messages: tuple[DeviceMessage, ...], device_id: str, metric: Metric
) -> list[tuple[datetime, float]]:
    """(device_ts, value) of one metric of one device, in device-time order, duplicates removed."""
    seen: dict[datetime, float] = {}
    for message in messages:
        if message.device_id != device_id:
            continue
        for sample in message.samples:
            for m, value in sample.values:
                if m is metric:
                    seen[sample.device_ts] = value
    return sorted(seen.items())


def by_device(messages: tuple[DeviceMessage, ...]) -> dict[str, list[DeviceMessage]]:
    out: dict[str, list[DeviceMessage]] = defaultdict(list)
    for message in messages:
        out[message.device_id].append(message)
    return out


@pytest.fixture(scope="module")
def day_scenario() -> Scenario:
    """24 h of two residents on a mattress, cuff and oximeter, no episodes, no faults."""
    return build(
        ScenarioConfig(
            start=NOON,
            duration_s=86_400,
            residents=2,
            seed=3,
            devices=("smart_mattress", "bp_cuff", "fingertip_oximeter"),
        )
    )


# Resident index → episodes (type, onset s, duration s or None for the default), spaced apart.
EPISODE_PLAN: dict[int, tuple[tuple[EpisodeType, int, int | None], ...]] = {
    0: (
        (EpisodeType.TACHYCARDIA, 1800, None),
        (EpisodeType.APNEA_CLUSTER, 4000, None),
        (EpisodeType.LOW_RESPIRATION, 9000, None),
    ),
    1: (
        (EpisodeType.BRADYCARDIA, 1800, None),
        (EpisodeType.HYPERTENSIVE_CRISIS, 4000, None),
        (EpisodeType.SPURIOUS_BP, 16000, None),
    ),
    2: ((EpisodeType.SEPSIS_LIKE, 1800, 4 * 3600),),
    3: (
        (EpisodeType.NIGHT_BED_EXIT, 3000, None),
        (EpisodeType.IMMOBILITY, 7000, None),
    ),
    4: (
        (EpisodeType.HYPOTENSION, 1800, None),
        (EpisodeType.POSTURE_HR_RISE, 13000, None),
        (EpisodeType.MOTION_SPIKE, 14000, None),
        (EpisodeType.BORDERLINE_RR_DEEP_SLEEP, 15000, None),
        (EpisodeType.SHORT_BATHROOM_TRIP, 17000, None),
        (EpisodeType.SHORT_NETWORK_GAP, 19000, None),
    ),
}


@pytest.fixture(scope="module")
def episode_scenario() -> Scenario:
    """Every episode type but the slow deterioration, overnight, on mattress, cuff and oximeter."""
    episodes = tuple(
        EpisodeSpec(type=kind, resident=resident, onset_s=onset, duration_s=length)
        for resident, plan in EPISODE_PLAN.items()
        for kind, onset, length in plan
    )
    return build(
        ScenarioConfig(
            start=EVENING,
            duration_s=6 * 3600,
            residents=len(EPISODE_PLAN),
            seed=8,
            devices=("smart_mattress", "bp_cuff", "fingertip_oximeter"),
            episodes=episodes,
        )
    )
