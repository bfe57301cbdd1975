"""MQTT contract v1: topic grammar and payload schema, shared by devices, simulators and ingest.

Topic: ``{namespace}/v1/{site}/{device_id}/{stream}``. Payload (JSON, UTF-8), one sample::

    {"schema": 1, "seq": 42, "device_ts": "2026-11-24T03:12:09.000Z", "values": {"heart_rate": 71}}

or a batch (firmware batches to save radio)::

    {"schema": 1, "seq": 43, "samples": [{"device_ts": "…", "values": {…}}, …]}

Status (retained; birth ``online`` and last will ``offline``; ``battery`` 0..1 is optional)::

    {"schema": 1, "state": "online", "device_ts": "…", "battery": 0.82}

Unknown top-level fields are ignored so firmware may add fields; anything this contract cannot
read is rejected with a reason that names what to fix, never dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

import msgspec

from devices._catalogue import PLAUSIBLE_RANGES, Metric

CONTRACT_VERSION = "v1"
SCHEMA_VERSION = 1
_ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"


class Stream(StrEnum):
    VITALS = "vitals"  # periodic samples
    BP = "bp"  # cuff readings, same payload shape as vitals
    STATUS = "status"  # retained availability: birth and last will


@dataclass(frozen=True, slots=True)
class TopicParts:
    site_id: str
    device_id: str
    stream: Stream


class Topics:
    """Builds and parses topics under one namespace."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._pattern = re.compile(
            rf"{re.escape(namespace)}/{CONTRACT_VERSION}/(?P<site>{_ID})/(?P<device>{_ID})/"
            rf"(?P<stream>[a-z]+)"
        )

    def topic(self, site_id: str, device_id: str, stream: Stream) -> str:
        return f"{self.namespace}/{CONTRACT_VERSION}/{site_id}/{device_id}/{stream}"

    def subscription(self) -> str:
        """The filter that matches every device topic of this namespace."""
        return f"{self.namespace}/{CONTRACT_VERSION}/+/+/+"

    def parse(self, topic: str) -> TopicParts | str:
        """The topic's parts, or the reason it is not a contract topic."""
        match = self._pattern.fullmatch(topic)  # fullmatch: "$" would accept a trailing "\n"
        if match is None:
            return (
                f"topic {topic!r} does not match "
                f"{self.namespace}/{CONTRACT_VERSION}/{{site}}/{{device_id}}/{{stream}}"
            )
        try:
            stream = Stream(match["stream"])
        except ValueError:
            return f"unknown stream {match['stream']!r} (expected one of {', '.join(Stream)})"
        return TopicParts(site_id=match["site"], device_id=match["device"], stream=stream)


class _Sample(msgspec.Struct, forbid_unknown_fields=False):
    device_ts: datetime
    values: dict[str, float]


class _VitalsPayload(msgspec.Struct, forbid_unknown_fields=False):
    schema: int
    seq: int
    device_ts: datetime | None = None
    values: dict[str, float] | None = None
    samples: list[_Sample] | None = None


class _StatusPayload(msgspec.Struct, forbid_unknown_fields=False):
    schema: int
    state: Literal["online", "offline"]
    device_ts: datetime | None = None
    battery: float | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """One timestamped set of metric values from a device."""

    device_ts: datetime
    values: tuple[tuple[Metric, float], ...]


@dataclass(frozen=True, slots=True)
class VitalsMessage:
    seq: int
    samples: tuple[Sample, ...]


@dataclass(frozen=True, slots=True)
class StatusMessage:
    state: Literal["online", "offline"]
    device_ts: datetime | None
    battery: float | None = None  # charge 0..1, for battery-powered devices


_vitals_decoder = msgspec.json.Decoder(_VitalsPayload)
_status_decoder = msgspec.json.Decoder(_StatusPayload)
_encoder = msgspec.json.Encoder()


def decode_vitals(payload: bytes) -> VitalsMessage | str:
    """The decoded message, or the reason it is rejected."""
    try:
        raw = _vitals_decoder.decode(payload)
    except msgspec.ValidationError as exc:
        return f"schema violation: {exc}"
    except msgspec.DecodeError as exc:
        return f"not valid JSON: {exc}"
    if raw.schema != SCHEMA_VERSION:
        return f"unsupported schema version {raw.schema} (this ingest reads {SCHEMA_VERSION})"
    if raw.samples is not None and (raw.values is not None or raw.device_ts is not None):
        return "give either samples or device_ts+values, not both"
    if raw.samples is None:
        if raw.device_ts is None or raw.values is None:
            return "a single sample needs device_ts and values (or use samples for a batch)"
        raw_samples = [_Sample(device_ts=raw.device_ts, values=raw.values)]
    else:
        raw_samples = raw.samples
    if not raw_samples:
        return "samples is empty"
    samples = []
    for index, raw_sample in enumerate(raw_samples):
        checked = _check_sample(raw_sample)
        if isinstance(checked, str):
            where = f"samples[{index}]: " if raw.samples is not None else ""
            return where + checked
        samples.append(checked)
    return VitalsMessage(seq=raw.seq, samples=tuple(samples))


def _check_sample(raw: _Sample) -> Sample | str:
    if raw.device_ts.tzinfo is None:
        return f"device_ts {raw.device_ts.isoformat()} has no UTC offset (use ...Z)"
    if not raw.values:
        return "values is empty"
    values = []
    for name, value in raw.values.items():
        try:
            metric = Metric(name)
        except ValueError:
            return f"unknown metric {name!r}"
        plausible = PLAUSIBLE_RANGES[metric]
        if not plausible.contains(value):
            return (
                f"{name}={value} is outside the plausible range "
                f"{plausible.low:g}..{plausible.high:g}"
            )
        values.append((metric, float(value)))
    return Sample(device_ts=raw.device_ts, values=tuple(values))


def decode_status(payload: bytes) -> StatusMessage | str:
    try:
        raw = _status_decoder.decode(payload)
    except msgspec.ValidationError as exc:
        return f"schema violation: {exc}"
    except msgspec.DecodeError as exc:
        return f"not valid JSON: {exc}"
    if raw.schema != SCHEMA_VERSION:
        return f"unsupported schema version {raw.schema} (this ingest reads {SCHEMA_VERSION})"
    if raw.device_ts is not None and raw.device_ts.tzinfo is None:
        return f"device_ts {raw.device_ts.isoformat()} has no UTC offset (use ...Z)"
    if raw.battery is not None and not 0.0 <= raw.battery <= 1.0:
        return f"battery={raw.battery} is outside 0..1"
    return StatusMessage(state=raw.state, device_ts=raw.device_ts, battery=raw.battery)


def encode_vitals(message: VitalsMessage) -> bytes:
    """Encode as a device would: one sample inline, several as a batch."""
    samples = [
        # msgspec writes a StrEnum key as its value, so the metric names need no conversion.
        {"device_ts": _rfc3339(s.device_ts), "values": dict(s.values)}
        for s in message.samples
    ]
    if len(samples) == 1:
        return _encoder.encode({"schema": SCHEMA_VERSION, "seq": message.seq, **samples[0]})
    return _encoder.encode({"schema": SCHEMA_VERSION, "seq": message.seq, "samples": samples})


def encode_status(message: StatusMessage) -> bytes:
    body: dict[str, object] = {"schema": SCHEMA_VERSION, "state": message.state}
    if message.device_ts is not None:
        body["device_ts"] = _rfc3339(message.device_ts)
    if message.battery is not None:
        body["battery"] = message.battery
    return _encoder.encode(body)


def _rfc3339(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
