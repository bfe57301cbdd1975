"""The detector protocol: scikit-learn estimator conventions plus a streaming `update`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from sklearn.base import BaseEstimator

from analytics._types import Finding, ResidentSample
from devices import Metric


class BaseDetector(BaseEstimator):  # type: ignore[misc]
    """A pure detector: parameters in a keyword-only constructor that only stores them.

    Per-resident streaming state lives in the object `new_state()` returns, never on the detector,
    so one detector instance serves every resident, and `clone`/`pickle` keep working. Time comes
    only from the samples. `fit` validates the parameters against `parameter_ranges` (and, for
    learned detectors, fits a baseline); learned attributes end in `_`.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    # Metrics the detector reads; the runner passes it nothing else.
    metrics: ClassVar[frozenset[Metric]]
    parameter_ranges: ClassVar[Mapping[str, tuple[float, float]]]
    # True when the detector also needs the passage of stream time (`on_clock`).
    uses_clock: ClassVar[bool] = False

    def check_params(self) -> None:
        """Raise ValueError naming any parameter outside its declared range."""
        for name, (low, high) in self.parameter_ranges.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{type(self).__name__}.{name}={value} not in [{low}, {high}]")

    def fit(self, X: Any = None, y: Any = None) -> BaseDetector:  # noqa: N803 - sklearn naming
        """Rule-based detectors learn nothing: fitting validates the parameters."""
        self.check_params()
        return self

    def new_state(self) -> Any:
        raise NotImplementedError

    def update(self, state: Any, sample: ResidentSample) -> Finding | None:
        raise NotImplementedError

    def on_clock(self, state: Any, now: datetime) -> list[Finding]:
        """Called as stream time passes (only when `uses_clock`)."""
        return []
