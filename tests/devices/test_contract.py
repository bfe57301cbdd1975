"""MQTT contract v1 through the `devices` facade: payload and topic round-trips, and rejections
that name what to fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from devices import (
    CONTRACT_VERSION,
    DEVICE_MODELS,
    PLAUSIBLE_RANGES,
    SCHEMA_VERSION,
    UNITS,
    Metric,
    Sample,
    StatusMessage,
    Stream,
    TopicParts,
    Topics,
    VitalsMessage,
    decode_status,
    decode_vitals,
    encode_status,
    encode_vitals,
)

T0 = datetime(2026, 11, 24, 3, 12, 9, 250_000, tzinfo=UTC)


def _sample(ts: datetime, **values: float) -> Sample:
    return Sample(
        device_ts=ts, values=tuple((Metric(name), value) for name, value in values.items())
    )


# --- payload round-trips ---


def test_single_sample_round_trips_through_encode_and_decode() -> None:
    message = VitalsMessage(
        seq=42, samples=(_sample(T0, heart_rate=71.0, respiration_rate=14.0, bed_presence=1.0),)
    )
    payload = encode_vitals(message)
    assert b'"samples"' not in payload  # one sample is sent inline, as firmware does
    assert decode_vitals(payload) == message


def test_batched_samples_round_trip_through_encode_and_decode() -> None:
    message = VitalsMessage(
        seq=43,
        samples=tuple(
            _sample(T0 + timedelta(seconds=i), heart_rate=70.0 + i, signal_quality=0.9)
            for i in range(3)
        ),
    )
    payload = encode_vitals(message)
    assert b'"samples"' in payload
    assert decode_vitals(payload) == message


def test_encoded_timestamps_are_utc_with_z_suffix_and_milliseconds() -> None:
    payload = encode_vitals(VitalsMessage(seq=1, samples=(_sample(T0, heart_rate=60.0),)))
    assert b'"device_ts":"2026-11-24T03:12:09.250Z"' in payload


def test_timestamp_with_non_utc_offset_round_trips_as_the_same_instant() -> None:
    plus_two = T0.astimezone(timezone(timedelta(hours=2)))
    decoded = decode_vitals(
        encode_vitals(VitalsMessage(seq=1, samples=(_sample(plus_two, movement=0.2),)))
    )
    assert isinstance(decoded, VitalsMessage)
    assert decoded.samples[0].device_ts == T0


@pytest.mark.parametrize(
    "message",
    [StatusMessage(state="online", device_ts=T0), StatusMessage(state="offline", device_ts=None)],
)
def test_status_round_trips_through_encode_and_decode(message: StatusMessage) -> None:
    assert decode_status(encode_status(message)) == message


def test_decoded_values_are_metric_members_and_floats() -> None:
    decoded = decode_vitals(
        b'{"schema": 1, "seq": 7, "device_ts": "2026-11-24T03:12:09.000Z",'
        b' "values": {"heart_rate": 71}}'
    )
    assert isinstance(decoded, VitalsMessage)
    ((metric, value),) = decoded.samples[0].values
    assert metric is Metric.HEART_RATE
    assert type(value) is float and value == 71.0


def test_unknown_top_level_field_is_ignored() -> None:
    decoded = decode_vitals(
        b'{"schema": 1, "seq": 7, "fw": "2.1.0", "battery": 0.8,'
        b' "device_ts": "2026-11-24T03:12:09.000Z", "values": {"heart_rate": 71}}'
    )
    assert isinstance(decoded, VitalsMessage)
    assert decoded.seq == 7


def test_unknown_top_level_field_in_status_is_ignored() -> None:
    decoded = decode_status(b'{"schema": 1, "state": "online", "rssi": -61}')
    assert decoded == StatusMessage(state="online", device_ts=None)


# --- malformed payloads ---

_TS = '"device_ts": "2026-11-24T03:12:09.000Z"'


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param("not json at all", "not valid JSON", id="not-json"),
        pytest.param(
            '{"schema": 2, "seq": 1, ' + _TS + ', "values": {"heart_rate": 70}}',
            "unsupported schema version 2",
            id="wrong-schema-version",
        ),
        pytest.param(
            '{"schema": 1, ' + _TS + ', "values": {"heart_rate": 70}}',
            "missing required field `seq`",
            id="missing-seq",
        ),
        pytest.param(
            '{"schema": 1, "seq": "1", ' + _TS + ', "values": {"heart_rate": 70}}',
            "Expected `int`, got `str` - at `$.seq`",
            id="seq-as-string",
        ),
        pytest.param(
            '{"schema": 1, "seq": 1, "device_ts": "2026-11-24T03:12:09", '
            '"values": {"heart_rate": 70}}',
            "has no UTC offset",
            id="device-ts-without-offset",
        ),
        pytest.param(
            '{"schema": 1, "seq": 1, ' + _TS + ', "values": {}}',
            "values is empty",
            id="empty-values",
        ),
        pytest.param(
            '{"schema": 1, "seq": 1, ' + _TS + ', "values": {"blood_sugar": 5}}',
            "unknown metric 'blood_sugar'",
            id="unknown-metric",
        ),
        pytest.param(
            '{"schema": 1, "seq": 1, ' + _TS + ', "values": {"heart_rate": 400}}',
            "heart_rate=400.0 is outside the plausible range 20..250",
            id="heart-rate-implausible",
        ),
        pytest.param(
            '{"schema": 1, "seq": 1, ' + _TS + ', "values": {"heart_rate": 70}, '
            '"samples": [{' + _TS + ', "values": {"heart_rate": 70}}]}',
            "either samples or device_ts+values, not both",
            id="samples-and-values",
        ),
        pytest.param(
            '{"schema": 1, "seq": 1, "samples": []}', "samples is empty", id="empty-samples"
        ),
        pytest.param(
            '{"schema": 1, "seq": 1, "values": {"heart_rate": 70}}',
            "a single sample needs device_ts and values",
            id="values-without-device-ts",
        ),
        pytest.param(
            '{"schema": 1, "seq": 1, "samples": [{' + _TS + ', "values": {"heart_rate": 70}}, '
            "{" + _TS + ', "values": {"heart_rate": 999}}]}',
            "samples[1]: heart_rate=999.0 is outside",
            id="bad-sample-in-batch-named-by-index",
        ),
    ],
)
def test_malformed_vitals_payload_is_rejected_with_reason(payload: str, reason: str) -> None:
    result = decode_vitals(payload.encode())
    assert isinstance(result, str)
    assert reason in result


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(b"{", "not valid JSON", id="not-json"),
        pytest.param(b'{"schema": 3, "state": "online"}', "unsupported schema version 3", id="v3"),
        pytest.param(b'{"schema": 1, "state": "asleep"}', "schema violation", id="bad-state"),
    ],
)
def test_malformed_status_payload_is_rejected_with_reason(payload: bytes, reason: str) -> None:
    result = decode_status(payload)
    assert isinstance(result, str)
    assert reason in result


# --- topics ---


@pytest.mark.parametrize("namespace", ["eldercare", "acme/care-home_1"])
@pytest.mark.parametrize("stream", list(Stream))
def test_topic_builds_and_parses_back(namespace: str, stream: Stream) -> None:
    topics = Topics(namespace)
    topic = topics.topic("home-1", "mat.0042", stream)
    assert topic == f"{namespace}/{CONTRACT_VERSION}/home-1/mat.0042/{stream}"
    assert topics.parse(topic) == TopicParts(site_id="home-1", device_id="mat.0042", stream=stream)


def test_subscription_matches_every_device_topic_of_the_namespace() -> None:
    assert Topics("acme/homes").subscription() == "acme/homes/v1/+/+/+"


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        pytest.param(
            "ns/v1/home-1/vitals",
            "does not match ns/v1/{site}/{device_id}/{stream}",
            id="too-few-levels",
        ),
        pytest.param("ns/v2/home-1/mat-1/vitals", "does not match", id="wrong-version"),
        pytest.param("other/v1/home-1/mat-1/vitals", "does not match", id="other-namespace"),
        pytest.param("ns/v1/home-1/mat-1/audio", "unknown stream 'audio'", id="unknown-stream"),
        pytest.param("ns/v1/+/mat-1/vitals", "does not match", id="plus-wildcard"),
        pytest.param("ns/v1/home-1/#", "does not match", id="hash-wildcard"),
        pytest.param("ns/v1/home-1/mat-1/vitals/extra", "does not match", id="too-many-levels"),
    ],
)
def test_malformed_topic_is_rejected_with_reason(topic: str, reason: str) -> None:
    result = Topics("ns").parse(topic)
    assert isinstance(result, str)
    assert reason in result


def test_namespace_with_slash_does_not_accept_only_its_last_level() -> None:
    topics = Topics("acme/homes")
    assert isinstance(topics.parse("homes/v1/home-1/mat-1/vitals"), str)
    assert isinstance(topics.parse("acme/v1/home-1/mat-1/vitals"), str)


def test_topic_with_trailing_newline_is_rejected() -> None:
    assert isinstance(Topics("ns").parse("ns/v1/home-1/mat-1/vitals\n"), str)


# --- catalogue ---


@pytest.mark.parametrize("metric", list(Metric))
def test_every_metric_has_a_unit_and_a_sourced_plausible_range(metric: Metric) -> None:
    assert metric in UNITS
    plausible = PLAUSIBLE_RANGES[metric]
    assert plausible.low < plausible.high
    assert plausible.source.strip()


def test_every_device_model_metric_is_in_the_catalogue() -> None:
    assert DEVICE_MODELS
    for key, model in DEVICE_MODELS.items():
        assert model.key == key
        assert model.metrics
        for spec in model.metrics:
            assert spec.metric in UNITS and spec.metric in PLAUSIBLE_RANGES
            assert spec.unit is UNITS[spec.metric]
            assert spec.report_interval_s > 0


def test_schema_version_in_encoded_payload_matches_contract() -> None:
    payload = encode_status(StatusMessage(state="online", device_ts=None))
    assert payload == b'{"schema":%d,"state":"online"}' % SCHEMA_VERSION
