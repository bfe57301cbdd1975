"""Delivery channels behind one seam (`Notifier`), webhook signing, retry back-off and the
per-recipient rate limit that folds a storm into digests. Pure parts first, I/O at the bottom."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

import paho.mqtt.client as paho

from alerts._events import DIGEST_SCHEMA, AlertEvent, SubscriberFilter, Transport, alert_topic
from eldercare.mqtt import connect, make_client
from eldercare.settings import MqttSettings

SIGNATURE_HEADER = "X-Eldercare-Signature"
TIMESTAMP_HEADER = "X-Eldercare-Timestamp"
EVENT_ID_HEADER = "X-Eldercare-Event-Id"

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscriber:
    subscriber_id: int
    name: str
    transport: Transport
    filter: SubscriberFilter
    url: str | None = None
    secret: str | None = field(default=None, repr=False)
    max_per_minute: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryResult:
    ok: bool
    error: str | None = None
    retryable: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Exponential back-off: first retry after `base`, doubling up to `cap`; after `max_attempts`
    failed tries the delivery is dead-lettered."""

    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=10)
    max_attempts: int = 10

    def delay(self, attempts: int) -> timedelta:
        """Wait before the next try after `attempts` failed tries (attempts >= 1)."""
        return min(self.base * (2 ** max(attempts - 1, 0)), self.cap)


def plan_batches(
    pending: Sequence[_T], *, sent_in_window: int, max_per_minute: int | None
) -> list[list[_T]]:
    """Split one recipient's due messages into sends: one each while under its limit; when the
    backlog exceeds what is left of the minute, the last send is a single digest of the rest;
    nothing is sent once the limit is used up (it waits for the window, never drops)."""
    if max_per_minute is None:
        return [[item] for item in pending]
    remaining = max(max_per_minute - sent_in_window, 0)
    if remaining == 0 or not pending:
        return []
    if len(pending) <= remaining:
        return [[item] for item in pending]
    singles = [[item] for item in pending[: remaining - 1]]
    return [*singles, list(pending[remaining - 1 :])]


def sign(secret: str, *, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    *,
    timestamp: str,
    body: bytes,
    signature: str,
    now: datetime,
    tolerance: timedelta = timedelta(minutes=5),
) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    try:
        sent = datetime.fromtimestamp(int(timestamp), tz=now.tzinfo)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp=timestamp, body=body), signature)


def message_body(events: Sequence[AlertEvent]) -> bytes:
    """One event's payload, or a digest wrapping several."""
    if len(events) == 1:
        return json.dumps(events[0].payload, separators=(",", ":")).encode()
    digest = {
        "schema": DIGEST_SCHEMA,
        "event_ids": [e.event_id for e in events],
        "events": [e.payload for e in events],
    }
    return json.dumps(digest, separators=(",", ":")).encode()


class Notifier(Protocol):
    """The transport seam: deliver one message (one event or a digest) to one subscriber.
    `send` may be called from several threads at once (different alerts in parallel)."""

    def send(self, subscriber: Subscriber, events: Sequence[AlertEvent]) -> DeliveryResult: ...

    def close(self) -> None: ...


class RecordingNotifier:
    """Keeps what it was asked to send; for pure-logic tests and demos."""

    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[tuple[str, tuple[AlertEvent, ...]]] = []
        self.fail = fail

    def send(self, subscriber: Subscriber, events: Sequence[AlertEvent]) -> DeliveryResult:
        if self.fail:
            return DeliveryResult(ok=False, error="recording notifier told to fail")
        self.sent.append((subscriber.name, tuple(events)))
        return DeliveryResult(ok=True)

    def close(self) -> None:
        pass


