"""Vital signs held in a NEWS2 score-3 band: heart rate, respiration rate, SpO2."""

from __future__ import annotations

from analytics._sustained import SustainedBand
from devices import Metric


class SustainedHeartRate(SustainedBand):
    """Heart rate held at or beyond a NEWS2 score-3 band for a minimum duration.

    A run starts at the first sample in a band and ends once the rate is back inside it by the
    hysteresis margin, or after a gap longer than `max_gap_s` (silence is not evidence).
    Samples taken out of bed or with poor signal quality do not count, because under-mattress
    sensors lose the heartbeat when the resident moves or leaves the bed.

    Parameters
    ----------
    high_bpm, low_bpm : NEWS2 pulse bands scoring 3 (>= 131 and <= 40 /min).
    min_duration_s : how long the rate must stay in the band; a duration rather than one sample,
        since bed-sensor data are noisy (data loss of 6-34 % reported) and single-sample alarms are
        mostly false (Drew 2014). 60 s by default (medium risk): the length of one manual pulse
        count (RCP NEWS2 2017 asks for a full 60 s count at the bedside), three times the longest
        motion artefact a bed sensor reports as a pulse (< 20 s, simulated as `motion_spike`),
        and well past the ~19 s delay that already removes most transient monitor alarms (Gorges
        2009). The simulator evaluation (`bench/analytics_evaluation.py`) measured the same false
        alerts at 60 s as at 120 s and half the time to detect.
    hysteresis_bpm : margin back inside the band needed to end a run, so a rate hovering at the
        threshold does not start and stop repeatedly.
    max_gap_s : a longer gap between usable samples ends the run.
    min_signal_quality : samples below this device quality score are ignored.

    References
    ----------
    Royal College of Physicians. National Early Warning Score (NEWS) 2. London: RCP, 2017
    (pulse: <=40 scores 3, >=131 scores 3; a single parameter scoring 3 calls for an urgent
    ward-based response).
    Drew BJ et al. Insights into the problem of alarm fatigue with physiologic monitor devices.
    PLoS One 2014;9(10):e110274 (88.8 % of 12,671 annotated arrhythmia alarms were false).
    Gorges M, Markewitz BA, Westenskow DR. Improving alarm performance in the medical intensive
    care unit using delays and clinical context. Anesth Analg 2009;108(5):1546-1552 (a 19 s alarm
    delay would have removed 67 % of alarms).
    """

    name = "heart_rate_sustained"
    version = "2"  # 2: default hold 60 s (was 120 s)
    metrics = frozenset({Metric.HEART_RATE, Metric.BED_PRESENCE, Metric.SIGNAL_QUALITY})
    vital = Metric.HEART_RATE
    high_kind = "tachycardia"
    low_kind = "bradycardia"
    unit_label = "bpm"
    source = "NEWS2 (RCP 2017) pulse band scoring 3"
    parameter_ranges = {
        "high_bpm": (100.0, 250.0),
        "low_bpm": (20.0, 60.0),
        "min_duration_s": (1.0, 3600.0),
        "hysteresis_bpm": (0.0, 20.0),
        "max_gap_s": (1.0, 600.0),
        "min_signal_quality": (0.0, 1.0),
    }

    def __init__(
        self,
        *,
        high_bpm: float = 131.0,
        low_bpm: float = 40.0,
        min_duration_s: float = 60.0,
        hysteresis_bpm: float = 5.0,
        max_gap_s: float = 30.0,
        min_signal_quality: float = 0.5,
    ) -> None:
        self.high_bpm = high_bpm
        self.low_bpm = low_bpm
        self.min_duration_s = min_duration_s
        self.hysteresis_bpm = hysteresis_bpm
        self.max_gap_s = max_gap_s
        self.min_signal_quality = min_signal_quality

    def _bands(self) -> tuple[float | None, float | None]:
        return self.high_bpm, self.low_bpm

    def _margin(self) -> float:
        return self.hysteresis_bpm


