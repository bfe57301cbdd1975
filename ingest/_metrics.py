"""Ingest counters: one state object, its Prometheus exposition and its database snapshot."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_COUNTER_HELP = {
    "received": "MQTT messages received (valid or not)",
    "readings_stored": "Readings stored (new rows)",
    "duplicates": "Readings already stored (re-delivered or repeated), not stored again",
    "quarantined": "Messages rejected and kept in quarantine with their reason",
    "statuses": "Birth/last-will status messages applied",
    "events": "Data-quality events emitted (online, offline, silent, resumed)",
    "batches": "Write transactions committed",
    "queue_full_waits": "Times the MQTT callback waited because the queue was full",
    "write_failures": "Batch writes that failed and were retried (database unavailable)",
    "dropped_on_stop": "Messages not queued because ingest was stopping (left unacknowledged)",
}


@dataclass(slots=True)
class IngestCounters:
    """Each field is written by one thread only (received, queue_full_waits, dropped_on_stop:
    the MQTT thread; the rest: the writer)."""

    received: int = 0
    readings_stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    statuses: int = 0
    events: int = 0
    batches: int = 0
    queue_full_waits: int = 0
    write_failures: int = 0
    dropped_on_stop: int = 0


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass(slots=True)
class LatencyWindow:
    """The most recent batch latencies (seconds), for p50/p99 without unbounded memory."""

    size: int = 1000
    _values: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    total_seconds: float = 0.0
    count: int = 0

    def add(self, seconds: float) -> None:
        with self._lock:
            self._values.append(seconds)
            if len(self._values) > self.size:
                self._values.popleft()
            self.total_seconds += seconds
            self.count += 1

    def summary(self) -> dict[str, float]:
        with self._lock:
            values = list(self._values)
        return {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99)}


@dataclass(slots=True)
class IngestStats:
    counters: IngestCounters = field(default_factory=IngestCounters)
    batch_latency: LatencyWindow = field(default_factory=LatencyWindow)
    commit_latency: LatencyWindow = field(default_factory=LatencyWindow)

    def snapshot(self, *, queue_depth: int) -> dict[str, object]:
        """A JSON-ready view (stored in `ingest_workers` for `eldercare status`)."""
        return {
            **asdict(self.counters),
            "queue_depth": queue_depth,
            "batch_seconds": self.batch_latency.summary(),
            "receive_to_commit_seconds": self.commit_latency.summary(),
        }


class _StatsCollector(Collector):
    def __init__(self, stats: IngestStats, queue_depth: Callable[[], int]) -> None:
        self._stats = stats
        self._queue_depth = queue_depth

    def collect(self) -> Iterator[Metric]:
        counters = asdict(self._stats.counters)
        for name, help_text in _COUNTER_HELP.items():
            family = CounterMetricFamily(f"eldercare_ingest_{name}", help_text)
            family.add_metric([], counters[name])
            yield family
        yield GaugeMetricFamily(
            "eldercare_ingest_queue_depth",
            "Messages decoded and waiting for the writer",
            value=self._queue_depth(),
        )
        for name, window, help_text in (
            ("batch_seconds", self._stats.batch_latency, "Write transaction duration"),
            (
                "receive_to_commit_seconds",
                self._stats.commit_latency,
                "Oldest message of a batch: received to committed",
            ),
        ):
            summary = window.summary()
            for quantile in ("p50", "p99"):
                yield GaugeMetricFamily(
                    f"eldercare_ingest_{name}_{quantile}",
                    f"{help_text}, {quantile} of recent batches",
                    summary[quantile],
                )
            total = CounterMetricFamily(
                f"eldercare_ingest_{name}_sum", f"{help_text}, total over all batches"
            )
            total.add_metric([], window.total_seconds)
            yield total


def metrics_registry(stats: IngestStats, queue_depth: Callable[[], int]) -> CollectorRegistry:
    """A registry of its own per service, so several services can live in one process."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_StatsCollector(stats, queue_depth))
    return registry


class MetricsServer:
    """The Prometheus `/metrics` HTTP endpoint of one ingest service."""

    def __init__(self, registry: CollectorRegistry, *, host: str, port: int) -> None:
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self.port: int = self._server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One ingest worker's last counters snapshot (from `ingest_workers`)."""

    worker_id: str
    started_at: datetime
    updated_at: datetime
    counters: dict[str, Any]


def read_worker_status(conn: psycopg.Connection) -> list[WorkerStatus]:
    rows = conn.execute(
        "SELECT worker_id, started_at, updated_at, counters FROM ingest_workers ORDER BY worker_id"
    ).fetchall()
    return [WorkerStatus(*row) for row in rows]
