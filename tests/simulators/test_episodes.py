"""Injected episodes change the data the way their definitions say, and every one is labelled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from devices import Metric, SleepState
from simulators import (
    CUFF_REPEAT_DELAY_S,
    HARD_NEGATIVES,
    EpisodeSpec,
    EpisodeType,
    Label,
    Scenario,
    ScenarioConfig,
    build_scenario,
)
from tests.simulators.conftest import EPISODE_PLAN, series


def _label(scenario: Scenario, kind: EpisodeType) -> Label:
    (found,) = [label for label in scenario.labels if label.type is kind]
    return found


def _window(
    scenario: Scenario,
    label: Label,
    metric: Metric,
    *,
    device: str | None = None,
    begin: datetime | None = None,
    end: datetime | None = None,
) -> np.ndarray:
    device_id = device or label.device_id
    begin = begin or label.onset
    end = end or label.offset
    return np.array(
        [v for ts, v in series(scenario.messages, device_id, metric) if begin <= ts < end]
    )


def _device(label: Label, suffix: str) -> str:
    return label.device_id.rsplit("-", 1)[0] + "-" + suffix + label.device_id[-3:]


def test_every_episode_is_labelled_with_its_definition_time(episode_scenario: Scenario) -> None:
    planned = {kind for plan in EPISODE_PLAN.values() for kind, _, _ in plan}
    assert {label.type for label in episode_scenario.labels} == planned
    for label in episode_scenario.labels:
        assert label.onset < label.offset
        assert label.hard_negative is (label.type in HARD_NEGATIVES)
        if label.hard_negative:
            assert label.definition_met_at is None
        else:
            assert label.definition_met_at is not None
            assert label.onset <= label.definition_met_at <= label.offset
        assert label.resident_id in label.device_id.replace("-mat", "-r").replace("-bp", "-r")


def test_tachycardia_and_bradycardia_reach_news2_score_3(episode_scenario: Scenario) -> None:
    for kind, check in (
        (EpisodeType.TACHYCARDIA, lambda hr: np.median(hr) >= 131),
        (EpisodeType.BRADYCARDIA, lambda hr: np.median(hr) <= 40),
    ):
        label = _label(episode_scenario, kind)
        assert label.definition_met_at is not None
        during = _window(
            episode_scenario,
            label,
            Metric.HEART_RATE,
            begin=label.definition_met_at + timedelta(seconds=30),
            end=label.offset - timedelta(seconds=30),
        )
        assert len(during) > 400 and check(during), kind


def test_apnea_cluster_stops_breathing_and_spo2_dips_after_each_apnea(
    episode_scenario: Scenario,
) -> None:
    label = _label(episode_scenario, EpisodeType.APNEA_CLUSTER)
    rr = series(episode_scenario.messages, label.device_id, Metric.RESPIRATION_RATE)
    zeros = [ts for ts, v in rr if v == 0.0 and label.onset <= ts < label.offset]
    assert len(zeros) >= 5 * 10  # at least five apneas of >= 10 s
    spo2 = series(episode_scenario.messages, _device(label, "oxi"), Metric.SPO2)
    baseline = np.median([v for ts, v in spo2 if ts < label.onset])
    # Desaturation follows the first apnea after the circulation delay (nadir ~25 s after it
    # ends, so 40-65 s after it starts); the next apnea starts >= 55 s after the first.
    first = zeros[0]
    after = [(ts, v) for ts, v in spo2 if first <= ts < first + timedelta(seconds=90)]
    nadir_ts, nadir = min(after, key=lambda item: item[1])
    assert nadir <= baseline - 3
    assert timedelta(seconds=20) <= nadir_ts - first <= timedelta(seconds=80)


def test_low_respiration_with_a_lagged_spo2_fall(episode_scenario: Scenario) -> None:
    label = _label(episode_scenario, EpisodeType.LOW_RESPIRATION)
    met = label.definition_met_at
    assert met is not None
    rr = _window(
        episode_scenario, label, Metric.RESPIRATION_RATE, begin=met + timedelta(seconds=60)
    )
    assert np.median(rr) <= 8
    oximeter = _device(label, "oxi")
    early = _window(
        episode_scenario, label, Metric.SPO2, device=oximeter, end=met + timedelta(seconds=20)
    )
    late = _window(
        episode_scenario,
        label,
        Metric.SPO2,
        device=oximeter,
        begin=met + timedelta(minutes=5),
        end=label.offset,
    )
    assert np.median(late) <= np.median(early) - 4


def test_blood_pressure_episodes_show_in_cuff_readings(episode_scenario: Scenario) -> None:
    crisis = _label(episode_scenario, EpisodeType.HYPERTENSIVE_CRISIS)
    systolic = _window(episode_scenario, crisis, Metric.SYSTOLIC_BP)
    diastolic = _window(episode_scenario, crisis, Metric.DIASTOLIC_BP)
    assert np.any((systolic > 180) | (diastolic > 120))
    low = _label(episode_scenario, EpisodeType.HYPOTENSION)
    assert np.any(_window(episode_scenario, low, Metric.SYSTOLIC_BP) <= 90)


def test_sepsis_like_is_a_compound_of_tachycardia_tachypnoea_and_low_bp(
    episode_scenario: Scenario,
) -> None:
    label = _label(episode_scenario, EpisodeType.SEPSIS_LIKE)
    # Full effect from one hour after onset until it eases off in the last hour.
    late = {"begin": label.offset - timedelta(hours=2), "end": label.offset - timedelta(hours=1)}
    assert np.median(_window(episode_scenario, label, Metric.HEART_RATE, **late)) > 105
    rr = _window(episode_scenario, label, Metric.RESPIRATION_RATE, **late)
    assert np.median(rr) >= 22
    cuff = _device(label, "bp")
    assert np.any(_window(episode_scenario, label, Metric.SYSTOLIC_BP, device=cuff) <= 100)


def test_night_bed_exit_and_immobility(episode_scenario: Scenario) -> None:
    exit_label = _label(episode_scenario, EpisodeType.NIGHT_BED_EXIT)
    presence = _window(episode_scenario, exit_label, Metric.BED_PRESENCE)
    assert presence.size > 2000 and presence.max() == 0.0
    still = _label(episode_scenario, EpisodeType.IMMOBILITY)
    assert still.definition_met_at == still.onset + timedelta(hours=2)
    assert _window(episode_scenario, still, Metric.BED_PRESENCE).min() == 1.0
    assert _window(episode_scenario, still, Metric.MOVEMENT).max() <= 0.05


def test_hard_negatives_look_alarming_but_stay_benign(episode_scenario: Scenario) -> None:
    rise = _label(episode_scenario, EpisodeType.POSTURE_HR_RISE)
    before = _window(
        episode_scenario,
        rise,
        Metric.HEART_RATE,
        begin=rise.onset - timedelta(minutes=5),
        end=rise.onset,
    )
    during = _window(episode_scenario, rise, Metric.HEART_RATE)
    assert np.max(during) >= np.median(before) + 12 and np.max(during) < 131

    spike = _label(episode_scenario, EpisodeType.MOTION_SPIKE)
    assert spike.offset - spike.onset < timedelta(seconds=20)
    assert _window(episode_scenario, spike, Metric.MOVEMENT).max() >= 0.7

    borderline = _label(episode_scenario, EpisodeType.BORDERLINE_RR_DEEP_SLEEP)
    late = borderline.onset + timedelta(minutes=2)
    rr = _window(episode_scenario, borderline, Metric.RESPIRATION_RATE, begin=late)
    assert 9 <= np.median(rr) <= 11.5
    stages = _window(episode_scenario, borderline, Metric.SLEEP_STATE, begin=late)
    assert set(stages) == {float(SleepState.DEEP)}

    spurious = _label(episode_scenario, EpisodeType.SPURIOUS_BP)
    readings = series(episode_scenario.messages, spurious.device_id, Metric.SYSTOLIC_BP)
    nearby = spurious.onset - timedelta(minutes=25)  # after this resident's crisis episode
    high = [ts for ts, v in readings if v > 180 and ts >= nearby]
    assert high == [spurious.onset]
    index = [ts for ts, _ in readings].index(spurious.onset)
    neighbours = readings[index - 1 : index] + readings[index + 1 : index + 2]
    assert neighbours and all(v < 170 for _, v in neighbours)

    trip = _label(episode_scenario, EpisodeType.SHORT_BATHROOM_TRIP)
    assert trip.offset - trip.onset <= timedelta(minutes=10)
    assert _window(episode_scenario, trip, Metric.BED_PRESENCE).max() == 0.0

    gap = _label(episode_scenario, EpisodeType.SHORT_NETWORK_GAP)
    assert _window(episode_scenario, gap, Metric.BED_PRESENCE).size == 0
    around = _window(
        episode_scenario,
        gap,
        Metric.BED_PRESENCE,
        begin=gap.onset - timedelta(seconds=30),
        end=gap.offset + timedelta(seconds=30),
    )
    assert around.size >= 55


def test_gradual_deterioration_rises_over_a_day_inside_single_sample_limits() -> None:
    start = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    scenario = build_scenario(
        ScenarioConfig(
            start=start,
            duration_s=30 * 3600,
            residents=1,
            seed=2,
            devices=("smart_mattress",),
            episodes=(
                EpisodeSpec(
                    type=EpisodeType.GRADUAL_DETERIORATION,
                    resident=0,
                    onset_s=3 * 3600,
                    duration_s=26 * 3600,
                ),
            ),
        )
    )
    (label,) = scenario.labels
    assert label.definition_met_at is not None
    assert label.onset + timedelta(hours=12) < label.definition_met_at < label.offset
    device = label.device_id
    hr = series(scenario.messages, device, Metric.HEART_RATE)
    rr = series(scenario.messages, device, Metric.RESPIRATION_RATE)

    def night_median(values: list[tuple[datetime, float]], day: int) -> float:
        begin = start + timedelta(days=day, hours=0)
        return float(np.median([v for ts, v in values if begin <= ts < begin + timedelta(hours=3)]))

    assert night_median(hr, 1) >= night_median(hr, 0) + 8
    assert night_median(rr, 1) >= night_median(rr, 0) + 2
    # The modelled rise stays out of the NEWS2 score-3 bands (pulse >= 131, respiration >= 25);
    # only measurement noise can touch them, rarely.
    assert max(v for _, v in hr) < 131
    assert np.percentile([v for _, v in rr], 99) < 25


@pytest.mark.parametrize("kind", sorted(EpisodeType))
def test_every_type_can_be_injected_alone(kind: EpisodeType) -> None:
    scenario = build_scenario(
        ScenarioConfig(
            start=datetime(2026, 11, 24, 23, 0, tzinfo=UTC),
            duration_s=600,
            residents=1,
            devices=("smart_mattress", "bp_cuff"),
            episodes=(EpisodeSpec(type=kind, resident=0, onset_s=120, duration_s=300),),
        )
    )
    (label,) = scenario.labels
    assert label.type is kind
    assert label.onset >= scenario.config.start


def _valid_cuff_readings(scenario: Scenario, label: Label) -> list[tuple[datetime, float, float]]:
    """(ts, systolic, diastolic) of the cuff readings in the episode window (motion-spoiled
    readings carry no pressure and are not readings)."""
    systolic = dict(series(scenario.messages, label.device_id, Metric.SYSTOLIC_BP))
    diastolic = dict(series(scenario.messages, label.device_id, Metric.DIASTOLIC_BP))
    return [
        (ts, value, diastolic[ts])
        for ts, value in sorted(systolic.items())
        if label.onset <= ts < label.offset
    ]


def test_hypertensive_crisis_is_dated_at_the_confirming_cuff_reading(
    episode_scenario: Scenario,
) -> None:
    crisis = _label(episode_scenario, EpisodeType.HYPERTENSIVE_CRISIS)
    readings = _valid_cuff_readings(episode_scenario, crisis)
    in_crisis = [(ts, s > 180 or d > 120) for ts, s, d in readings]
    # The first two consecutive readings in the crisis range: the label is the second one.
    confirming = next(
        ts
        for (_, first), (ts, second) in zip(in_crisis, in_crisis[1:], strict=False)
        if first and second
    )
    assert crisis.definition_met_at == confirming
    # The confirmation is the cuff's repeat of the first out-of-range reading, a minute later.
    times = [ts for ts, _ in in_crisis]
    previous = times[times.index(confirming) - 1]
    assert confirming - previous == timedelta(seconds=CUFF_REPEAT_DELAY_S)
    # Well after the pressure crossed 180 in the model: the cuff had not read it yet.
    assert crisis.definition_met_at - crisis.onset >= timedelta(minutes=15)


def test_hypotension_is_dated_at_the_first_cuff_reading_that_shows_it(
    episode_scenario: Scenario,
) -> None:
    low = _label(episode_scenario, EpisodeType.HYPOTENSION)
    readings = _valid_cuff_readings(episode_scenario, low)
    first = next(ts for ts, systolic, _ in readings if systolic <= 90)
    assert low.definition_met_at == first


def test_continuous_vitals_are_dated_at_a_sample_the_bed_sensor_sent(
    episode_scenario: Scenario,
) -> None:
    for kind, metric in (
        (EpisodeType.TACHYCARDIA, Metric.HEART_RATE),
        (EpisodeType.LOW_RESPIRATION, Metric.RESPIRATION_RATE),
    ):
        label = _label(episode_scenario, kind)
        sent = {ts for ts, _ in series(episode_scenario.messages, label.device_id, metric)}
        assert label.definition_met_at in sent


def test_an_episode_no_cuff_reading_confirms_has_no_definition_time() -> None:
    # A 30 min crisis that only one cuff reading caught, on its way down: the cuff's repeat a
    # minute later read below the crisis range, so nothing a device sent met the definition (two
    # consecutive readings) and the label says so instead of dating the model's crossing; the
    # evaluation counts it as unobserved.
    scenario = build_scenario(
        ScenarioConfig(
            start=datetime(2026, 11, 24, 12, tzinfo=UTC),
            duration_s=3 * 3600,
            residents=1,
            seed=24,
            devices=("bp_cuff",),
            episodes=(
                EpisodeSpec(
                    type=EpisodeType.HYPERTENSIVE_CRISIS, resident=0, onset_s=600, duration_s=1800
                ),
            ),
        )
    )
    (label,) = scenario.labels
    readings = _valid_cuff_readings(scenario, label)
    in_range = [ts for ts, s, d in readings if s > 180 or d > 120]
    assert len(in_range) == 1  # one reading, unconfirmed
    assert [ts for ts, _, _ in readings if ts > in_range[0]][:1] == [
        in_range[0] + timedelta(seconds=60)
    ]  # the repeat came and disagreed
    assert label.definition_met_at is None
