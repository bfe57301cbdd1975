"""Clinical fixtures for each detector, through the streaming runner."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import (
    Apnea,
    BaselineDeterioration,
    BloodPressure,
    Channel,
    DeviceSilence,
    Immobility,
    News2Aggregate,
    News2Response,
    NightBedExit,
    Severity,
    SignalProblems,
    SustainedHeartRate,
    SustainedHypoxemia,
    SustainedRespiration,
    news2_score,
)
from devices import CuffStatus, Metric, ProbeState, SleepPosture
from tests.analytics.support import at, run, sample, series

# --- respiration and SpO2 bands ---


def test_sustained_low_respiration_fires_after_a_minute_in_band() -> None:
    findings = run([SustainedRespiration()], series(Metric.RESPIRATION_RATE, [14] * 10 + [7] * 80))
    assert [(f.kind, f.started_at, f.detected_at) for f in findings] == [
        ("bradypnea", at(10), at(70))
    ]
    assert findings[0].evidence["threshold_rpm"] == 8.0


def test_borderline_respiration_in_deep_sleep_does_not_fire() -> None:
    # 9-11 /min scores 1 in NEWS2, not 3.
    assert run([SustainedRespiration()], series(Metric.RESPIRATION_RATE, [9.5] * 900)) == []


def test_hypoxemia_is_gated_on_the_probe_state() -> None:
    spo2 = series(Metric.SPO2, [89.0] * 200, device="ox-1")
    probe_off = [sample(0, Metric.PROBE_STATE, ProbeState.PROBE_OFF, device="ox-1")]
    assert run([SustainedHypoxemia()], spo2 + probe_off) == []
    (finding,) = run([SustainedHypoxemia()], spo2)
    assert (finding.kind, finding.detected_at) == ("hypoxemia", at(60))


# --- NEWS2 ---


def test_news2_score_states_missing_parameters_and_never_claims_complete() -> None:
    result = news2_score({"pulse": 135.0, "respiration_rate": 26.0})
    assert result.scores == {"pulse": 3, "respiration_rate": 3}
    assert result.total == 6 and result.response is News2Response.MEDIUM
    assert not result.complete
    assert result.missing == (
        "spo2",
        "supplemental_oxygen",
        "systolic_bp",
        "consciousness",
        "temperature",
    )
    assert result.label().startswith("partial NEWS2 >= 6 (missing: spo2")


@pytest.mark.parametrize(
    ("values", "total", "response"),
    [
        ({"pulse": 75.0}, 0, News2Response.LOW),
        ({"pulse": 131.0}, 3, News2Response.LOW_MEDIUM),  # single parameter scoring 3
        ({"respiration_rate": 8.0}, 3, News2Response.LOW_MEDIUM),
        ({"spo2": 93.0, "systolic_bp": 95.0, "pulse": 95.0}, 5, News2Response.MEDIUM),
        ({"spo2": 91.0, "systolic_bp": 220.0, "pulse": 111.0}, 8, News2Response.HIGH),
        ({"temperature": 38.1, "consciousness": 0.0, "supplemental_oxygen": 1.0}, 3, None),
    ],
)
def test_news2_bands(values: dict[str, float], total: int, response: News2Response | None) -> None:
    result = news2_score(values)  # type: ignore[arg-type]
    assert result.total == total
    if response is not None:
        assert result.response is response


def test_complete_news2_is_labelled_without_partial() -> None:
    full = dict.fromkeys(
        (
            "respiration_rate",
            "spo2",
            "supplemental_oxygen",
            "systolic_bp",
            "pulse",
            "consciousness",
            "temperature",
        ),
        0.0,
    )
    full.update(respiration_rate=16, spo2=97, systolic_bp=120, pulse=70, temperature=37)
    result = news2_score(full)
    assert result.complete and result.label() == "NEWS2 0"


def test_news2_aggregate_finding_is_partial_with_missing_parameters() -> None:
    samples = series(Metric.HEART_RATE, [118.0] * 400) + series(
        Metric.RESPIRATION_RATE, [26.0] * 400
    )
    findings = run([News2Aggregate()], samples)
    assert len(findings) == 1
    (finding,) = findings
    assert finding.kind == "news2_aggregate" and finding.severity is Severity.HIGH
    assert finding.evidence["partial"] is True and finding.evidence["complete"] is False
    assert "temperature" in finding.evidence["missing"]  # type: ignore[operator]
    assert "consciousness" in finding.evidence["missing"]  # type: ignore[operator]
    assert finding.evidence["score"] == 5
    assert (finding.detected_at - finding.started_at).total_seconds() >= 120


def test_news2_needs_two_parameters() -> None:
    assert run([News2Aggregate()], series(Metric.HEART_RATE, [150.0] * 600)) == []


# --- apnea ---


def test_apnea_fires_at_twenty_seconds_with_the_spo2_dip() -> None:
    rr = series(Metric.RESPIRATION_RATE, [14.0] * 60 + [0.0] * 30 + [14.0] * 30)
    spo2 = series(Metric.SPO2, [96.0] * 70 + [91.0] * 50, device="ox-1")
    (finding,) = run([Apnea()], rr + spo2)
    assert (finding.kind, finding.started_at, finding.detected_at) == ("apnea", at(60), at(80))
    assert finding.evidence["spo2_before_pct"] == 96.0
    assert finding.evidence["spo2_dip_pct"] == 5.0
    assert finding.severity is Severity.CRITICAL


def test_apnea_without_oximeter_is_high_and_a_short_pause_is_not_apnea() -> None:
    (finding,) = run([Apnea()], series(Metric.RESPIRATION_RATE, [14.0] * 10 + [0.0] * 25))
    assert finding.severity is Severity.HIGH and finding.evidence["oximeter_present"] is False
    assert run([Apnea()], series(Metric.RESPIRATION_RATE, [14.0] * 10 + [0.0] * 15 + [14.0])) == []


# --- blood pressure ---


def _bp(second: float, systolic: float, diastolic: float, status: int = CuffStatus.OK) -> list:
    return [
        sample(second, Metric.SYSTOLIC_BP, systolic, device="cuff-1"),
        sample(second, Metric.DIASTOLIC_BP, diastolic, device="cuff-1"),
        sample(second, Metric.CUFF_STATUS, status, device="cuff-1"),
    ]


def test_hypertensive_crisis_needs_two_consecutive_readings() -> None:
    readings = _bp(0, 130, 80) + _bp(900, 195, 110) + _bp(1800, 188, 100)
    (finding,) = run([BloodPressure()], readings)
    assert (finding.kind, finding.started_at, finding.detected_at) == (
        "hypertensive_crisis",
        at(900),
        at(1800),
    )
    assert len(finding.evidence["readings"]) == 2  # type: ignore[arg-type]


def test_one_spurious_reading_or_a_flagged_one_does_not_fire() -> None:
    assert run([BloodPressure()], _bp(0, 195, 110) + _bp(900, 130, 80)) == []
    flagged = _bp(0, 195, 110) + _bp(900, 196, 110, status=CuffStatus.MOTION)
    assert run([BloodPressure()], flagged) == []


def test_diastolic_alone_can_meet_the_crisis_and_hypotension_fires() -> None:
    (crisis,) = run([BloodPressure()], _bp(0, 170, 125) + _bp(600, 172, 122))
    assert crisis.kind == "hypertensive_crisis"
    (low,) = run([BloodPressure()], _bp(0, 85, 50) + _bp(600, 82, 48))
    assert low.kind == "hypotension"


# --- bed exit ---


def _presence(values: list[float], start: float = 0) -> list:
    return series(Metric.BED_PRESENCE, values, start=start)


def test_night_bed_exit_beyond_the_limit_and_no_return() -> None:
    # T0 is 02:00 UTC: night. In bed 60 s, then out for an hour.
    findings = run([NightBedExit()], _presence([1.0] * 60 + [0.0] * 3600))
    assert [(f.kind, f.severity, f.detected_at) for f in findings] == [
        ("bed_exit_night", Severity.MEDIUM, at(60 + 1200)),
        ("no_return_to_bed", Severity.HIGH, at(60 + 2700)),
    ]


def test_short_bathroom_trip_and_day_exit_do_not_fire() -> None:
    trip = [1.0] * 60 + [0.0] * 600 + [1.0] * 60
    assert run([NightBedExit()], _presence(trip)) == []
    day_start = 8 * 3600  # 10:00 UTC
    assert run([NightBedExit()], _presence([1.0] * 60 + [0.0] * 3000, start=day_start)) == []


def test_per_resident_limit_and_local_time() -> None:
    trip = _presence([1.0] * 60 + [0.0] * 400)
    assert len(run([NightBedExit(max_out_s=300)], trip)) == 1
    # 02:00 UTC is 10:00 at UTC+8: day there.
    assert run([NightBedExit(max_out_s=300, utc_offset_h=8)], trip) == []


# --- immobility ---


def test_immobility_reminds_after_the_turn_interval_and_a_turn_resets() -> None:
    still = series(Metric.MOVEMENT, [0.02] * 7300, step=1)
    presence = [sample(0, Metric.BED_PRESENCE, 1.0)]
    (finding,) = run([Immobility()], presence + still)
    assert (finding.kind, finding.detected_at, finding.severity) == (
        "turn_reminder",
        at(7200),
        Severity.LOW,
    )
    turned = (
        presence
        + still
        + [
            sample(3600, Metric.SLEEP_POSTURE, SleepPosture.SUPINE, device="pil-1"),
            sample(3630, Metric.SLEEP_POSTURE, SleepPosture.LEFT, device="pil-1"),
        ]
    )
    assert run([Immobility()], turned) == []


# --- deterioration ---


def _drift(hours: float, *, rise_from_h: float, seed: int = 5) -> list:
    """HR/RR at 1 Hz (sampled every 5 s to keep the test fast) with a linear rise after
    `rise_from_h`: +50 /min HR and +12 /min RR per 24 h."""
    rng = np.random.default_rng(seed)
    out = []
    for second in range(0, int(hours * 3600), 5):
        h = second / 3600
        rise = max(0.0, h - rise_from_h) / 24
        hr = 66 + 50 * rise + rng.normal(0, 2)
        rr = 15 + 12 * rise + rng.normal(0, 0.8)
        out += [
            sample(second, Metric.HEART_RATE, round(hr, 1)),
            sample(second, Metric.RESPIRATION_RATE, round(rr, 1)),
        ]
    return out


def test_deterioration_leads_single_sample_thresholds_by_hours() -> None:
    detector = BaselineDeterioration(min_samples=30)
    data = _drift(30, rise_from_h=6)
    findings = run([detector, SustainedHeartRate(), SustainedRespiration()], data)
    kinds = {f.kind: f.detected_at for f in findings}
    assert "deterioration" in kinds
    single = min((t for k, t in kinds.items() if k != "deterioration"), default=at(30 * 3600))
    lead_h = (single - kinds["deterioration"]).total_seconds() / 3600
    assert lead_h >= 6, lead_h
    (deterioration,) = [f for f in findings if f.kind == "deterioration"]
    assert deterioration.evidence["baseline_windows"] == 36
    assert len(deterioration.evidence["windows"]) == 3  # type: ignore[arg-type]


def test_deterioration_stays_quiet_on_a_stable_resident() -> None:
    assert run([BaselineDeterioration(min_samples=30)], _drift(20, rise_from_h=99)) == []


def test_deterioration_estimator_api() -> None:
    rng = np.random.default_rng(0)
    baseline = np.c_[rng.normal(65, 2, 50), rng.normal(15, 0.7, 50)]
    model = BaselineDeterioration().fit(baseline)
    assert model.offset_ == -4.0
    assert list(model.predict([[66, 15], [95, 23]])) == [1, -1]
    scores = model.score_samples([[66, 15], [95, 23]])
    assert scores[0] > scores[1]
    np.testing.assert_allclose(model.decision_function([[66, 15]]), scores[:1] + 4.0)


# --- data quality ---


def test_device_silence_from_a_gap_and_from_stream_time() -> None:
    mattress = series(Metric.HEART_RATE, [70.0] * 100) + series(
        Metric.HEART_RATE, [70.0] * 10, start=1000
    )
    other = series(Metric.HEART_RATE, [70.0] * 1200, resident="r2", device="mat-2")
    findings = run([DeviceSilence()], mattress + other)
    silent = [(f.device_id, f.detected_at) for f in findings]
    # mat-1 silent from 99 s; mat-1 stops for good at 1009 s and the stream runs to 1199 s,
    # short of 1009 + 300 + slack: one finding.
    assert silent == [("mat-1", at(99 + 300))]
    assert {f.channel for f in findings} == {Channel.DATA_QUALITY}


def test_cuff_is_not_silent_between_hourly_readings() -> None:
    cuff = [sample(s, Metric.SYSTOLIC_BP, 120.0, device="cuff-1") for s in (0, 3600, 7200)]
    hr = series(Metric.HEART_RATE, [70.0] * 720, step=10)
    assert run([DeviceSilence()], cuff + hr) == []


def test_flatline_poor_signal_and_probe_off() -> None:
    stuck = series(Metric.HEART_RATE, [72.0] * 400)
    poor = series(Metric.SIGNAL_QUALITY, [0.2] * 700)
    probe = series(Metric.PROBE_STATE, [ProbeState.PROBE_OFF] * 200, device="ox-1")
    findings = run([SignalProblems()], stuck + poor + probe)
    assert sorted((f.kind, f.detected_at) for f in findings) == [
        ("flatline", at(300)),
        ("poor_signal", at(600)),
        ("probe_off", at(120)),
    ]
    assert all(f.channel is Channel.DATA_QUALITY for f in findings)


def test_a_varying_signal_is_not_a_flatline() -> None:
    values = [72.0 + (i % 3) * 0.1 for i in range(1000)]
    assert run([SignalProblems()], series(Metric.HEART_RATE, values)) == []
