"""Catalogue rows, checked per device model: a new model is new rows, and these tests cover it."""

from __future__ import annotations

from enum import IntEnum

import pytest

from devices import (
    DEVICE_MODELS,
    PLAUSIBLE_RANGES,
    UNITS,
    CuffStatus,
    DeviceModel,
    Metric,
    ProbeState,
    SleepPosture,
    SleepState,
    Stream,
    Unit,
)
from simulators import ALL_DEVICE_MODELS

CODED: dict[Metric, type[IntEnum]] = {
    Metric.SLEEP_STATE: SleepState,
    Metric.SLEEP_POSTURE: SleepPosture,
    Metric.CUFF_STATUS: CuffStatus,
    Metric.PROBE_STATE: ProbeState,
}


@pytest.mark.parametrize("model", DEVICE_MODELS.values(), ids=list(DEVICE_MODELS))
def test_model_rows_are_complete(model: DeviceModel) -> None:
    metrics = [spec.metric for spec in model.metrics]
    assert len(metrics) == len(set(metrics)), "a metric is listed twice"
    assert Stream(model.stream) in (Stream.VITALS, Stream.BP)
    for spec in model.metrics:
        assert spec.unit is UNITS[spec.metric] and isinstance(spec.unit, Unit)
        assert 0 < spec.report_interval_s <= 3600
        assert PLAUSIBLE_RANGES[spec.metric].source.strip()


def test_the_four_bedside_models_carry_what_the_issue_asks() -> None:
    wanted = {
        "smart_mattress": {"heart_rate", "respiration_rate", "bed_presence", "movement",
                           "sleep_state", "signal_quality"},
        "smart_pillow": {"heart_rate", "respiration_rate", "snoring", "head_movement",
                         "sleep_posture"},
        "bp_cuff": {"systolic_bp", "diastolic_bp", "mean_arterial_pressure", "pulse_rate",
                    "cuff_status"},
        "fingertip_oximeter": {"spo2", "pulse_rate", "perfusion_index", "probe_state"},
    }  # fmt: skip
    for key, metrics in wanted.items():
        assert metrics <= {str(m) for m in DEVICE_MODELS[key].metric_names()}


@pytest.mark.parametrize("metric", list(CODED))
def test_coded_metric_ranges_cover_exactly_their_codes(metric: Metric) -> None:
    codes = [int(code) for code in CODED[metric]]
    plausible = PLAUSIBLE_RANGES[metric]
    assert (plausible.low, plausible.high) == (min(codes), max(codes))
    assert UNITS[metric] is Unit.ONE


def test_vital_units_are_ucum_codes_fhir_uses() -> None:
    assert UNITS[Metric.HEART_RATE] == "/min" and UNITS[Metric.RESPIRATION_RATE] == "/min"
    assert UNITS[Metric.SYSTOLIC_BP] == "mm[Hg]" and UNITS[Metric.SPO2] == "%"


def test_every_catalogued_model_is_simulated() -> None:
    assert set(ALL_DEVICE_MODELS) == set(DEVICE_MODELS)
