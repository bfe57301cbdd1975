"""One conformance suite for every detector in `analytics` (discovered, not listed by hand)."""

from __future__ import annotations

import functools
import importlib
import inspect
import pickle
import pkgutil
import warnings
from datetime import timedelta

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import SkipTestWarning
from sklearn.utils.estimator_checks import (
    check_estimator,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

import analytics
from analytics import DETECTOR_CLASSES, BaseDetector, Channel, ResidentSample, StreamRunner
from devices import PLAUSIBLE_RANGES, Metric
from tests.analytics.support import at


def _discover() -> list[type[BaseDetector]]:
    """Every concrete BaseDetector subclass defined in an analytics module."""
    found: dict[str, type[BaseDetector]] = {}
    for info in pkgutil.iter_modules(analytics.__path__):
        module = importlib.import_module(f"analytics.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, BaseDetector)
                and obj is not BaseDetector
                and obj.__module__ == module.__name__
                and "name" in vars(obj)
            ):
                found[obj.__qualname__] = obj
    return sorted(found.values(), key=lambda cls: cls.__name__)


DETECTORS = _discover()
ids = [cls.__name__ for cls in DETECTORS]


def test_discovery_finds_every_registered_detector() -> None:
    assert set(DETECTORS) == set(DETECTOR_CLASSES)
    assert len({cls.name for cls in DETECTORS}) == len(DETECTORS)


@functools.cache
def _noisy(seconds: int, seed: int) -> tuple[ResidentSample, ...]:
    return tuple(_make_noisy_stream(seconds, seed))


def _noisy_stream(seconds: int = 600, seed: int = 3) -> list[ResidentSample]:
    return list(_noisy(seconds, seed))


def _make_noisy_stream(seconds: int, seed: int) -> list[ResidentSample]:
    """Every metric at 1 Hz with values across its plausible range: detectors must cope."""
    rng = np.random.default_rng(seed)
    out = []
    for second in range(seconds):
        for metric in Metric:
            plausible = PLAUSIBLE_RANGES[metric]
            value = float(rng.uniform(plausible.low, plausible.high))
            if metric in (Metric.BED_PRESENCE,):
                value = float(second % 400 < 300)
            out.append(
                ResidentSample(
                    ts=at(second), resident_id="r1", device_id="dev-1", metric=metric, value=value
                )
            )
    return out


@pytest.mark.parametrize("cls", DETECTORS, ids=ids)
def test_constructor_is_keyword_only_with_defaults_and_declared_ranges(
    cls: type[BaseDetector],
) -> None:
    parameters = inspect.signature(cls.__init__).parameters
    names = [p for p in parameters if p != "self"]
    for name in names:
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert parameters[name].default is not inspect.Parameter.empty, name
    assert set(names) == set(cls.parameter_ranges)
    detector = cls()
    detector.check_params()
    if not hasattr(cls, "score_samples"):  # rule-based: fitting only validates the parameters
        assert detector.fit() is detector


@pytest.mark.parametrize("cls", DETECTORS, ids=ids)
def test_sklearn_parameter_conventions(cls: type[BaseDetector]) -> None:
    name = cls.__name__
    check_parameters_default_constructible(name, cls())
    check_no_attributes_set_in_init(name, cls())
    check_get_params_invariance(name, cls())
    check_set_params(name, cls())


@pytest.mark.parametrize("cls", DETECTORS, ids=ids)
def test_out_of_range_parameters_are_rejected_when_checked_not_when_stored(
    cls: type[BaseDetector],
) -> None:
    for name, (low, high) in cls.parameter_ranges.items():
        detector = cls(**{name: high + 1})
        assert getattr(detector, name) == high + 1
        with pytest.raises(ValueError, match=rf"{cls.__name__}\.{name}="):
            detector.check_params()
        with pytest.raises(ValueError):
            cls(**{name: low - 1}).check_params()


@pytest.mark.parametrize("cls", DETECTORS, ids=ids)
def test_docstring_cites_references_and_describes_parameters(cls: type[BaseDetector]) -> None:
    doc = inspect.getdoc(cls) or ""
    assert "References\n----------" in doc
    assert "Parameters\n----------" in doc
    for name in cls.parameter_ranges:
        assert name in doc, f"{cls.__name__} does not document {name}"


@pytest.mark.parametrize("cls", DETECTORS, ids=ids)
def test_clone_and_pickle_keep_parameters_and_state(cls: type[BaseDetector]) -> None:
    detector = cls()
    copy = clone(detector)
    assert copy is not detector and copy.get_params() == detector.get_params()
    restored = pickle.loads(pickle.dumps(detector))
    assert restored.get_params() == detector.get_params()
    state = detector.new_state()
    for s in _noisy_stream(120):
        if s.metric in cls.metrics:
            detector.update(state, s)
    assert type(pickle.loads(pickle.dumps(state))) is type(state)


@pytest.mark.parametrize("cls", DETECTORS, ids=ids)
def test_findings_are_well_formed_and_deterministic_on_noisy_data(
    cls: type[BaseDetector],
) -> None:
    stream = _noisy_stream()
    first = StreamRunner([cls()]).feed(stream)
    again = StreamRunner([cls()]).feed(list(reversed(stream)))
    assert first == again
    for finding in first:
        assert finding.detector == cls.name and finding.detector_version == cls.version
        assert finding.started_at <= finding.detected_at
        assert {"window_start", "window_end", "source"} <= set(finding.evidence)
        assert isinstance(finding.channel, Channel)


@pytest.mark.parametrize("cls", DETECTORS, ids=ids)
def test_time_comes_from_the_data(cls: type[BaseDetector]) -> None:
    """Shifting the input by whole weeks shifts the findings and changes nothing else."""
    stream = _noisy_stream()
    shift = timedelta(days=7 * 520)
    moved = [
        ResidentSample(
            ts=s.ts + shift,
            resident_id=s.resident_id,
            device_id=s.device_id,
            metric=s.metric,
            value=s.value,
        )
        for s in stream
    ]
    base = StreamRunner([cls()]).feed(stream)
    later = StreamRunner([cls()]).feed(moved)
    assert [(f.kind, f.detected_at + shift) for f in base] == [
        (f.kind, f.detected_at) for f in later
    ]


def test_data_quality_detectors_never_use_the_clinical_channel() -> None:
    from analytics import DeviceSilence, SignalProblems

    stream = _noisy_stream()
    stream += [
        ResidentSample(
            ts=at(2000), resident_id="r1", device_id="dev-1", metric=Metric.HEART_RATE, value=70.0
        )
    ]
    runner = StreamRunner([DeviceSilence(), SignalProblems()])
    findings = runner.feed(stream) + runner.flush()
    assert findings
    assert {f.channel for f in findings} == {Channel.DATA_QUALITY}


# scikit-learn's own estimator checks apply in full to the learned detector. Expected failures:
# its offset_ is an explicit clinical threshold (style rule: "contamination, or an explicit
# threshold, sets offset_"), so predicting on the training data need not give any outliers,
# which these two checks assume of contamination-based detectors.
EXPECTED_FAILED_CHECKS = {
    "check_outliers_fit_predict": "offset_ is an explicit threshold, not a contamination quantile",
    "check_outliers_train": "offset_ is an explicit threshold, not a contamination quantile",
}


def test_learned_detector_passes_sklearn_check_estimator() -> None:
    from analytics import BaselineDeterioration

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkipTestWarning)
        results = check_estimator(
            BaselineDeterioration(),
            expected_failed_checks=EXPECTED_FAILED_CHECKS,
            on_fail=None,
        )
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    assert not failed, failed
    outcomes = {r["check_name"]: r["status"] for r in results}
    assert all(outcomes[name] == "xfail" for name in EXPECTED_FAILED_CHECKS), outcomes
