"""Streaming runner: per-resident detector state fed in time order; the batch path uses it too.

Out-of-order input. The streaming service reads readings in commit order, which is not device-time
order (devices batch samples, ingest batches messages, a pillow's data may commit after the
mattress's). Each resident has a small reorder buffer: a sample is held until the resident's
newest timestamp is `reorder_s` past it, then released in a fixed order (time, context metrics
first, device, metric). Duplicates (same device, metric and time) collapse in the buffer, and a
sample arriving after its resident's released time is counted in `late_samples` and skipped. The
batch runner uses the same class and releases everything at the end (`flush`), so both give the
same findings whenever the input is at most `reorder_s` out of order.

Stream time for detectors that need it (`uses_clock`, e.g. device silence) is the newest released
timestamp over all residents, ticked at fixed `clock_tick_s` boundaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from analytics import _registry
from analytics._types import Finding, ResidentSample
from devices import Metric

# Context metrics first at equal timestamps, so a detector sees presence, signal quality, cuff and
# probe status before the vital sign measured at the same instant.
_CONTEXT_FIRST = {
    Metric.BED_PRESENCE: 0,
    Metric.SIGNAL_QUALITY: 0,
    Metric.CUFF_STATUS: 0,
    Metric.PROBE_STATE: 0,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Detector(Protocol):
    name: str
    version: str

    def new_state(self) -> Any: ...

    def update(self, state: Any, sample: ResidentSample) -> Finding | None: ...


def default_detectors() -> tuple[Detector, ...]:
    """One instance of every detector with its default (medium-risk) parameters."""
    return _registry.default_detectors()


def _order(sample: ResidentSample) -> tuple[datetime, int, str, str, str, float]:
    # Residents interleave by time, so clock ticks fall at the same points whatever the batching.
    return (
        sample.ts,
        _CONTEXT_FIRST.get(sample.metric, 1),
        sample.resident_id,
        sample.device_id,
        sample.metric.value,
        sample.value,
    )


@dataclass(slots=True)
class _Resident:
    detectors: tuple[Detector, ...]
    dispatch: dict[Metric, tuple[tuple[Detector, Any], ...]]
    pending: dict[tuple[str, Metric, datetime], ResidentSample] = field(default_factory=dict)
    newest: datetime | None = None
    released: datetime | None = None
    released_keys: set[tuple[str, Metric, datetime]] = field(default_factory=set)
    clocked: tuple[tuple[Any, Any], ...] = ()


_Dispatch = dict[Metric, tuple[tuple[Detector, Any], ...]]


def _dispatch(detectors: Sequence[Detector]) -> tuple[_Dispatch, tuple[tuple[Any, Any], ...]]:
    """Per metric, the detectors that read it with their per-resident state; and those that also
    need stream time."""
    table: dict[Metric, list[tuple[Detector, Any]]] = {}
    clocked = []
    for detector in detectors:
        state = detector.new_state()
        wanted = getattr(detector, "metrics", None) or frozenset(Metric)
        for metric in Metric:
            if metric in wanted:
                table.setdefault(metric, []).append((detector, state))
        if getattr(detector, "uses_clock", False):
            clocked.append((detector, state))
    return {metric: tuple(pairs) for metric, pairs in table.items()}, tuple(clocked)


class StreamRunner:
    """Keeps each resident's detector state and reorder buffer (see the module docstring)."""

    def __init__(
        self,
        detectors: Sequence[Detector],
        *,
        profiles: Mapping[str, Sequence[Detector]] | None = None,
        reorder_s: float = 0.0,
        clock_tick_s: float = 10.0,
    ) -> None:
        self._detectors = tuple(detectors)
        self._profiles = {r: tuple(d) for r, d in (profiles or {}).items()}
        self._reorder = timedelta(seconds=reorder_s)
        self._tick_s = clock_tick_s
        self._residents: dict[str, _Resident] = {}
        self._next_tick: datetime | None = None
        self.late_samples = 0
        self.duplicate_samples = 0

    def detectors_for(self, resident_id: str) -> tuple[Detector, ...]:
        return self._profiles.get(resident_id, self._detectors)

    def set_profile(self, resident_id: str, detectors: Sequence[Detector]) -> None:
        """Use these detectors for one resident from now on; its detector state starts afresh."""
        self._profiles[resident_id] = tuple(detectors)
        resident = self._residents.get(resident_id)
        if resident is not None:
            resident.detectors = tuple(detectors)
            resident.dispatch, resident.clocked = _dispatch(resident.detectors)

    def _resident(self, resident_id: str) -> _Resident:
        resident = self._residents.get(resident_id)
        if resident is None:
            detectors = self.detectors_for(resident_id)
            table, clocked = _dispatch(detectors)
            resident = self._residents[resident_id] = _Resident(detectors, table, clocked=clocked)
        return resident

    def feed(self, samples: Iterable[ResidentSample]) -> list[Finding]:
        """Buffer samples; run the detectors on those the reorder window has released."""
        touched: set[str] = set()
        for sample in samples:
            resident = self._resident(sample.resident_id)
            key = (sample.device_id, sample.metric, sample.ts)
            released = resident.released
            if released is not None and sample.ts <= released:
                if sample.ts < released:
                    self.late_samples += 1
                    continue
                if key in resident.released_keys:
                    self.duplicate_samples += 1
                    continue
            existing = resident.pending.get(key)
            if existing is not None:
                self.duplicate_samples += 1
                if existing.value <= sample.value:  # deterministic whatever the arrival order
                    continue
            resident.pending[key] = sample
            if resident.newest is None or sample.ts > resident.newest:
                resident.newest = sample.ts
            touched.add(sample.resident_id)
        return self._release(touched, final=False)

    def flush(self) -> list[Finding]:
        """Release every buffered sample (end of a batch, or a stream that has stopped)."""
        return self._release(set(self._residents), final=True)

    def _release(self, resident_ids: set[str], *, final: bool) -> list[Finding]:
        ready: list[ResidentSample] = []
        for resident_id in resident_ids:
            resident = self._residents[resident_id]
            if not resident.pending or resident.newest is None:
                continue
            if final:
                out = list(resident.pending.values())
                resident.pending = {}
            else:
                horizon = resident.newest - self._reorder
                out = [s for s in resident.pending.values() if s.ts <= horizon]
                if not out:
                    continue
                for s in out:
                    del resident.pending[(s.device_id, s.metric, s.ts)]
            ready.extend(out)
        ready.sort(key=_order)
        findings: list[Finding] = []
        for sample in ready:
            self._tick(sample.ts, findings)
            resident = self._residents[sample.resident_id]
            if resident.released is None or sample.ts > resident.released:
                resident.released = sample.ts
                resident.released_keys = set()
            resident.released_keys.add((sample.device_id, sample.metric, sample.ts))
            for detector, state in resident.dispatch.get(sample.metric, ()):
                finding = detector.update(state, sample)
                if finding is not None:
                    findings.append(finding)
        findings.sort(key=lambda f: (f.detected_at, f.resident_id, f.kind))
        return findings

    def _tick(self, ts: datetime, findings: list[Finding]) -> None:
        if self._next_tick is None:
            self._next_tick = self._boundary_after(ts)
            return
        if ts < self._next_tick:
            return
        now = self._boundary_after(ts) - timedelta(seconds=self._tick_s)
        self._next_tick = now + timedelta(seconds=self._tick_s)
        for resident in self._residents.values():
            for detector, state in resident.clocked:
                findings.extend(detector.on_clock(state, now))

    def _boundary_after(self, ts: datetime) -> datetime:
        seconds = (ts - _EPOCH).total_seconds()
        return _EPOCH + timedelta(seconds=(seconds // self._tick_s + 1) * self._tick_s)
