"""The ingest service: MQTT callback → bounded queue → batch writer → commit → acknowledge.

The callback only decodes and validates; the writer thread owns the database connection. Messages
are acknowledged to the broker (QoS 1, persistent session, manual acks) only after their batch
committed, so anything not yet stored is still held by the broker if ingest dies.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeAlias

import paho.mqtt.client as paho
import psycopg
from psycopg.types.json import Jsonb

from devices import Topics
from eldercare.db import connect, current_backend
from eldercare.errors import ServiceError, StorageError
from eldercare.mqtt import connect as mqtt_connect
from eldercare.mqtt import make_client
from eldercare.settings import Settings
from ingest._availability import MIN_SILENCE, sweep_silence
from ingest._decode import decode
from ingest._metrics import IngestCounters, IngestStats, MetricsServer, metrics_registry
from ingest._records import Decoded, RawMessage, Rejected
from ingest._writer import WriteResult, load_device_sites, write_batch

log = logging.getLogger(__name__)

CommitHandler: TypeAlias = Callable[[Sequence[Decoded], datetime], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestOptions:
    client_id: str = "eldercare-ingest"
    batch_size: int = 2000
    batch_age_s: float = 0.1
    # A batch also closes when no message came for this long: with a broker that caps unacknowledged
    # messages in flight (Debian's mosquitto: 20), waiting out batch_age_s would cap throughput.
    batch_idle_s: float = 0.02
    queue_size: int = 20_000
    device_refresh_s: float = 1.0
    shared_group: str | None = None
    silence_check_s: float = 5.0
    # No silence verdicts right after start: the broker's backlog must drain first.
    silence_grace_s: float = MIN_SILENCE.total_seconds()
    snapshot_interval_s: float = 1.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0  # 0: no /metrics server

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> IngestOptions:
        ingest = settings.ingest
        values: dict[str, Any] = {
            "batch_size": ingest.batch_size,
            "batch_age_s": ingest.batch_age_ms / 1000,
            "queue_size": ingest.queue_size,
            "shared_group": ingest.shared_group,
            "metrics_host": ingest.metrics_host,
            "metrics_port": ingest.metrics_port,
        }
        values.update(overrides)
        return cls(**values)


_SNAPSHOT = """
INSERT INTO ingest_workers (worker_id, started_at, updated_at, counters)
VALUES (%s, %s, %s, %s)
ON CONFLICT (worker_id) DO UPDATE SET
    started_at = excluded.started_at, updated_at = excluded.updated_at, counters = excluded.counters
