"""Analytics: pure detectors, a streaming runner over committed readings, and findings."""

from analytics._heart_rate import SustainedHeartRate
from analytics._runner import Detector, StreamRunner, default_detectors
from analytics._service import AnalyticsService, insert_findings
from analytics._types import Channel, Finding, ResidentSample, Severity

__all__ = [
    "AnalyticsService",
    "Channel",
    "Detector",
    "Finding",
    "ResidentSample",
    "Severity",
    "StreamRunner",
    "SustainedHeartRate",
    "default_detectors",
    "insert_findings",
]
