"""The ingest service: MQTT callback → bounded queue → batch writer → commit → acknowledge.

The callback only decodes and validates; the writer thread owns the database connection. Messages
are acknowledged to the broker (QoS 1, persistent session, manual acks) only after their batch
committed, so anything not yet stored is still held by the broker if ingest dies.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
import psycopg

from devices import Topics
from eldercare.db import connect, current_backend
from eldercare.errors import StorageError
from eldercare.mqtt import connect as mqtt_connect
from eldercare.mqtt import make_client
from eldercare.settings import Settings
from ingest._decode import decode
from ingest._records import Decoded, RawMessage, Rejected
from ingest._writer import WriteResult, load_device_sites, write_batch

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class IngestCounters:
    """Each field is written by one thread only (received: MQTT thread; the rest: writer)."""

    received: int = 0
    readings_stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    statuses: int = 0
    batches: int = 0
    queue_full_waits: int = 0
    write_failures: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestOptions:
    client_id: str = "eldercare-ingest"
    batch_size: int = 2000
    batch_age_s: float = 0.1
    queue_size: int = 20_000
    device_refresh_s: float = 1.0


class IngestService:
    def __init__(
        self,
        settings: Settings,
        *,
        options: IngestOptions | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._options = options or IngestOptions()
        self._clock = clock
        self._topics = Topics(settings.mqtt.namespace)
        self._queue: queue.Queue[Decoded] = queue.Queue(maxsize=self._options.queue_size)
        self._stopping = threading.Event()
        self._writer: threading.Thread | None = None
        self._client: paho.Client | None = None
        self.counters = IngestCounters()

    def start(self) -> None:
        url = self._require_db_url()
        with connect(url) as conn:
            self._backend = current_backend(conn)
        client = make_client(
            self._settings.mqtt, client_id=self._options.client_id, persistent_session=True
        )
        client.manual_ack_set(True)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        self._client = client
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._writer.start()
        mqtt_connect(client, self._settings.mqtt)
        log.info("ingest subscribed to %s", self._topics.subscription())

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then disconnect; unacknowledged messages stay with the broker."""
        self._stopping.set()
        if self._writer is not None:
            self._writer.join(timeout)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()

    # -- MQTT thread -------------------------------------------------------------------------

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if not reason.is_failure:
            client.subscribe(self._topics.subscription(), qos=1)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        raw = RawMessage(
            topic=msg.topic,
            payload=bytes(msg.payload),
            qos=msg.qos,
            mid=msg.mid,
            received_at=self._clock(),
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
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                self.counters.queue_full_waits += 1

    # -- writer thread -----------------------------------------------------------------------

    def _write_loop(self) -> None:
        conn: psycopg.Connection | None = None
        device_sites: dict[str, str] = {}
        refreshed_at = 0.0
        while not (self._stopping.is_set() and self._queue.empty()):
            batch = self._take_batch()
            if not batch:
                continue
            while True:
                try:
                    if conn is None or conn.closed:
                        conn = connect(self._require_db_url())
                        refreshed_at = 0.0
                    unknown = any(
                        not isinstance(item, Rejected) and item.device_id not in device_sites
                        for item in batch
                    )
                    if unknown and time.monotonic() - refreshed_at > self._options.device_refresh_s:
                        device_sites = load_device_sites(conn)
                        conn.commit()
                        refreshed_at = time.monotonic()
                    result = self._write(conn, batch, device_sites)
                    break
                except (psycopg.OperationalError, StorageError) as exc:
                    # Database down: keep the batch, retry; the queue fills and backpressure
                    # reaches the broker, which keeps the messages we have not acknowledged.
                    self.counters.write_failures += 1
                    log.warning("batch write failed, retrying: %s", exc)
                    if conn is not None:
                        conn.close()
                    conn = None
                    time.sleep(min(5.0, 0.2 * self.counters.write_failures))
            self._acknowledge(batch)
            self.counters.batches += 1
            self.counters.readings_stored += result.readings_stored
            self.counters.duplicates += result.readings_offered - result.readings_stored
            self.counters.quarantined += result.quarantined
            self.counters.statuses += result.statuses
        if conn is not None:
            conn.close()

    def _write(
        self, conn: psycopg.Connection, batch: list[Decoded], device_sites: dict[str, str]
    ) -> WriteResult:
        try:
            return write_batch(conn, batch, device_sites=device_sites, backend=self._backend)
        except psycopg.OperationalError:
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
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                refused = Rejected(item.message, f"database refused the message: {exc}")
                results.append(
                    write_batch(conn, [refused], device_sites=device_sites, backend=self._backend)
                )
        return WriteResult(
            readings_offered=sum(r.readings_offered for r in results),
            readings_stored=sum(r.readings_stored for r in results),
            quarantined=sum(r.quarantined for r in results),
            statuses=sum(r.statuses for r in results),
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
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _acknowledge(self, batch: list[Decoded]) -> None:
        assert self._client is not None
        for item in batch:
            if item.message.qos > 0:
                self._client.ack(item.message.mid, item.message.qos)

    def _require_db_url(self) -> str:
        url = self._settings.database.url
        if url is None:
            raise StorageError("no database URL configured")
        return url
