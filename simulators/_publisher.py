"""Publishes a simulated ward over MQTT, one connection per device, as real firmware does."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import paho.mqtt.client as paho

from devices import (
    Sample,
    StatusMessage,
    Stream,
    Topics,
    VitalsMessage,
    encode_status,
    encode_vitals,
)
from eldercare.mqtt import connect, make_client
from eldercare.settings import MqttSettings
from simulators._resident import MattressResident
from simulators._ward import SimulatedBed

log = logging.getLogger(__name__)


class _Device:
    def __init__(self, bed: SimulatedBed, topics: Topics, client: paho.Client) -> None:
        self.bed = bed
        self.resident = MattressResident(seed=bed.seed, episodes=bed.episodes)
        self.client = client
        self.seq = 0
        b = bed.bedside
        self.vitals_topic = topics.topic(b.site_id, b.device_id, Stream.VITALS)
        self.status_topic = topics.topic(b.site_id, b.device_id, Stream.STATUS)


class WardPublisher:
    """Device time runs `speed` times faster than wall time from `start`; each device reports once
    per device-second, batching the samples due since its last publish (as firmware batches)."""

    def __init__(
        self,
        beds: Sequence[SimulatedBed],
        settings: MqttSettings,
        *,
        start: datetime,
        speed: float = 1.0,
        publish_interval_s: float = 0.2,
        client_prefix: str = "eldercare-sim",
    ) -> None:
        self._beds = beds
        self._settings = settings
        self._start = start
        self._speed = speed
        self._publish_interval_s = publish_interval_s
        self._client_prefix = client_prefix
        self._topics = Topics(settings.namespace)
        self._devices: list[_Device] = []
        self.messages_published = 0

    def connect(self) -> None:
        for bed in self._beds:
            b = bed.bedside
            client = make_client(self._settings, client_id=f"{self._client_prefix}-{b.device_id}")
            device = _Device(bed, self._topics, client)
            offline = encode_status(StatusMessage(state="offline", device_ts=None))
            client.will_set(device.status_topic, offline, qos=1, retain=True)
            connect(client, self._settings)
            birth = encode_status(StatusMessage(state="online", device_ts=self._start))
            client.publish(device.status_topic, birth, qos=1, retain=True)
            self._devices.append(device)

    def run(
        self,
        *,
        duration_s: float,
        stop: threading.Event | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Publish `duration_s` seconds of device time (or until `stop` is set)."""
        stop = stop or threading.Event()
        wall0 = monotonic()
        sent_until = 0  # device seconds already published
        while sent_until < duration_s and not stop.is_set():
            due = int((monotonic() - wall0) * self._speed) + 1
            if due > duration_s:
                due = int(duration_s)
            for device in self._devices:
                self._publish(device, range(sent_until, due))
            sent_until = max(sent_until, due)
            stop.wait(self._publish_interval_s)

    def _publish(self, device: _Device, seconds: range) -> None:
        if not seconds:
            return
        samples = tuple(
            Sample(
                device_ts=self._start + timedelta(seconds=t),
                values=tuple(device.resident.sample(float(t)).items()),
            )
            for t in seconds
        )
        device.seq += 1
        payload = encode_vitals(VitalsMessage(seq=device.seq, samples=samples))
        device.client.publish(device.vitals_topic, payload, qos=1)
        self.messages_published += 1

    def close(self) -> None:
        """Disconnect cleanly, announcing offline (a clean disconnect does not fire the will)."""
        offline = encode_status(StatusMessage(state="offline", device_ts=None))
        for device in self._devices:
            info = device.client.publish(device.status_topic, offline, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=5)
            except RuntimeError:
                log.warning("device %s: offline status not sent", device.bed.bedside.device_id)
            device.client.disconnect()
            device.client.loop_stop()
        self._devices.clear()
