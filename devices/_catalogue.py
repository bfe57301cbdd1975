"""The device catalogue: what is measured, in which unit, how often, and what values are possible.

Adding a device model is adding rows here plus a test; ingest validation, the simulators and the
dashboard all read these tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Metric(StrEnum):
    HEART_RATE = "heart_rate"
    RESPIRATION_RATE = "respiration_rate"
    BED_PRESENCE = "bed_presence"
    MOVEMENT = "movement"
    SIGNAL_QUALITY = "signal_quality"


class Unit(StrEnum):
    """UCUM codes (https://ucum.org), as FHIR Observation.valueQuantity uses them."""

    PER_MINUTE = "/min"
    ONE = "1"  # dimensionless: flags (0/1), indices and fractions


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
    Metric.SIGNAL_QUALITY: Unit.ONE,
}

PLAUSIBLE_RANGES: dict[Metric, PlausibleRange] = {
    Metric.HEART_RATE: PlausibleRange(
        low=20,
        high=250,
        source="engineering limit, not a clinical threshold: adult heart rates outside 20-250 /min "
        "are not sustained (extreme bradycardia, fastest supraventricular tachycardias), so a bed "
        "sensor reporting them is faulty",
    ),
    Metric.RESPIRATION_RATE: PlausibleRange(
        low=0,
        high=70,
        source="engineering limit, not a clinical threshold: 0 is apnea; adult rates above "
        "60 /min are not sustained, so bed-sensor values beyond 70 are artefacts",
    ),
    Metric.BED_PRESENCE: PlausibleRange(low=0, high=1, source="flag: 1 in bed, 0 out of bed"),
    Metric.MOVEMENT: PlausibleRange(low=0, high=1, source="normalised movement index"),
    Metric.SIGNAL_QUALITY: PlausibleRange(low=0, high=1, source="device's 0..1 quality score"),
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
        MetricSpec(metric=Metric.SIGNAL_QUALITY, report_interval_s=1),
    ),
)

DEVICE_MODELS: dict[str, DeviceModel] = {model.key: model for model in (SMART_MATTRESS,)}
