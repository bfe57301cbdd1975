"""Pure decoding of MQTT messages into readings or rejections (runs in the MQTT callback)."""

from __future__ import annotations

from devices import Stream, Topics, decode_status, decode_vitals
from ingest._records import Accepted, Decoded, RawMessage, Reading, Rejected, StatusUpdate


def decode(message: RawMessage, topics: Topics) -> Decoded:
    """Validate topic and payload; never raises, a bad message becomes `Rejected` with a reason."""
    parts = topics.parse(message.topic)
    if isinstance(parts, str):
        return Rejected(message, parts)
    if parts.stream is Stream.STATUS:
        status = decode_status(message.payload)
        if isinstance(status, str):
            return Rejected(message, status)
        return StatusUpdate(message, parts.site_id, parts.device_id, status.state, status.battery)
    # Every measurement stream (vitals, bp) shares the vitals payload shape.
    vitals = decode_vitals(message.payload)
    if isinstance(vitals, str):
        return Rejected(message, vitals)
    readings = tuple(
        Reading(
            device_id=parts.device_id,
            metric=metric,
            ts=sample.device_ts,
            value=value,
            seq=vitals.seq,
            received_at=message.received_at,
        )
        for sample in vitals.samples
        for metric, value in sample.values
    )
    return Accepted(message, parts.site_id, parts.device_id, readings)