"""
# Errors after which the same batch is simply written again (nothing is wrong with its content).
_RETRY = (psycopg.OperationalError, psycopg.errors.TransactionRollback, StorageError)


class IngestService:
    def __init__(
        self,
        settings: Settings,
        *,
        options: IngestOptions | None = None,
        clock: Callable[[], datetime] = utc_now,
        on_commit: CommitHandler | None = None,
    ) -> None:
        """`on_commit(batch, committed_at)` runs in the writer thread after each commit (keep it
        cheap): the hand-off point for in-process consumers and the end-to-end benchmark."""
        self._settings = settings
        self._on_commit = on_commit
        self._options = options or IngestOptions()
        self._clock = clock
        self._topics = Topics(settings.mqtt.namespace)
        self._queue: queue.Queue[Decoded] = queue.Queue(maxsize=self._options.queue_size)
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        self._writer: threading.Thread | None = None
        self._client: paho.Client | None = None
        self._metrics: MetricsServer | None = None
        # Bumped on every (re)connection: a message id is only valid in the connection that
        # delivered it, so messages of an older connection are stored but not acknowledged (the
        # broker re-sends them, and the re-sent copy is acknowledged).
        self._session = 0
        self._started_at = self._clock()
        self.stats = IngestStats()
        self.counters: IngestCounters = self.stats.counters
        self.worker_id = f"{self._options.client_id}@{socket.gethostname()}:{os.getpid()}"

    @property
    def metrics_port(self) -> int | None:
        return self._metrics.port if self._metrics is not None else None

    def subscription(self) -> str:
        topic_filter = self._topics.subscription()
        group = self._options.shared_group
        return f"$share/{group}/{topic_filter}" if group else topic_filter

    def start(self) -> None:
        url = self._require_db_url()
        with connect(url) as conn:
            self._backend = current_backend(conn)
        self._started_at = self._clock()
        if self._options.metrics_port:
            registry = metrics_registry(self.stats, self._queue.qsize)
            try:
                self._metrics = MetricsServer(
                    registry, host=self._options.metrics_host, port=self._options.metrics_port
                )
                log.info("ingest metrics on :%d/metrics", self._metrics.port)
            except OSError as exc:  # metrics are an aid; ingest runs without them
                log.warning("no /metrics server on port %d: %s", self._options.metrics_port, exc)
        client = make_client(
            self._settings.mqtt, client_id=self._options.client_id, persistent_session=True
        )
        client.manual_ack_set(True)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._writer.start()
        mqtt_connect(client, self._settings.mqtt)
        # Return once the broker holds the subscription: from then on it keeps every message for us.
        if not self._subscribed.wait(10):
            raise ServiceError(f"the broker did not confirm the subscription {self.subscription()}")
        log.info("ingest subscribed to %s", self.subscription())

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then disconnect; unacknowledged messages stay with the broker."""
        self._stopping.set()
        if self._writer is not None:
            self._writer.join(timeout)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None

    def run(self, stop: threading.Event) -> None:
        """Run until `stop` is set; raise if the writer died, so a supervisor restarts ingest
        (everything not committed is still unacknowledged at the broker)."""
        self.start()
        try:
            while not stop.wait(1.0):
                if self._writer is not None and not self._writer.is_alive():
                    raise StorageError("the ingest writer stopped unexpectedly (see the log)")
        finally:
            self.stop()

    def queue_depth(self) -> int:
        return self._queue.qsize()

    # -- MQTT thread -------------------------------------------------------------------------

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if not reason.is_failure:
            self._session += 1
            client.subscribe(self.subscription(), qos=1)

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        if all(not reason.is_failure for reason in reasons):
            self._subscribed.set()
        else:
            log.error("subscription %s refused: %s", self.subscription(), reasons)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # brokers refuse such topics; kept, not fatal, if one slips by
            topic = msg._topic.decode("utf-8", "backslashreplace")
        raw = RawMessage(
            topic=topic,
            payload=bytes(msg.payload),
            qos=msg.qos,
            mid=msg.mid,
            received_at=self._clock(),
            session=self._session,
        )
        try:
            item = decode(raw, self._topics)
        except Exception as exc:  # a decoder bug must not lose the message
            log.exception("decoder failed on %s", msg.topic)
            item = Rejected(raw, f"internal decoder error: {exc!r}")
        self.counters.received += 1
        # Queue full: block the network thread (backpressure). With QoS 1 and a persistent
        # session the broker holds the backlog; nothing is dropped.
        while True:
            if self._stopping.is_set():
                # Not acknowledged: the broker re-sends it to the next session.
                self.counters.dropped_on_stop += 1
                return
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                self.counters.queue_full_waits += 1

    # -- writer thread -----------------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            self._write_forever()
        except Exception:
            log.critical(
                "ingest writer failed; nothing uncommitted was acknowledged", exc_info=True
            )
            raise

    def _write_forever(self) -> None:
        conn: psycopg.Connection | None = None
        device_sites: dict[str, str] = {}
        refreshed_at = 0.0
        housekeeping_at = {"silence": time.monotonic(), "snapshot": 0.0}
        while not (self._stopping.is_set() and self._queue.empty()):
            batch = self._take_batch()
            if batch:
                attempt = 0
                while True:
                    try:
                        if conn is None or conn.closed:
                            conn = connect(self._require_db_url())
                            refreshed_at = 0.0
                        unknown = any(
                            not isinstance(item, Rejected) and item.device_id not in device_sites
                            for item in batch
                        )
                        stale = time.monotonic() - refreshed_at > self._options.device_refresh_s
                        if unknown and stale:
                            device_sites = load_device_sites(conn)
                            conn.commit()
                            refreshed_at = time.monotonic()
                        began = time.monotonic()
                        result = self._write(conn, batch, device_sites)
                        self.stats.batch_latency.add(time.monotonic() - began)
                        break
                    except _RETRY as exc:
                        # Database down or a deadlock: keep the batch and retry; the queue fills
                        # and backpressure reaches the broker, which keeps what we did not ack.
                        attempt += 1
                        self.counters.write_failures += 1
                        log.warning("batch write failed (attempt %d), retrying: %s", attempt, exc)
                        if conn is not None and isinstance(exc, psycopg.OperationalError):
                            conn.close()
                            conn = None
                        time.sleep(min(2.0, 0.1 * attempt))
                committed = self._clock()
                self._acknowledge(batch)
                if self._on_commit is not None:
                    self._on_commit(batch, committed)
                oldest = min(item.message.received_at for item in batch)
                self.stats.commit_latency.add((committed - oldest).total_seconds())
                self.counters.batches += 1
                self.counters.readings_stored += result.readings_stored
                self.counters.duplicates += result.readings_offered - result.readings_stored
                self.counters.quarantined += result.quarantined
                self.counters.statuses += result.statuses
                self.counters.events += result.events
            if conn is not None and not conn.closed:
                self._housekeeping(conn, housekeeping_at, caught_up=len(batch) == 0)
        if conn is not None and not conn.closed:
            self._housekeeping(conn, housekeeping_at, caught_up=False, final=True)
            conn.close()

    def _housekeeping(
        self,
        conn: psycopg.Connection,
        last: dict[str, float],
        *,
        caught_up: bool,
        final: bool = False,
    ) -> None:
        """Silence sweep (only when the queue is drained) and the counters snapshot."""
        now = time.monotonic()
        try:
            since_start = (self._clock() - self._started_at).total_seconds()
            if (
                caught_up
                and self._queue.empty()
                and since_start >= self._options.silence_grace_s
                and now - last["silence"] >= self._options.silence_check_s
            ):
                last["silence"] = now
                self.counters.events += len(sweep_silence(conn, now=self._clock()))
            if final or now - last["snapshot"] >= self._options.snapshot_interval_s:
                last["snapshot"] = now
                snapshot = self.stats.snapshot(queue_depth=self._queue.qsize())
                row = (self.worker_id, self._started_at, self._clock(), Jsonb(snapshot))
                with conn.transaction():
                    conn.execute(_SNAPSHOT, row)
        except psycopg.Error as exc:  # the next batch write notices a lost connection
            log.warning("ingest housekeeping failed: %s", exc)

    def _write(
        self, conn: psycopg.Connection, batch: list[Decoded], device_sites: dict[str, str]
    ) -> WriteResult:
        try:
            return write_batch(conn, batch, device_sites=device_sites, backend=self._backend)
        except _RETRY:
            raise
        except psycopg.Error as exc:
            # The database refused something in this batch: write item by item so one bad
            # message cannot hold back the valid ones; the refused one is quarantined.
            log.warning("batch refused (%s); writing message by message", exc)
        results = []
        for item in batch:
            try:
                results.append(
                    write_batch(conn, [item], device_sites=device_sites, backend=self._backend)
                )
            except _RETRY:
                raise
            except psycopg.Error as exc:
                message = item.message
                if "\x00" in message.topic:  # text columns cannot hold NUL; keep it visible
                    message = replace(message, topic=message.topic.replace("\x00", "\\x00"))
                refused = Rejected(message, f"database refused the message: {exc}")
                results.append(
                    write_batch(conn, [refused], device_sites=device_sites, backend=self._backend)
                )
        return WriteResult(
            readings_offered=sum(r.readings_offered for r in results),
            readings_stored=sum(r.readings_stored for r in results),
            quarantined=sum(r.quarantined for r in results),
            statuses=sum(r.statuses for r in results),
            events=sum(r.events for r in results),
        )

    def _take_batch(self) -> list[Decoded]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self._options.batch_age_s
        while len(batch) < self._options.batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=min(remaining, self._options.batch_idle_s)))
            except queue.Empty:
                break
        return batch

    def _acknowledge(self, batch: list[Decoded]) -> None:
        assert self._client is not None
        session = self._session
        for item in batch:
            if item.message.qos > 0 and item.message.session == session:
                self._client.ack(item.message.mid, item.message.qos)

    def _require_db_url(self) -> str:
        url = self._settings.database.url
        if url is None:
            raise StorageError("no database URL configured")
        return url
