"""`SustainedHeartRate` driven through `StreamRunner` with synthetic 1 Hz samples."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from analytics import (
    Channel,
    Finding,
    ResidentSample,
    Severity,
    StreamRunner,
    SustainedHeartRate,
)
from devices import Metric

T0 = datetime(2026, 11, 24, 2, 0, 0, tzinfo=UTC)


def at(second: float) -> datetime:
    return T0 + timedelta(seconds=second)


def sample(
    second: float, metric: Metric, value: float, *, resident: str = "r1", device: str = "mat-1"
) -> ResidentSample:
    return ResidentSample(
        ts=at(second), resident_id=resident, device_id=device, metric=metric, value=value
    )


def hr_series(
    values: Iterable[float], *, start: int = 0, resident: str = "r1"
) -> list[ResidentSample]:
    """Heart rate at 1 Hz from `start` seconds."""
    return [
        sample(start + i, Metric.HEART_RATE, v, resident=resident) for i, v in enumerate(values)
    ]


def run(*batches: Iterable[ResidentSample]) -> tuple[list[Finding], StreamRunner]:
    # The run mechanics below are written for a 120 s hold (the low tier's is 90 s, the default
    # 60 s); the hold itself is only a parameter.
    runner = StreamRunner([SustainedHeartRate(min_duration_s=120.0)])
    findings: list[Finding] = []
    for batch in batches:
        findings.extend(runner.feed(batch))
    return findings, runner


# --- firing ---


def test_sustained_tachycardia_fires_once_with_evidence() -> None:
    # 10 s of normal rate, then 130 (just below the band), then 150 s at 140.
    values = [80.0] * 10 + [130.0] + [140.0] * 150
    findings, _ = run(hr_series(values))

    assert len(findings) == 1
    (finding,) = findings
    assert finding.kind == "tachycardia"
    assert finding.started_at == at(11)  # first sample >= 131
    assert finding.detected_at == at(11) + timedelta(seconds=120)
    assert finding.severity is Severity.HIGH
    assert finding.channel is Channel.CLINICAL
    assert (finding.resident_id, finding.device_id) == ("r1", "mat-1")
    assert finding.detector == SustainedHeartRate.name
    assert finding.detector_version == SustainedHeartRate.version
    evidence = finding.evidence
    assert evidence["threshold_bpm"] == 131.0
    assert evidence["min_duration_s"] == 120.0
    assert evidence["min_bpm"] == 140.0
    assert evidence["max_bpm"] == 140.0
    assert evidence["mean_bpm"] == 140.0
    assert evidence["samples"] == 121
    assert evidence["window_start"] == at(11).isoformat()
    assert evidence["window_end"] == at(131).isoformat()


def test_sustained_bradycardia_fires() -> None:
    findings, _ = run(hr_series([60.0] * 5 + [35.0] * 125))

    assert len(findings) == 1
    (finding,) = findings
    assert finding.kind == "bradycardia"
    assert finding.started_at == at(5)
    assert finding.detected_at == at(125)
    assert finding.evidence["threshold_bpm"] == 40.0
    assert finding.evidence["max_bpm"] == 35.0


def test_ninety_second_excursion_does_not_fire() -> None:
    findings, _ = run(hr_series([80.0] * 10 + [145.0] * 90 + [80.0] * 200))
    assert findings == []


def test_run_just_short_of_min_duration_does_not_fire() -> None:
    # 120 samples span 119 s: the definition needs 120 s held.
    findings, _ = run(hr_series([140.0] * 120 + [80.0]))
    assert findings == []


def test_run_that_keeps_going_after_firing_does_not_fire_again() -> None:
    findings, _ = run(hr_series([140.0] * 200), hr_series([140.0] * 400, start=200))
    assert len(findings) == 1
    assert findings[0].detected_at == at(120)


def test_run_split_across_feed_calls_fires_once() -> None:
    series = hr_series([140.0] * 130)
    findings, _ = run(series[:60], series[60:])
    assert [f.detected_at for f in findings] == [at(120)]


# --- hysteresis ---


def test_values_within_hysteresis_keep_the_run() -> None:
    # Starts at 140, then hovers 128..133: all above 131 - 5, so the run holds from second 0.
    values = [140.0] + [128.0, 133.0, 130.0, 129.0] * 40
    findings, _ = run(hr_series(values))

    assert len(findings) == 1
    (finding,) = findings
    assert finding.started_at == at(0)
    assert finding.detected_at == at(120)
    assert finding.evidence["min_bpm"] == 128.0
    assert finding.evidence["max_bpm"] == 140.0


def test_drop_below_hysteresis_ends_the_run() -> None:
    # 60 s in the band, one sample at 120 ends the run, then the band again from second 61.
    values = [140.0] * 60 + [120.0] + [140.0] * 125
    findings, _ = run(hr_series(values))

    assert len(findings) == 1
    assert findings[0].started_at == at(61)
    assert findings[0].detected_at == at(181)


def test_value_at_hysteresis_boundary_ends_the_run() -> None:
    # 126 is not > 131 - 5 and not in the band: the run ends.
    findings, _ = run(hr_series([140.0] * 60 + [126.0] + [140.0] * 70))
    assert findings == []


# --- gating ---


def test_out_of_bed_ignores_heart_rate_and_resets_the_run() -> None:
    samples = hr_series([140.0] * 200)
    # Out of bed from 60 s to 70 s: the run is reset and HR in that window does not count.
    samples += [sample(60, Metric.BED_PRESENCE, 0.0), sample(70, Metric.BED_PRESENCE, 1.0)]
    findings, _ = run(samples)

    assert len(findings) == 1
    assert findings[0].started_at == at(70)
    assert findings[0].detected_at == at(190)


def test_out_of_bed_for_good_never_fires() -> None:
    samples = hr_series([140.0] * 200) + [sample(0, Metric.BED_PRESENCE, 0.0)]
    findings, _ = run(samples)
    assert findings == []


def test_poor_signal_quality_samples_are_ignored() -> None:
    # Quality drops at 30 s and recovers at 50 s: HR there is ignored (not counted, run kept).
    samples = hr_series([140.0] * 30 + [80.0] * 20 + [140.0] * 120)
    samples += [sample(30, Metric.SIGNAL_QUALITY, 0.3), sample(50, Metric.SIGNAL_QUALITY, 0.9)]
    findings, _ = run(samples)

    assert len(findings) == 1
    (finding,) = findings
    assert finding.started_at == at(0)
    assert finding.detected_at == at(120)
    assert finding.evidence["min_bpm"] == 140.0  # the 80s under poor signal were never seen
    assert finding.evidence["samples"] == 30 + 71


def test_signal_quality_at_threshold_is_usable() -> None:
    samples = hr_series([140.0] * 125) + [sample(0, Metric.SIGNAL_QUALITY, 0.5)]
    findings, _ = run(samples)
    assert len(findings) == 1


def test_gap_longer_than_max_gap_resets_the_run() -> None:
    # 100 s in the band, 31 s of silence, then the band again: the run restarts at 131 s.
    samples = hr_series([140.0] * 100) + hr_series([140.0] * 125, start=131)
    findings, _ = run(samples)

    assert len(findings) == 1
    assert findings[0].started_at == at(131)
    assert findings[0].detected_at == at(251)


def test_gap_of_exactly_max_gap_keeps_the_run() -> None:
    samples = hr_series([140.0] * 100) + hr_series([140.0] * 30, start=129)
    findings, _ = run(samples)

    assert len(findings) == 1
    assert findings[0].started_at == at(0)
    assert findings[0].detected_at == at(129)


def test_long_poor_signal_stretch_counts_as_a_gap() -> None:
    # Usable samples stop at 59 s; poor signal until 100 s; the run restarts at 100 s.
    samples = hr_series([140.0] * 300)
    samples += [sample(60, Metric.SIGNAL_QUALITY, 0.1), sample(100, Metric.SIGNAL_QUALITY, 0.9)]
    findings, _ = run(samples)

    assert len(findings) == 1
    assert findings[0].started_at == at(100)


# --- ordering ---


def test_presence_at_the_same_timestamp_applies_before_heart_rate() -> None:
    # Listed after the HR sample it shares a timestamp with, presence still applies first.
    samples = hr_series([140.0] * 200) + [sample(0, Metric.BED_PRESENCE, 0.0)]
    samples.reverse()
    findings, _ = run(samples)
    assert findings == []


def test_quality_at_the_same_timestamp_applies_before_heart_rate() -> None:
    samples: list[ResidentSample] = []
    for second, hr in enumerate(hr_series([140.0] * 200)):
        samples += [hr, sample(second, Metric.SIGNAL_QUALITY, 0.2)]
    findings, _ = run(samples)
    assert findings == []


def test_samples_older_than_the_residents_last_are_counted_and_skipped() -> None:
    findings, runner = run(
        hr_series([80.0] * 10, start=200),
        # Late: all before second 209, the resident's last; would otherwise fire at 120 s.
        hr_series([140.0] * 200),
        [sample(209, Metric.BED_PRESENCE, 1.0)],  # equal to the last timestamp: not late
    )

    assert findings == []
    assert runner.late_samples == 200


def test_two_residents_are_independent() -> None:
    findings, runner = run(
        hr_series([140.0] * 130, resident="r1")
        + hr_series([80.0] * 130, resident="r2")
        + [sample(10, Metric.BED_PRESENCE, 0.0, resident="r2")]
    )

    assert [(f.resident_id, f.detected_at) for f in findings] == [("r1", at(120))]
    assert runner.late_samples == 0


def test_residents_keep_separate_clocks_for_late_samples() -> None:
    _, runner = run(hr_series([80.0] * 10, resident="r1"), hr_series([80.0] * 5, resident="r2"))
    assert runner.late_samples == 0


def test_findings_of_several_residents_are_ordered_by_detection_time() -> None:
    findings, _ = run(
        hr_series([140.0] * 130, start=5, resident="a") + hr_series([35.0] * 130, resident="b")
    )
    assert [(f.resident_id, f.kind) for f in findings] == [
        ("b", "bradycardia"),
        ("a", "tachycardia"),
    ]


# --- parameters ---


def test_default_parameters_pass_check_params() -> None:
    detector = SustainedHeartRate()
    detector.check_params()
    assert detector.get_params() == {
        "high_bpm": 131.0,
        "low_bpm": 40.0,
        "min_duration_s": 60.0,
        "hysteresis_bpm": 5.0,
        "max_gap_s": 30.0,
        "min_signal_quality": 0.5,
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("high_bpm", 99.0),
        ("high_bpm", 251.0),
        ("low_bpm", 19.0),
        ("low_bpm", 61.0),
        ("min_duration_s", 0.5),
        ("hysteresis_bpm", -1.0),
        ("hysteresis_bpm", 21.0),
        ("max_gap_s", 601.0),
        ("min_signal_quality", 1.5),
    ],
)
def test_check_params_rejects_out_of_range_parameter(name: str, value: float) -> None:
    detector = SustainedHeartRate(**{name: value})  # storing only: no validation here
    assert getattr(detector, name) == value
    with pytest.raises(ValueError, match=rf"SustainedHeartRate\.{name}="):
        detector.check_params()


def test_constructor_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        SustainedHeartRate(140.0)  # type: ignore[misc]


def test_custom_parameters_change_detection() -> None:
    runner = StreamRunner([SustainedHeartRate(high_bpm=120.0, min_duration_s=10.0)])
    findings = runner.feed(hr_series([125.0] * 15))
    assert [(f.kind, f.detected_at) for f in findings] == [("tachycardia", at(10))]
    assert findings[0].evidence["threshold_bpm"] == 120.0


def test_default_hold_fires_after_one_minute_in_the_band() -> None:
    runner = StreamRunner([SustainedHeartRate()])
    findings = runner.feed(hr_series([80.0] * 10 + [140.0] * 59))
    assert findings == []  # 59 samples span 58 s
    (finding,) = runner.feed(hr_series([140.0] * 5, start=69))
    assert (finding.started_at, finding.detected_at) == (at(10), at(70))
