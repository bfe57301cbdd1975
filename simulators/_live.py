"""Publishes a scenario over MQTT, paced by device time: the live path of the same messages.

Two connection modes:

- per device (default): one MQTT connection per device with its own last will, as firmware does;
  one paho network thread per device, so it suits tens to a few hundred devices;
- gateway: one connection publishes for every device (as a bedside hub or LoRa/BLE gateway
  does), with QoS 1 and a wide in-flight window. Birth messages are the same; there is no
  per-device last will (the gateway announces `offline` for each device when it closes).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import paho.mqtt.client as paho

from devices import StatusMessage, Stream, Topics, encode_status
from eldercare.mqtt import connect, make_client
from eldercare.registry import Bedside
from eldercare.settings import MqttSettings
from simulators._episodes import Label
from simulators._faults import FaultEvent
from simulators._scenario import DeviceMessage, ScenarioConfig, ScenarioRun

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]  # device seconds published so far
_AHEAD_MESSAGES = 300_000  # about two minutes of 2,000 devices at 1 Hz


@dataclass(frozen=True, slots=True)
class PublishStats:
    messages: int
    device_seconds: float
    wall_seconds: float


class ScenarioPublisher:
    """Publishes `config`'s messages at `speed` times real time; same bytes as the batch path."""

    def __init__(
        self,
        config: ScenarioConfig,
        settings: MqttSettings,
        *,
        speed: float = 1.0,
        gateway: bool = False,
        client_prefix: str = "eldercare-sim",
        qos: int = 1,
        monotonic: Callable[[], float] = time.monotonic,
        on_publish: Callable[[DeviceMessage], None] | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.config = config
        self._settings = settings
        self._speed = speed
        self._gateway = gateway
        self._client_prefix = client_prefix
        self._qos = qos
        self._monotonic = monotonic
        self._on_publish = on_publish
        self._topics = Topics(settings.namespace)
        self._run = ScenarioRun(config)
        self._messages: Iterator[DeviceMessage] = self._run.messages()
        # Generation runs ahead in a thread, so publishing never waits for a minute's chunk of
        # physiology to be computed (same messages, same order; only the timing is smoothed).
        self._ahead: queue.Queue[DeviceMessage | None] = queue.Queue(maxsize=_AHEAD_MESSAGES)
        self._closing = threading.Event()
        self._generator: threading.Thread | None = None
        self._clients: dict[str, paho.Client] = {}
        self._gateway_client: paho.Client | None = None
        self.messages_published = 0

    @property
    def labels(self) -> list[Label]:
        return self._run.labels

    @property
    def faults(self) -> list[FaultEvent]:
        return self._run.faults

    @property
    def bedsides(self) -> list[Bedside]:
        """One per device: what to register so ingest accepts the devices."""
        return [b for r in self._run.simulated for b in r.bedsides]

    @property
    def device_ids(self) -> list[str]:
        return [b.device_id for r in self._run.simulated for b in r.bedsides]

    def _status_topic(self, device_id: str) -> str:
        return self._topics.topic(self.config.site_id, device_id, Stream.STATUS)

    def _generate(self) -> None:
        try:
            for message in self._messages:
                while not self._closing.is_set():
                    try:
                        self._ahead.put(message, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if self._closing.is_set():
                    return
        except Exception:
            log.exception("scenario generation failed; publishing stops")
        finally:
            if not self._closing.is_set():
                self._ahead.put(None)  # end of a finite scenario

    def _start_generating(self) -> None:
        if self._generator is None:
            self._generator = threading.Thread(
                target=self._generate, name="scenario-generator", daemon=True
            )
            self._generator.start()

    def connect(self) -> None:
        """Open the connections (raises `ConfigError`/`ServiceError` with a clear reason)."""
        self._start_generating()
        offline = encode_status(StatusMessage(state="offline", device_ts=None))
        if self._gateway:
            client = make_client(self._settings, client_id=f"{self._client_prefix}-gateway")
            client.max_inflight_messages_set(1000)
            try:
                connect(client, self._settings)
            except Exception:
                _drop(client)
                raise
            self._gateway_client = client
            return
        device_ids = self.device_ids
        for device_id in device_ids:
            client = make_client(self._settings, client_id=f"{self._client_prefix}-{device_id}")
            client.will_set(self._status_topic(device_id), offline, qos=1, retain=True)
            try:
                connect(client, self._settings)
            except Exception as exc:
                exc.add_note(f"{len(self._clients)} of {len(device_ids)} devices had connected")
                _drop(client)
                self.close()
                raise
            self._clients[device_id] = client

    def _client_for(self, device_id: str) -> paho.Client:
        if self._gateway_client is not None:
            return self._gateway_client
        return self._clients[device_id]

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        progress: ProgressCallback | None = None,
    ) -> PublishStats:
        """Publish until the scenario ends (or `stop` is set), each message at its send time."""
        stop = stop or threading.Event()
        began = self._monotonic()
        wall0: float | None = None  # device time starts with the first generated message
        published_until = 0.0
        last_progress = began
        self._start_generating()
        while True:
            try:
                message = self._ahead.get(timeout=0.25)
            except queue.Empty:
                if stop.is_set():
                    break
                continue
            if message is None:
                break
            if wall0 is None:
                wall0 = self._monotonic() - message.send_s / self._speed
            due = wall0 + message.send_s / self._speed
            while not stop.is_set():
                wait = due - self._monotonic()
                if wait <= 0:
                    break
                stop.wait(min(wait, 0.25))
            if stop.is_set():
                break
            self._client_for(message.device_id).publish(
                message.topic(self._topics),
                message.payload,
                qos=1 if message.retain else self._qos,
                retain=message.retain,
            )
            self.messages_published += 1
            if self._on_publish is not None:
                self._on_publish(message)
            published_until = message.send_s
            if progress is not None and self._monotonic() - last_progress >= 0.2:
                last_progress = self._monotonic()
                progress(published_until)
        if progress is not None:
            progress(published_until)
        return PublishStats(
            messages=self.messages_published,
            device_seconds=published_until,
            wall_seconds=self._monotonic() - (began if wall0 is None else wall0),
        )

    def close(self, *, timeout: float = 5.0) -> None:
        """Announce offline (a clean disconnect does not fire the will) and disconnect."""
        self._closing.set()
        if self._generator is not None:
            self._generator.join(5)
        offline = encode_status(StatusMessage(state="offline", device_ts=None))
        pending = []
        if self._gateway_client is not None:
            for device_id in self.device_ids:
                pending.append(
                    self._gateway_client.publish(
                        self._status_topic(device_id), offline, qos=1, retain=True
                    )
                )
        else:
            for device_id, client in self._clients.items():
                pending.append(
                    client.publish(self._status_topic(device_id), offline, qos=1, retain=True)
                )
        deadline = time.monotonic() + timeout
        for info in pending:
            try:
                info.wait_for_publish(timeout=max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                log.warning("offline status not sent before closing")
                break
        clients = list(self._clients.values())
        if self._gateway_client is not None:
            clients.append(self._gateway_client)
        for client in clients:
            client.disconnect()
            client.loop_stop()
        self._clients.clear()
        self._gateway_client = None


def _drop(client: paho.Client) -> None:
    """Release a client whose connection failed (its socket may still be open)."""
    client.loop_stop()
    sock = client.socket()
    if sock is not None:
        sock.close()
