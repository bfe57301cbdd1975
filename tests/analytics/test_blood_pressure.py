"""The blood-pressure detector on simulated cuff data: the cuff's repeat-on-alarm reading is the
confirmation, so hypotension is detected about a minute after its definition is met."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics import detectors_for, run_batch
from simulators import (
    CUFF_REPEAT_DELAY_S,
    EpisodeSpec,
    EpisodeType,
    ScenarioConfig,
    build_scenario,
)
from tests.analytics.support import scenario_samples

# Issue #9 target: critical episodes detected within 90 s of their definition (median).
TARGET_TTD = timedelta(seconds=90)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hypotension_is_detected_within_90_s_of_its_definition(seed: int) -> None:
    scenario = build_scenario(
        ScenarioConfig(
            start=datetime(2026, 11, 24, 12, tzinfo=UTC),
            duration_s=4 * 3600,
            residents=1,
            seed=seed,
            devices=("bp_cuff",),
            episodes=(EpisodeSpec(type=EpisodeType.HYPOTENSION, resident=0, onset_s=1200),),
        )
    )
    (label,) = scenario.labels
    assert label.definition_met_at is not None
    samples = scenario_samples(scenario)
    tier = str(scenario.residents[0].profile.risk_tier)
    findings = run_batch(samples, detectors=detectors_for(tier))
    low = [f for f in findings if f.kind == "hypotension"]
    assert low, f"no hypotension finding ({tier} tier)"
    delay = low[0].detected_at - label.definition_met_at
    # Confirmed by the repeat a minute later, not by the next scheduled reading (15-60 min).
    assert timedelta(0) <= delay <= TARGET_TTD
    assert delay == timedelta(seconds=CUFF_REPEAT_DELAY_S) or delay == timedelta(0)
    assert low[0].evidence["confirm_readings"] >= 2  # still two readings, never one
