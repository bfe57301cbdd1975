"""Gradual deterioration against the resident's own baseline (scikit-learn)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sklearn.base import OutlierMixin, clone
from sklearn.covariance import EmpiricalCovariance
from sklearn.utils.validation import check_is_fitted, validate_data

from analytics._base import BaseDetector
from analytics._types import Channel, Finding, ResidentSample, Severity
from devices import Metric

FEATURES = ("heart_rate", "respiration_rate")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class _Window:
    index: int
    hr_sum: float = 0.0
    hr_n: int = 0
    rr_sum: float = 0.0
    rr_n: int = 0


@dataclass(slots=True)
class DeteriorationState:
    in_bed: bool | None = None
    quality: dict[str, float] = field(default_factory=dict)
    window: _Window | None = None
    baseline: list[tuple[float, float]] = field(default_factory=list)
    model: Any = None
    abnormal_run: list[tuple[int, float, float, float]] = field(default_factory=list)
    normal_streak: int = 0
    fired: bool = False
    device_id: str = ""


class BaselineDeterioration(OutlierMixin, BaseDetector):  # type: ignore[misc]
    """Sustained drift of in-bed heart and respiration rate away from the resident's own baseline.

    Features are per-window means of heart rate and respiration rate (`window_s`, in bed, usable
    signal). The first `baseline_windows` complete windows are the resident's baseline: an
    `EmpiricalCovariance` is fitted to them, each variance floored at `min_scale_*` squared (so a
    very steady resident does not alarm on ordinary variation); the Mahalanobis distance of a
    new window is its abnormality. Following scikit-learn's outlier
    detectors, `score_samples` is minus the distance (lower = more abnormal), `decision_function`
    is `score_samples - offset_` with `offset_ = -threshold`, and `predict` returns -1/+1. A
    finding needs `consecutive_windows` abnormal windows in a row: a trend, not a spike.

    Single-sample thresholds (NEWS2 score-3 bands) fire only when a parameter is far out of range;
    a personal baseline sees a rise from 65 to 90 /min long before it reaches 131.

    Parameters
    ----------
    window_s : feature window length.
    min_samples : fewer usable samples of a feature in a window and the window is skipped.
    baseline_windows : complete windows that form the baseline (36 x 10 min = 6 h).
    threshold : Mahalanobis distance (standardised units) beyond which a window is abnormal.
    consecutive_windows : abnormal windows in a row needed for a finding.
    min_scale_hr, min_scale_rr : floors on the baseline standard deviations (/min).
    min_signal_quality : bed-sensor samples below this quality are ignored.

    References
    ----------
    Pimentel MAF, Clifton DA, Tarassenko L. Modelling physiological deterioration in
    post-operative patient vital-sign data. Med Biol Eng Comput 2013;51:869-877
    (patient-specific models detect deterioration earlier than population thresholds).
    Kellett J, Sebat F. Make vital signs great again - a call for action. Eur J Intern Med
    2017;45:13-19 (trends over single values).
    Royal College of Physicians. NEWS2, 2017 (the single-parameter bands this is measured against).
    """

    name = "baseline_deterioration"
    version = "1"
    metrics = frozenset(
        {Metric.HEART_RATE, Metric.RESPIRATION_RATE, Metric.BED_PRESENCE, Metric.SIGNAL_QUALITY}
    )
    parameter_ranges = {
        "window_s": (60.0, 7200.0),
        "min_samples": (1.0, 7200.0),
        "baseline_windows": (3.0, 1000.0),
        "threshold": (1.0, 20.0),
        "consecutive_windows": (1.0, 50.0),
        "min_scale_hr": (0.0, 20.0),
        "min_scale_rr": (0.0, 10.0),
        "min_signal_quality": (0.0, 1.0),
    }

    def __init__(
        self,
        *,
        window_s: float = 600.0,
        min_samples: float = 60.0,
        baseline_windows: float = 36.0,
        threshold: float = 4.0,
        consecutive_windows: float = 3.0,
        min_scale_hr: float = 5.0,
        min_scale_rr: float = 1.5,
        min_signal_quality: float = 0.5,
    ) -> None:
        self.window_s = window_s
        self.min_samples = min_samples
        self.baseline_windows = baseline_windows
        self.threshold = threshold
        self.consecutive_windows = consecutive_windows
        self.min_scale_hr = min_scale_hr
        self.min_scale_rr = min_scale_rr
        self.min_signal_quality = min_signal_quality

    # --- scikit-learn estimator API over feature rows (hr_mean, rr_mean) ---

    def fit(self, X: Any, y: Any = None) -> BaselineDeterioration:  # noqa: N803
        """Fit the baseline on feature rows (heart rate, respiration rate)."""
        self.check_params()
        X = validate_data(self, X, ensure_min_samples=2)
        model = EmpiricalCovariance().fit(X)
        # Floor each variance, so a very steady resident does not alarm on ordinary variation.
        floors = np.zeros(X.shape[1])
        floors[:2] = np.array([self.min_scale_hr, self.min_scale_rr])[: X.shape[1]] ** 2
        variances = np.diag(model.covariance_)
        model._set_covariance(model.covariance_ + np.diag(np.maximum(floors - variances, 0.0)))
        self.covariance_model_ = model
        self.offset_ = -float(self.threshold)
        return self

    def score_samples(self, X: Any) -> np.ndarray:  # noqa: N803
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return -np.sqrt(self.covariance_model_.mahalanobis(X))

    def decision_function(self, X: Any) -> np.ndarray:  # noqa: N803
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        return np.where(self.decision_function(X) < 0, -1, 1)

    # --- streaming ---

    def new_state(self) -> DeteriorationState:
        return DeteriorationState()

    def update(self, state: DeteriorationState, sample: ResidentSample) -> Finding | None:
        metric = sample.metric
        if metric is Metric.BED_PRESENCE:
            state.in_bed = sample.value >= 0.5
            return None
        if metric is Metric.SIGNAL_QUALITY:
            state.quality[sample.device_id] = sample.value
            return None
        if state.in_bed is False:
            return None
        if state.quality.get(sample.device_id, 1.0) < self.min_signal_quality:
            return None
        index = int((sample.ts - _EPOCH).total_seconds() // self.window_s)
        finding = None
        window = state.window
        if window is None or window.index != index:
            if window is not None:
                finding = self._close(state, window, sample)
            window = state.window = _Window(index)
        if metric is Metric.HEART_RATE:
            window.hr_sum += sample.value
            window.hr_n += 1
            state.device_id = sample.device_id
        else:
            window.rr_sum += sample.value
            window.rr_n += 1
        return finding

    def _close(
        self, state: DeteriorationState, window: _Window, sample: ResidentSample
    ) -> Finding | None:
        if window.hr_n < self.min_samples or window.rr_n < self.min_samples:
            return None
        row = (window.hr_sum / window.hr_n, window.rr_sum / window.rr_n)
        if state.model is None:
            state.baseline.append(row)
            if len(state.baseline) >= self.baseline_windows:
                state.model = clone(self).fit(np.array(state.baseline))
            return None
        score = float(state.model.decision_function(np.array([row]))[0])
        if score >= 0:
            state.normal_streak += 1
            if state.normal_streak >= self.consecutive_windows:
                state.abnormal_run.clear()
                state.fired = False
            return None
        state.normal_streak = 0
        state.abnormal_run.append((window.index, row[0], row[1], score))
        if state.fired or len(state.abnormal_run) < self.consecutive_windows:
            return None
        state.fired = True
        run = state.abnormal_run[-int(self.consecutive_windows) :]
        start = _EPOCH + timedelta(seconds=run[0][0] * self.window_s)
        end = _EPOCH + timedelta(seconds=(window.index + 1) * self.window_s)
        baseline = np.array(state.baseline)
        return Finding(
            resident_id=sample.resident_id,
            device_id=state.device_id or sample.device_id,
            kind="deterioration",
            severity=Severity.MEDIUM,
            channel=Channel.CLINICAL,
            started_at=start,
            detected_at=sample.ts,
            detector=self.name,
            detector_version=self.version,
            evidence={
                "features": list(FEATURES),
                "baseline_mean": [round(float(v), 1) for v in baseline.mean(axis=0)],
                "baseline_windows": len(baseline),
                "windows": [
                    {
                        "start": (_EPOCH + timedelta(seconds=i * self.window_s)).isoformat(),
                        "heart_rate": round(hr, 1),
                        "respiration_rate": round(rr, 1),
                        "distance": round(self.threshold - s, 2),
                    }
                    for i, hr, rr, s in run
                ],
                "threshold": self.threshold,
                "window_start": start.isoformat(),
                "window_end": end.isoformat(),
                "source": "personal baseline (Pimentel 2013); NEWS2 bands as comparator",
            },
        )
