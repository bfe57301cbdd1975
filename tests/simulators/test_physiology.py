"""Generated distributions against published adult/elderly ranges (24 h, two residents).

References for the bounds: NEWS2 (RCP 2017) 0-score bands (pulse 51-90, respiration 12-20,
SpO2 >= 96 on scale 1, systolic 111-219); AHA resting heart rate 60-100 /min; Rodriguez-Molinero
2013 (elderly RR and SpO2); AHA/ACC 2017 BP categories; Ohayon 2004 and Floyd 2007 for sleep
architecture in older adults (N3 ~5-15 %, REM ~15-20 %).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from devices import Metric, SleepState
from simulators import RiskTier, Scenario
from tests.simulators.conftest import by_device, series


def _values(scenario: Scenario, suffix: str, metric: Metric) -> np.ndarray:
    return np.array(
        [
            value
            for message in scenario.messages
            if message.device_id.split("-")[-1].startswith(suffix)
            for sample in message.samples
            for m, value in sample.values
            if m is metric
        ]
    )


def test_profiles_are_plausible_care_home_residents(day_scenario: Scenario) -> None:
    for resident in day_scenario.residents:
        p = resident.profile
        assert 65 <= p.age <= 100
        assert 3 <= p.frailty <= 8  # Clinical Frailty Scale
        assert p.risk_tier in set(RiskTier)
        assert 51 <= p.heart_rate <= 95
        assert 12 <= p.respiration_rate <= 20
        assert 94 <= p.spo2 <= 99
        assert 100 <= p.systolic_bp <= 170 and 55 <= p.diastolic_bp <= 100
        assert 900 <= p.bp_interval_s <= 3600


def test_heart_rate_respiration_and_spo2_sit_in_published_resting_ranges(
    day_scenario: Scenario,
) -> None:
    hr = _values(day_scenario, "mat", Metric.HEART_RATE)
    rr = _values(day_scenario, "mat", Metric.RESPIRATION_RATE)
    spo2 = _values(day_scenario, "oxi", Metric.SPO2)
    assert 55 <= np.median(hr) <= 80  # AHA 60-100 awake; lower asleep (nocturnal dip)
    assert np.percentile(hr, 5) >= 45 and np.percentile(hr, 95) <= 100
    assert 12 <= np.median(rr) <= 20  # NEWS2 0-score band
    assert np.percentile(rr, 2) >= 9 and np.percentile(rr, 98) <= 24
    assert 94 <= np.median(spo2) <= 98
    assert np.percentile(spo2, 2) >= 91  # Rodriguez-Molinero 2013: lower limit of normal ~91 %


def test_blood_pressure_every_15_to_60_minutes_with_measurement_noise(
    day_scenario: Scenario,
) -> None:
    systolic = _values(day_scenario, "bp", Metric.SYSTOLIC_BP)
    diastolic = _values(day_scenario, "bp", Metric.DIASTOLIC_BP)
    assert 110 <= np.mean(systolic) <= 150 and 60 <= np.mean(diastolic) <= 90
    assert np.all(systolic > diastolic)
    assert np.percentile(systolic, 1) > 90 and np.percentile(systolic, 99) < 180
    for device_id, messages in by_device(day_scenario.messages).items():
        if "-bp" not in device_id:
            continue
        times = [s.device_ts for m in messages for s in m.samples]
        gaps = {b - a for a, b in zip(times, times[1:], strict=False)}
        assert gaps <= {timedelta(minutes=15), timedelta(minutes=30), timedelta(minutes=60)}
        values = [v for _, v in series(day_scenario.messages, device_id, Metric.SYSTOLIC_BP)]
        assert np.std(np.diff(values)) > 2  # readings scatter: measurement noise


def test_sleep_architecture_matches_older_adults(day_scenario: Scenario) -> None:
    stages = []
    for resident in day_scenario.residents:
        mattress = resident.bedsides[0].device_id
        presence = dict(series(day_scenario.messages, mattress, Metric.BED_PRESENCE))
        for ts, stage in series(day_scenario.messages, mattress, Metric.SLEEP_STATE):
            if presence.get(ts) == 1.0:
                stages.append(stage)
    counts = {s: stages.count(float(s)) for s in SleepState}
    asleep = sum(counts.values()) - counts[SleepState.AWAKE]
    assert 0.03 <= counts[SleepState.DEEP] / asleep <= 0.2
    assert 0.1 <= counts[SleepState.REM] / asleep <= 0.3
    assert counts[SleepState.LIGHT] / asleep >= 0.5
    assert 0.05 <= counts[SleepState.AWAKE] / len(stages) <= 0.35  # latency and WASO


def test_night_in_bed_with_bathroom_trips_day_mostly_up(day_scenario: Scenario) -> None:
    start = day_scenario.config.start
    for resident in day_scenario.residents:
        mattress = resident.bedsides[0].device_id
        presence = series(day_scenario.messages, mattress, Metric.BED_PRESENCE)
        night = [v for ts, v in presence if 3 <= (ts - start).total_seconds() / 3600 - 12 <= 4]
        afternoon = [v for ts, v in presence if 4 <= (ts - start).total_seconds() / 3600 <= 6]
        assert np.mean(night) > 0.8  # 03:00-04:00
        assert np.mean(afternoon) < 0.5  # 16:00-18:00
        exits = sum(
            1 for (_, a), (_, b) in zip(presence, presence[1:], strict=False) if a == 1 and b == 0
        )
        assert exits >= 2  # getting up in the morning plus (usually) night-time bathroom trips


def test_heart_rate_is_absent_out_of_bed_and_lower_asleep(day_scenario: Scenario) -> None:
    for message in day_scenario.messages:
        for sample in message.samples:
            values = dict(sample.values)
            if values.get(Metric.BED_PRESENCE) == 0.0:
                assert Metric.HEART_RATE not in values
                assert Metric.RESPIRATION_RATE not in values
    resident = day_scenario.residents[0]
    mattress = resident.bedsides[0].device_id
    hr = dict(series(day_scenario.messages, mattress, Metric.HEART_RATE))
    stage_at = dict(series(day_scenario.messages, mattress, Metric.SLEEP_STATE))
    awake = [hr[ts] for ts, s in stage_at.items() if s == SleepState.AWAKE and ts in hr]
    deep = [hr[ts] for ts, s in stage_at.items() if s == SleepState.DEEP and ts in hr]
    assert np.mean(deep) < np.mean(awake)


def test_motion_artefacts_come_with_poor_signal_quality(day_scenario: Scenario) -> None:
    moving, still = [], []
    for message in day_scenario.messages:
        for sample in message.samples:
            values = dict(sample.values)
            if values.get(Metric.BED_PRESENCE) != 1.0:
                continue
            quality = values[Metric.SIGNAL_QUALITY]
            (moving if values[Metric.MOVEMENT] > 0.25 else still).append(quality)
    assert moving and np.median(moving) < 0.5 < np.median(still)


def test_noise_is_autocorrelated(day_scenario: Scenario) -> None:
    mattress = day_scenario.residents[1].bedsides[0].device_id
    values = np.array([v for _, v in series(day_scenario.messages, mattress, Metric.HEART_RATE)])
    centred = values - values.mean()
    lag1 = float(np.corrcoef(centred[:-1], centred[1:])[0, 1])
    assert lag1 > 0.5


@pytest.mark.parametrize("seed", [3])
def test_same_seed_same_residents(seed: int, day_scenario: Scenario) -> None:
    from simulators import ScenarioConfig, build_scenario

    short = build_scenario(
        ScenarioConfig(
            start=day_scenario.config.start,
            duration_s=600,
            residents=2,
            seed=seed,
            devices=day_scenario.config.devices,
        )
    )
    assert [r.profile for r in short.residents] == [r.profile for r in day_scenario.residents]
    first = [m.payload for m in day_scenario.messages if m.send_s < 590]
    assert [m.payload for m in short.messages if m.send_s < 590] == first
