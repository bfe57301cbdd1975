"""Immutable records passed from the MQTT callback to the writer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias

from devices import Metric


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A message as the broker delivered it; `mid` is acknowledged once its batch is committed."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    received_at: datetime
    session: int = 0  # the connection that delivered it (message ids are per connection)


@dataclass(frozen=True, slots=True)
class Reading:
    device_id: str
    metric: Metric
    ts: datetime
    value: float
    seq: int
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid vitals message: its readings wait for the device check and the batch commit."""

    message: RawMessage
    site_id: str
    device_id: str
    readings: tuple[Reading, ...]


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    message: RawMessage
    site_id: str
    device_id: str
    state: Literal["online", "offline"]
    battery: float | None = None  # charge 0..1 when the device reports it


@dataclass(frozen=True, slots=True)
class Rejected:
    message: RawMessage
    reason: str


Decoded: TypeAlias = Accepted | StatusUpdate | Rejected