class SustainedRespiration(SustainedBand):
    """Respiration rate held at or beyond a NEWS2 score-3 band (>= 25 or <= 8 /min).

    Same run logic and gating as `SustainedHeartRate`; a rate of 8 /min or less held for the
    duration is the "low respiration" finding (apnea has its own detector).

    Parameters
    ----------
    high_rpm, low_rpm : NEWS2 respiration bands scoring 3 (>= 25 and <= 8 /min).
    min_duration_s : how long the rate must stay in the band (bed-sensor noise; Drew 2014); 60 s by
        default, the full minute over which NEWS2 asks for respiration to be counted.
    hysteresis_rpm : margin back inside the band needed to end a run.
    max_gap_s : a longer gap between usable samples ends the run.
    min_signal_quality : samples below this device quality score are ignored.

    References
    ----------
    Royal College of Physicians. National Early Warning Score (NEWS) 2. London: RCP, 2017
    (respiration rate: <=8 scores 3, >=25 scores 3).
    Drew BJ et al. PLoS One 2014;9(10):e110274 (alarm fatigue from single-sample alarms).
    """

    name = "respiration_rate_sustained"
    version = "1"
    metrics = frozenset({Metric.RESPIRATION_RATE, Metric.BED_PRESENCE, Metric.SIGNAL_QUALITY})
    vital = Metric.RESPIRATION_RATE
    high_kind = "tachypnea"
    low_kind = "bradypnea"
    unit_label = "rpm"
    source = "NEWS2 (RCP 2017) respiration band scoring 3"
    parameter_ranges = {
        "high_rpm": (18.0, 60.0),
        "low_rpm": (4.0, 12.0),
        "min_duration_s": (1.0, 3600.0),
        "hysteresis_rpm": (0.0, 5.0),
        "max_gap_s": (1.0, 600.0),
        "min_signal_quality": (0.0, 1.0),
    }

    def __init__(
        self,
        *,
        high_rpm: float = 25.0,
        low_rpm: float = 8.0,
        min_duration_s: float = 60.0,
        hysteresis_rpm: float = 2.0,
        max_gap_s: float = 30.0,
        min_signal_quality: float = 0.5,
    ) -> None:
        self.high_rpm = high_rpm
        self.low_rpm = low_rpm
        self.min_duration_s = min_duration_s
        self.hysteresis_rpm = hysteresis_rpm
        self.max_gap_s = max_gap_s
        self.min_signal_quality = min_signal_quality

    def _bands(self) -> tuple[float | None, float | None]:
        return self.high_rpm, self.low_rpm

    def _margin(self) -> float:
        return self.hysteresis_rpm


class SustainedHypoxemia(SustainedBand):
    """SpO2 held at or below the NEWS2 scale-1 score-3 band (<= 91 %) for a minimum duration.

    Gated on the oximeter's own probe state (probe off, low perfusion) rather than bed presence,
    since a fingertip probe works in a chair too.

    Parameters
    ----------
    low_pct : NEWS2 SpO2 scale 1 band scoring 3 (<= 91 %). Scale 2 (hypercapnic patients) is a
        clinician's per-resident override, not a default.
    min_duration_s : how long SpO2 must stay in the band; short dips from motion are the commonest
        false oximetry alarm.
    hysteresis_pct : margin back above the band needed to end a run.
    max_gap_s : a longer gap between usable samples ends the run.
    min_signal_quality : unused by oximeters without a quality score; kept for a common gate.

    References
    ----------
    Royal College of Physicians. National Early Warning Score (NEWS) 2. London: RCP, 2017
    (SpO2 scale 1: <=91 % scores 3).
    """

    name = "spo2_sustained"
    version = "1"
    metrics = frozenset({Metric.SPO2, Metric.PROBE_STATE, Metric.SIGNAL_QUALITY})
    vital = Metric.SPO2
    high_kind = None
    low_kind = "hypoxemia"
    unit_label = "pct"
    source = "NEWS2 (RCP 2017) SpO2 scale 1 band scoring 3"
    gate_on_presence = False
    parameter_ranges = {
        "low_pct": (80.0, 96.0),
        "min_duration_s": (1.0, 3600.0),
        "hysteresis_pct": (0.0, 5.0),
        "max_gap_s": (1.0, 600.0),
        "min_signal_quality": (0.0, 1.0),
    }

    def __init__(
        self,
        *,
        low_pct: float = 91.0,
        min_duration_s: float = 60.0,
        hysteresis_pct: float = 1.0,
        max_gap_s: float = 30.0,
        min_signal_quality: float = 0.5,
    ) -> None:
        self.low_pct = low_pct
        self.min_duration_s = min_duration_s
        self.hysteresis_pct = hysteresis_pct
        self.max_gap_s = max_gap_s
        self.min_signal_quality = min_signal_quality

    def _bands(self) -> tuple[float | None, float | None]:
        return None, self.low_pct

    def _margin(self) -> float:
        return self.hysteresis_pct
