"""`ingest.decode`: a raw MQTT message becomes readings, a status update, or a kept rejection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devices import (
    Metric,
    Sample,
    StatusMessage,
    Stream,
    Topics,
    VitalsMessage,
    encode_status,
    encode_vitals,
)
from ingest import Accepted, RawMessage, Reading, Rejected, StatusUpdate, decode

TOPICS = Topics("care")
T0 = datetime(2026, 11, 24, 3, 0, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 11, 24, 3, 0, 5, 123_000, tzinfo=UTC)


def _raw(topic: str, payload: bytes) -> RawMessage:
    return RawMessage(topic=topic, payload=payload, qos=1, mid=17, received_at=RECEIVED)


def test_vitals_message_becomes_accepted_with_one_reading_per_metric_per_sample() -> None:
    vitals = VitalsMessage(
        seq=9,
        samples=(
            Sample(device_ts=T0, values=((Metric.HEART_RATE, 72.0), (Metric.BED_PRESENCE, 1.0))),
            Sample(
                device_ts=T0 + timedelta(seconds=1),
                values=((Metric.HEART_RATE, 73.0), (Metric.BED_PRESENCE, 1.0)),
            ),
        ),
    )
    raw = _raw(TOPICS.topic("home-1", "mat-7", Stream.VITALS), encode_vitals(vitals))

    result = decode(raw, TOPICS)

    assert isinstance(result, Accepted)
    assert result.message is raw
    assert (result.site_id, result.device_id) == ("home-1", "mat-7")
    assert result.readings == (
        Reading("mat-7", Metric.HEART_RATE, T0, 72.0, seq=9, received_at=RECEIVED),
        Reading("mat-7", Metric.BED_PRESENCE, T0, 1.0, seq=9, received_at=RECEIVED),
        Reading(
            "mat-7", Metric.HEART_RATE, T0 + timedelta(seconds=1), 73.0, 9, received_at=RECEIVED
        ),
        Reading(
            "mat-7", Metric.BED_PRESENCE, T0 + timedelta(seconds=1), 1.0, 9, received_at=RECEIVED
        ),
    )


def test_status_message_becomes_status_update() -> None:
    payload = encode_status(StatusMessage(state="offline", device_ts=T0))
    raw = _raw(TOPICS.topic("home-1", "mat-7", Stream.STATUS), payload)

    result = decode(raw, TOPICS)

    assert result == StatusUpdate(raw, "home-1", "mat-7", "offline")


def test_malformed_vitals_payload_becomes_rejected_and_keeps_raw_message() -> None:
    payload = b'{"schema": 1, "seq": 1, "device_ts": "2026-11-24T03:00:00Z", "values": {}}'
    raw = _raw("care/v1/home-1/mat-7/vitals", payload)

    result = decode(raw, TOPICS)

    assert isinstance(result, Rejected)
    assert result.reason == "values is empty"
    assert result.message is raw
    assert result.message.topic == "care/v1/home-1/mat-7/vitals"
    assert result.message.payload == payload
    assert (result.message.qos, result.message.mid) == (1, 17)


def test_malformed_status_payload_becomes_rejected() -> None:
    raw = _raw("care/v1/home-1/mat-7/status", b"\xff\xfe not json")

    result = decode(raw, TOPICS)

    assert isinstance(result, Rejected)
    assert "not valid JSON" in result.reason
    assert result.message.payload == b"\xff\xfe not json"


def test_message_on_a_bad_topic_is_rejected_before_the_payload_is_read() -> None:
    payload = encode_vitals(
        VitalsMessage(seq=1, samples=(Sample(device_ts=T0, values=((Metric.HEART_RATE, 70.0),)),))
    )
    raw = _raw("care/v1/home-1/mat-7/audio", payload)

    result = decode(raw, TOPICS)

    assert isinstance(result, Rejected)
    assert "unknown stream 'audio'" in result.reason
    assert result.message.topic == "care/v1/home-1/mat-7/audio"
    assert result.message.payload == payload
