"""Per-resident detector settings: parameters by risk tier, then clinician overrides (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sklearn.base import clone

from analytics._base import BaseDetector
from analytics._registry import DETECTOR_CLASSES

RISK_TIERS = ("low", "medium", "high")

# Parameters named `<detector>.<parameter>` (the same keys as consults' risk profiles). Medium is
# the detectors' defaults. A higher tier tightens durations and reminders, never the score-3 bands
# themselves (earlier bands would page staff for normal sleep physiology). Every hold is ordered
# high <= medium <= low.
# - medium (defaults): heart and respiration rate held 60 s, the length of one manual count (RCP
#   NEWS2 2017: pulse and respiration are counted over a full minute), three times the longest
#   bed-sensor motion artefact (< 20 s) and past the ~19 s delay that removes most transient
#   monitor alarms (Gorges 2009). Measured on the simulator (bench/analytics_evaluation.py, 5 seeds,
#   realistic faults): median time to detect 58-61 s, no more false alerts than the former 120 s;
# - high: SpO2 held 30 s (alarm delays of 10-60 s studied on 1 Hz ICU oximetry, Lansdowne 2016) and
#   the NEWS2 aggregate 60 s (RCP NEWS2 2017 asks for more frequent observation of at-risk
#   patients; a shorter run is the device equivalent); heart and respiration rate stay at one full
#   count (60 s): shorter than a count is no observation at all, and lets sleep and posture
#   artefacts through. Bed-exit limit 10 min (NICE CG161 individualised falls plan); turns stay
#   2-hourly (the default, EPUAP/NPIAP 2019 practice);
# - low: vital-sign holds a third longer (80 s: fewer alerts for residents at low risk; the most
#   the 90 s time-to-detect target leaves room for, since detection also waits for the first
#   usable sample) and 4-hourly turns (NICE CG179: at least every 4 h at high risk, 6 h at risk).
TIER_PARAMETERS: dict[str, dict[str, float]] = {
    "low": {
        "heart_rate_sustained.min_duration_s": 80.0,
        "respiration_rate_sustained.min_duration_s": 80.0,
        "spo2_sustained.min_duration_s": 80.0,
        "immobility.turn_interval_s": 14400.0,
    },
    "medium": {},
    "high": {
        "heart_rate_sustained.min_duration_s": 60.0,
        "respiration_rate_sustained.min_duration_s": 60.0,
        "spo2_sustained.min_duration_s": 30.0,
        "news2_partial.min_duration_s": 60.0,
        "night_bed_exit.max_out_s": 600.0,
    },
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorOverride:
    """A clinician's per-resident setting of one detector parameter."""

    resident_id: str
    parameter: str  # `<detector>.<parameter>`
    value: float
    set_by: str
    reason: str
    set_at: datetime


def _by_name() -> dict[str, type[BaseDetector]]:
    return {cls.name: cls for cls in DETECTOR_CLASSES}


def validate_parameter(parameter: str, value: float) -> None:
    """Raise ValueError unless `parameter` names a detector parameter and `value` is in range."""
    detector, _, name = parameter.partition(".")
    cls = _by_name().get(detector)
    if cls is None:
        raise ValueError(f"unknown detector {detector!r} in {parameter!r}")
    if name not in cls.parameter_ranges:
        raise ValueError(f"{detector} has no parameter {name!r}")
    low, high = cls.parameter_ranges[name]
    if not low <= value <= high:
        raise ValueError(f"{parameter}={value} not in [{low}, {high}]")


def resolve_parameters(tier: str, overrides: Mapping[str, float]) -> dict[str, float]:
    """The tier's parameters, then the overrides, which win."""
    if tier not in TIER_PARAMETERS:
        raise ValueError(f"unknown risk tier {tier!r}")
    return {**TIER_PARAMETERS[tier], **overrides}


def detectors_for(
    tier: str,
    overrides: Mapping[str, float] | None = None,
    *,
    base: tuple[BaseDetector, ...] | None = None,
) -> tuple[BaseDetector, ...]:
    """Detectors configured for one resident (validated; raises ValueError on a bad setting)."""
    from analytics._registry import default_detectors

    parameters = resolve_parameters(tier, overrides or {})
    detectors = []
    for detector in base if base is not None else default_detectors():
        own = {
            key.partition(".")[2]: value
            for key, value in parameters.items()
            if key.partition(".")[0] == detector.name
        }
        configured = clone(detector).set_params(**own) if own else detector
        configured.check_params()
        detectors.append(configured)
    return tuple(detectors)
