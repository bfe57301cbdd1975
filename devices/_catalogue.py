"""The device catalogue: what is measured, in which unit, how often, and what values are possible.

Adding a device model is adding rows here plus a test; ingest validation, the simulators and the
dashboard all read these tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Metric(StrEnum):
    HEART_RATE = "heart_rate"
    RESPIRATION_RATE = "respiration_rate"
    BED_PRESENCE = "bed_presence"
    MOVEMENT = "movement"
    SLEEP_STATE = "sleep_state"
    SIGNAL_QUALITY = "signal_quality"
    SNORING = "snoring"
    HEAD_MOVEMENT = "head_movement"
    SLEEP_POSTURE = "sleep_posture"
    SYSTOLIC_BP = "systolic_bp"
    DIASTOLIC_BP = "diastolic_bp"
    MEAN_ARTERIAL_PRESSURE = "mean_arterial_pressure"
    PULSE_RATE = "pulse_rate"
    CUFF_STATUS = "cuff_status"
    SPO2 = "spo2"
    PERFUSION_INDEX = "perfusion_index"
    PROBE_STATE = "probe_state"


class Unit(StrEnum):
    """UCUM codes (https://ucum.org), as FHIR Observation.valueQuantity uses them."""

    PER_MINUTE = "/min"
    MM_HG = "mm[Hg]"
    PERCENT = "%"
    ONE = "1"  # dimensionless: flags (0/1), indices, fractions and coded states


class SleepState(IntEnum):
    """Codes of `sleep_state` (AASM stages grouped as consumer bed sensors report them)."""

    AWAKE = 0
    LIGHT = 1  # N1-N2
    DEEP = 2  # N3
    REM = 3


class SleepPosture(IntEnum):
    """Codes of `sleep_posture`."""

    SUPINE = 0
    LEFT = 1
    RIGHT = 2
    PRONE = 3
    SITTING = 4


class CuffStatus(IntEnum):
    """Codes of `cuff_status`: only OK readings are measurements."""

    OK = 0
    MOTION = 1
    LOOSE_CUFF = 2
    ERROR = 3


class ProbeState(IntEnum):
    """Codes of `probe_state`: a probe-off oximeter reports no valid SpO2."""

    OK = 0
    PROBE_OFF = 1
    LOW_PERFUSION = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class PlausibleRange:
    """Values a working sensor can report; outside it a reading is a fault, not physiology."""

    low: float
    high: float
    source: str

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


UNITS: dict[Metric, Unit] = {
    Metric.HEART_RATE: Unit.PER_MINUTE,
    Metric.RESPIRATION_RATE: Unit.PER_MINUTE,
    Metric.BED_PRESENCE: Unit.ONE,
    Metric.MOVEMENT: Unit.ONE,
    Metric.SLEEP_STATE: Unit.ONE,
    Metric.SIGNAL_QUALITY: Unit.ONE,
    Metric.SNORING: Unit.ONE,
    Metric.HEAD_MOVEMENT: Unit.ONE,
    Metric.SLEEP_POSTURE: Unit.ONE,
    Metric.SYSTOLIC_BP: Unit.MM_HG,
    Metric.DIASTOLIC_BP: Unit.MM_HG,
    Metric.MEAN_ARTERIAL_PRESSURE: Unit.MM_HG,
    Metric.PULSE_RATE: Unit.PER_MINUTE,
    Metric.CUFF_STATUS: Unit.ONE,
    Metric.SPO2: Unit.PERCENT,
    Metric.PERFUSION_INDEX: Unit.PERCENT,
    Metric.PROBE_STATE: Unit.ONE,
}

_HEART_RATE_LIMIT = (
    "engineering limit, not a clinical threshold: adult heart rates outside 20-250 /min are not "
    "sustained (extreme bradycardia, fastest supraventricular tachycardias), so a device "
    "reporting them is faulty"
)

PLAUSIBLE_RANGES: dict[Metric, PlausibleRange] = {
    Metric.HEART_RATE: PlausibleRange(low=20, high=250, source=_HEART_RATE_LIMIT),
    Metric.PULSE_RATE: PlausibleRange(low=20, high=250, source=_HEART_RATE_LIMIT),
    Metric.RESPIRATION_RATE: PlausibleRange(
        low=0,
        high=70,
        source="engineering limit, not a clinical threshold: 0 is apnea; adult rates above "
        "60 /min are not sustained, so bed-sensor values beyond 70 are artefacts",
    ),
    Metric.BED_PRESENCE: PlausibleRange(low=0, high=1, source="flag: 1 in bed, 0 out of bed"),
    Metric.MOVEMENT: PlausibleRange(low=0, high=1, source="normalised movement index"),
    Metric.SLEEP_STATE: PlausibleRange(low=0, high=3, source="SleepState codes"),
    Metric.SIGNAL_QUALITY: PlausibleRange(low=0, high=1, source="device's 0..1 quality score"),
    Metric.SNORING: PlausibleRange(low=0, high=1, source="normalised snoring intensity index"),
    Metric.HEAD_MOVEMENT: PlausibleRange(low=0, high=1, source="normalised movement index"),
    Metric.SLEEP_POSTURE: PlausibleRange(low=0, high=4, source="SleepPosture codes"),
    Metric.SYSTOLIC_BP: PlausibleRange(
        low=40,
        high=300,
        source="engineering limit: oscillometric cuffs (ISO 81060-2 validated) measure about "
        "40-280 mmHg systolic; values beyond are device faults, not readings",
    ),
    Metric.DIASTOLIC_BP: PlausibleRange(
        low=20, high=200, source="engineering limit of oscillometric cuffs (ISO 81060-2)"
    ),
    Metric.MEAN_ARTERIAL_PRESSURE: PlausibleRange(
        low=30, high=230, source="engineering limit of oscillometric cuffs (ISO 81060-2)"
    ),
    Metric.CUFF_STATUS: PlausibleRange(low=0, high=3, source="CuffStatus codes"),
    Metric.SPO2: PlausibleRange(
        low=50,
        high=100,
        source="pulse oximeters state accuracy over 70-100 % SaO2 (ISO 80601-2-61, FDA "
        "guidance); below 50 % a reading is not interpretable",
    ),
    Metric.PERFUSION_INDEX: PlausibleRange(
        low=0, high=20, source="perfusion index is reported as 0.02-20 % by oximeters"
    ),
    Metric.PROBE_STATE: PlausibleRange(low=0, high=2, source="ProbeState codes"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSpec:
    metric: Metric
    report_interval_s: float

    @property
    def unit(self) -> Unit:
        return UNITS[self.metric]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceModel:
    key: str
    name: str
    metrics: tuple[MetricSpec, ...]
    stream: str = "vitals"  # the contract stream its samples go to (a `Stream` value)

    def metric_names(self) -> frozenset[Metric]:
        return frozenset(spec.metric for spec in self.metrics)


SMART_MATTRESS = DeviceModel(
    key="smart_mattress",
    name="Smart mattress (under-mattress ballistocardiography)",
    metrics=(
        MetricSpec(metric=Metric.HEART_RATE, report_interval_s=1),
        MetricSpec(metric=Metric.RESPIRATION_RATE, report_interval_s=1),
        MetricSpec(metric=Metric.BED_PRESENCE, report_interval_s=1),
        MetricSpec(metric=Metric.MOVEMENT, report_interval_s=1),
        MetricSpec(metric=Metric.SLEEP_STATE, report_interval_s=30),  # 30 s: AASM scoring epoch
        MetricSpec(metric=Metric.SIGNAL_QUALITY, report_interval_s=1),
    ),
)

SMART_PILLOW = DeviceModel(
    key="smart_pillow",
    name="Smart pillow",
    metrics=(
        MetricSpec(metric=Metric.HEART_RATE, report_interval_s=1),
        MetricSpec(metric=Metric.RESPIRATION_RATE, report_interval_s=1),
        MetricSpec(metric=Metric.SNORING, report_interval_s=1),
        MetricSpec(metric=Metric.HEAD_MOVEMENT, report_interval_s=1),
        MetricSpec(metric=Metric.SLEEP_POSTURE, report_interval_s=30),
        MetricSpec(metric=Metric.SIGNAL_QUALITY, report_interval_s=1),
    ),
)

BP_CUFF = DeviceModel(
    key="bp_cuff",
    name="Automatic blood-pressure cuff",
    stream="bp",
    metrics=(
        # Scheduled every 15-60 min (or on demand); the longest schedule is the expected interval.
        MetricSpec(metric=Metric.SYSTOLIC_BP, report_interval_s=3600),
        MetricSpec(metric=Metric.DIASTOLIC_BP, report_interval_s=3600),
        MetricSpec(metric=Metric.MEAN_ARTERIAL_PRESSURE, report_interval_s=3600),
        MetricSpec(metric=Metric.PULSE_RATE, report_interval_s=3600),
        MetricSpec(metric=Metric.CUFF_STATUS, report_interval_s=3600),
    ),
)

FINGERTIP_OXIMETER = DeviceModel(
    key="fingertip_oximeter",
    name="Fingertip pulse oximeter",
    metrics=(
        MetricSpec(metric=Metric.SPO2, report_interval_s=1),
        MetricSpec(metric=Metric.PULSE_RATE, report_interval_s=1),
        MetricSpec(metric=Metric.PERFUSION_INDEX, report_interval_s=1),
        MetricSpec(metric=Metric.PROBE_STATE, report_interval_s=1),
    ),
)

DEVICE_MODELS: dict[str, DeviceModel] = {
    model.key: model for model in (SMART_MATTRESS, SMART_PILLOW, BP_CUFF, FINGERTIP_OXIMETER)
}
