"""Streaming runner: per-resident detector state fed in time order; the batch path uses it too."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from analytics._heart_rate import SustainedHeartRate
from analytics._types import Finding, ResidentSample
from devices import Metric

# Context metrics first at equal timestamps, so a detector sees presence and signal quality before
# the vital sign measured at the same instant.
_CONTEXT_FIRST = {Metric.BED_PRESENCE: 0, Metric.SIGNAL_QUALITY: 0}


class Detector(Protocol):
    name: str
    version: str

    def new_state(self) -> Any: ...

    def update(self, state: Any, sample: ResidentSample) -> Finding | None: ...


def default_detectors() -> tuple[Detector, ...]:
    return (SustainedHeartRate(),)


class StreamRunner:
    """Keeps each resident's detector state; samples older than a resident's last one are counted
    and skipped, since a streaming detector cannot go back in time."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self._detectors = tuple(detectors)
        self._states: dict[tuple[str, int], Any] = {}
        self._last_ts: dict[str, datetime] = {}
        self.late_samples = 0

    def feed(self, samples: Iterable[ResidentSample]) -> list[Finding]:
        findings = []
        ordered = sorted(
            samples, key=lambda s: (s.resident_id, s.ts, _CONTEXT_FIRST.get(s.metric, 1))
        )
        for sample in ordered:
            last = self._last_ts.get(sample.resident_id)
            if last is not None and sample.ts < last:
                self.late_samples += 1
                continue
            self._last_ts[sample.resident_id] = sample.ts
            for index, detector in enumerate(self._detectors):
                key = (sample.resident_id, index)
                state = self._states.get(key)
                if state is None:
                    state = self._states[key] = detector.new_state()
                finding = detector.update(state, sample)
                if finding is not None:
                    findings.append(finding)
        findings.sort(key=lambda f: (f.detected_at, f.resident_id, f.kind))
        return findings
