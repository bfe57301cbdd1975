"""The detector set: discovery for tests and tools, and the default streaming set."""

from __future__ import annotations

from analytics._apnea import Apnea
from analytics._base import BaseDetector
from analytics._bed_exit import NightBedExit
from analytics._blood_pressure import BloodPressure
from analytics._data_quality import DeviceSilence, SignalProblems
from analytics._deterioration import BaselineDeterioration
from analytics._heart_rate import SustainedHeartRate, SustainedHypoxemia, SustainedRespiration
from analytics._immobility import Immobility
from analytics._news2 import News2Aggregate

DETECTOR_CLASSES: tuple[type[BaseDetector], ...] = (
    SustainedHeartRate,
    SustainedRespiration,
    SustainedHypoxemia,
    News2Aggregate,
    Apnea,
    BloodPressure,
    NightBedExit,
    Immobility,
    BaselineDeterioration,
    DeviceSilence,
    SignalProblems,
)


def default_detectors() -> tuple[BaseDetector, ...]:
    """One instance of every detector with its default (medium-risk) parameters."""
    return tuple(cls() for cls in DETECTOR_CLASSES)
