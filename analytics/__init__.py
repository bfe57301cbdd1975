"""Analytics: pure detectors, a streaming runner over committed readings, and findings."""

from analytics._apnea import Apnea
from analytics._base import BaseDetector
from analytics._batch import (
    FINDING_COLUMNS,
    detect_csv,
    read_readings_csv,
    run_batch,
    write_findings_csv,
)
from analytics._bed_exit import NightBedExit
from analytics._blood_pressure import BloodPressure
from analytics._data_quality import DeviceSilence, SignalProblems
from analytics._deterioration import BaselineDeterioration
from analytics._evaluation import (
    CRITICAL_TYPES,
    EPISODE_KINDS,
    EvaluationReport,
    LabelledEpisode,
    TypeScore,
    evaluate_csv,
    merge_alerts,
    observed_spans,
    read_labels_csv,
    score,
)
from analytics._fault_scoring import (
    FAULT_KINDS,
    DataQualityReport,
    DataQualityScore,
    FaultWindow,
    read_faults_csv,
    score_data_quality,
)
from analytics._heart_rate import SustainedHeartRate, SustainedHypoxemia, SustainedRespiration
from analytics._immobility import Immobility
from analytics._news2 import News2Aggregate, News2Response, News2Score, news2_score
from analytics._profiles import (
    RISK_TIERS,
    TIER_PARAMETERS,
    DetectorOverride,
    detectors_for,
    resolve_parameters,
    validate_parameter,
)
from analytics._profiles_store import (
    clear_detector_override,
    detector_override_audit,
    detector_overrides,
    set_detector_override,
)
from analytics._registry import DETECTOR_CLASSES
from analytics._runner import Detector, StreamRunner, default_detectors
from analytics._service import AnalyticsService, insert_findings, resident_partition
from analytics._sleep import SleepSummary, compare_with_recent, night_window, sleep_summary
from analytics._sleep_store import sleep_summaries, store_sleep_summary, summarize_night
from analytics._types import Channel, Finding, ResidentSample, Severity

__all__ = [
    "CRITICAL_TYPES",
    "DETECTOR_CLASSES",
    "EPISODE_KINDS",
    "FAULT_KINDS",
    "FINDING_COLUMNS",
    "RISK_TIERS",
    "TIER_PARAMETERS",
    "AnalyticsService",
    "Apnea",
    "BaseDetector",
    "BaselineDeterioration",
    "BloodPressure",
    "Channel",
    "DataQualityReport",
    "DataQualityScore",
    "Detector",
    "DetectorOverride",
    "DeviceSilence",
    "EvaluationReport",
    "FaultWindow",
    "Finding",
    "Immobility",
    "LabelledEpisode",
    "News2Aggregate",
    "News2Response",
    "News2Score",
    "NightBedExit",
    "ResidentSample",
    "Severity",
    "SignalProblems",
    "SleepSummary",
    "StreamRunner",
    "SustainedHeartRate",
    "SustainedHypoxemia",
    "SustainedRespiration",
    "TypeScore",
    "clear_detector_override",
    "compare_with_recent",
    "default_detectors",
    "detect_csv",
    "detector_override_audit",
    "detector_overrides",
    "detectors_for",
    "evaluate_csv",
    "insert_findings",
    "merge_alerts",
    "news2_score",
    "night_window",
    "observed_spans",
    "read_faults_csv",
    "read_labels_csv",
    "read_readings_csv",
    "resident_partition",
    "resolve_parameters",
    "run_batch",
    "score",
    "score_data_quality",
    "set_detector_override",
    "sleep_summaries",
    "sleep_summary",
    "store_sleep_summary",
    "summarize_night",
    "validate_parameter",
    "write_findings_csv",
]