class WebhookNotifier:
    """POST JSON with an HMAC signature; 2xx is delivered, 408/429/5xx and network errors retry,
    other 4xx are permanent (the receiver refuses it; retrying would not help).

    Connections are kept alive per receiver (and per thread), so a storm does not pay a TCP
    handshake per event; a stale kept-alive connection is replaced and the request sent again."""

    def __init__(self, *, timeout_s: float = 5.0, clock: Callable[[], datetime] | None = None):
        self._timeout_s = timeout_s
        self._clock = clock
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []  # every thread's, for close()
        self._lock = threading.Lock()

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "pool", {}
        )
        key = (scheme, netloc)
        if key not in pool:
            factory = (
                http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            )
            pool[key] = factory(netloc, timeout=self._timeout_s)
            with self._lock:
                self._opened.append(pool[key])
        return pool[key]

    def _drop(self, scheme: str, netloc: str) -> None:
        pool = self._local.__dict__.get("pool", {})
        connection = pool.pop((scheme, netloc), None)
        if connection is not None:
            connection.close()
            with self._lock:
                self._opened.remove(connection)

    def send(self, subscriber: Subscriber, events: Sequence[AlertEvent]) -> DeliveryResult:
        if subscriber.url is None or subscriber.secret is None:
            return DeliveryResult(ok=False, error="webhook without url or secret", retryable=False)
        url = urlsplit(subscriber.url)
        if url.scheme not in ("http", "https") or not url.netloc:
            return DeliveryResult(
                ok=False, error=f"bad webhook URL {subscriber.url!r}", retryable=False
            )
        body = message_body(events)
        now = self._clock() if self._clock is not None else datetime.now(UTC)
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "eldercare-alerts/1",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(subscriber.secret, timestamp=timestamp, body=body),
            EVENT_ID_HEADER: ",".join(e.event_id for e in events),
        }
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        for attempt in (1, 2):
            connection = self._connection(url.scheme, url.netloc)
            try:
                connection.request("POST", target, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.will_close:
                    self._drop(url.scheme, url.netloc)
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._drop(url.scheme, url.netloc)
                if attempt == 2:
                    return DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}")
            except (OSError, http.client.HTTPException) as exc:
                self._drop(url.scheme, url.netloc)
                return DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}")
        if 200 <= response.status < 300:
            return DeliveryResult(ok=True)
        retryable = response.status in (408, 429) or response.status >= 500
        return DeliveryResult(ok=False, error=f"HTTP {response.status}", retryable=retryable)

    def close(self) -> None:
        with self._lock:
            for connection in self._opened:
                connection.close()
            self._opened.clear()
        self._local = threading.local()


class MqttNotifier:
    """Publish each event to ``{namespace}/alerts/v1/{site_id}/{kind}``, QoS 1, not retained,
    and wait for the broker's PUBACK before calling it delivered."""

    def __init__(
        self, settings: MqttSettings, *, client_id: str | None = None, timeout_s: float = 10
    ) -> None:
        self._settings = settings
        # Unique by default: a broker disconnects the older of two clients with one id, so two
        # workers (or a worker and its restarted self) sharing an id would keep kicking each other.
        # Publishing with QoS 1 on a clean session needs no stable id.
        self._client_id = client_id or f"eldercare-alerts-{os.getpid()}-{secrets.token_hex(3)}"
        self._timeout_s = timeout_s
        self._client: paho.Client | None = None
        self._lock = threading.Lock()

    def _connected(self) -> paho.Client:
        if self._client is None:
            client = make_client(self._settings, client_id=self._client_id)
            client.max_inflight_messages_set(1000)
            client.max_queued_messages_set(0)
            connect(client, self._settings)
            self._client = client
        return self._client

    def send(self, subscriber: Subscriber, events: Sequence[AlertEvent]) -> DeliveryResult:
        with self._lock:
            try:
                client = self._connected()
                infos = [
                    client.publish(
                        alert_topic(self._settings.namespace, site_id=e.site_id, kind=e.kind),
                        message_body([e]),
                        qos=1,
                        retain=False,
                    )
                    for e in events
                ]
                for info in infos:
                    info.wait_for_publish(self._timeout_s)
                    if not info.is_published():
                        raise RuntimeError("no PUBACK from the broker in time")
            except Exception as exc:  # any failure here is a failed delivery, retried later
                self._reset()
                return DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}")
        return DeliveryResult(ok=True)

    def _reset(self) -> None:
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None

    def close(self) -> None:
        with self._lock:
            self._reset()
