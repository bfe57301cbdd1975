"""Conformance: every message a simulator sends matches the published AsyncAPI document and the
contract decoder; malformed messages are rejected with a precise reason by both."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from devices import Stream, Topics, asyncapi_document, decode_status, decode_vitals
from simulators import EpisodeSpec, EpisodeType, FaultRates, ScenarioConfig, build_scenario
from tests.devices.jsonschema_lite import validate

DOC = asyncapi_document()
NAMESPACE = "conformance"


def _payload_schema(stream: Stream) -> dict[str, Any]:
    return DOC["components"]["messages"][str(stream)]["payload"]


def _address_pattern(stream: Stream) -> re.Pattern[str]:
    address = DOC["channels"][str(stream)]["address"]
    pattern = re.escape(address)
    for name in ("namespace", "site", "device_id"):
        pattern = pattern.replace(re.escape(f"{{{name}}}"), "[^/+#]+")
    return re.compile(pattern)


def _check(topic: str, stream: Stream, payload: bytes) -> str | None:
    """None if the message conforms; otherwise the first reason."""
    if not _address_pattern(stream).fullmatch(topic):
        return f"topic {topic} does not match the {stream} channel"
    parts = Topics(NAMESPACE).parse(topic)
    if isinstance(parts, str):
        return parts
    problem = validate(json.loads(payload), _payload_schema(stream), DOC)
    if problem:
        return problem
    decoded = decode_status(payload) if stream is Stream.STATUS else decode_vitals(payload)
    return decoded if isinstance(decoded, str) else None


@pytest.fixture(scope="module")
def scenario_messages() -> list[tuple[str, Stream, bytes]]:
    """Every device kind, every episode type, every fault, batched samples: 40 device-minutes."""
    episodes = tuple(
        EpisodeSpec(type=kind, resident=i % 3, onset_s=60 + 30 * i, duration_s=900)
        for i, kind in enumerate(EpisodeType)
    )
    faults = FaultRates(
        packet_loss=0.05,
        duplicate=0.05,
        reorder=0.05,
        send_jitter_s=0.5,
        clock_skew=0.5,
        silence_per_day=40,
        stuck_value_per_day=40,
        probe_off_per_day=40,
        low_battery_per_day=40,
    )
    scenario = build_scenario(
        ScenarioConfig(
            start=datetime(2026, 11, 24, 21, 50, tzinfo=UTC),
            duration_s=2400,
            residents=3,
            seed=11,
            episodes=episodes,
            faults=faults,
            batch=3,
        )
    )
    topics = Topics(NAMESPACE)
    return [(m.topic(topics), m.stream, m.payload) for m in scenario.messages]


def test_every_simulator_message_conforms_to_the_published_contract(
    scenario_messages: list[tuple[str, Stream, bytes]],
) -> None:
    streams = {stream for _, stream, _ in scenario_messages}
    assert streams == set(Stream)
    for topic, stream, payload in scenario_messages:
        assert _check(topic, stream, payload) is None, (topic, payload)


def test_simulated_payloads_use_single_and_batched_forms(
    scenario_messages: list[tuple[str, Stream, bytes]],
) -> None:
    bodies = [json.loads(p) for _, s, p in scenario_messages if s is not Stream.STATUS]
    assert any("samples" in body for body in bodies)
    assert any("values" in body for body in bodies)


TOPIC = f"{NAMESPACE}/v1/home-1/mat-1/vitals"
TS = "2026-11-24T03:12:09.000Z"


@pytest.mark.parametrize(
    ("payload", "schema_reason", "decoder_reason"),
    [
        (
            {"schema": 1, "seq": 1, "values": {"heart_rate": 70}},
            "missing required 'device_ts'",
            "needs device_ts and values",
        ),
        (
            {"schema": 1, "seq": 1, "device_ts": TS, "values": {"heart_rate": 400}},
            "$.values.heart_rate: 400 > maximum 250",
            "heart_rate=400.0 is outside the plausible range 20..250",
        ),
        (
            {"schema": 1, "seq": 1, "device_ts": TS, "values": {"pulse_ox": 97}},
            "unexpected property 'pulse_ox'",
            "unknown metric 'pulse_ox'",
        ),
        (
            {"schema": 1, "seq": 1, "device_ts": "2026-11-24T03:12:09", "values": {"spo2": 97}},
            "does not match",
            "has no UTC offset",
        ),
        (
            {"schema": 2, "seq": 1, "device_ts": TS, "values": {"spo2": 97}},
            "expected 1, got 2",
            "unsupported schema version 2",
        ),
        (
            {"schema": 1, "seq": "7", "device_ts": TS, "values": {"spo2": 97}},
            "$.seq: expected integer, got str",
            "Expected `int`, got `str` - at `$.seq`",
        ),
        (
            {"schema": 1, "seq": 1, "samples": []},
            "fewer than 1 items",
            "samples is empty",
        ),
        (
            {"schema": 1, "seq": 1, "device_ts": TS, "values": {"spo2": 97}, "samples": []},
            "matches 0 of oneOf",
            "give either samples or device_ts+values, not both",
        ),
        (
            {"schema": 1, "seq": 1, "samples": [{"device_ts": TS, "values": {}}]},
            "fewer than 1 properties",
            "samples[0]: values is empty",
        ),
    ],
)
def test_malformed_vitals_are_rejected_with_a_precise_reason(
    payload: dict[str, Any], schema_reason: str, decoder_reason: str
) -> None:
    problem = validate(payload, _payload_schema(Stream.VITALS), DOC)
    assert problem is not None and schema_reason in problem
    decoded = decode_vitals(json.dumps(payload).encode())
    assert isinstance(decoded, str) and decoder_reason in decoded, decoded


@pytest.mark.parametrize(
    ("payload", "schema_reason", "decoder_reason"),
    [
        (
            {"schema": 1, "state": "sleeping"},
            "not one of",
            "Invalid enum value 'sleeping' - at `$.state`",
        ),
        ({"schema": 1, "state": "online", "battery": 1.5}, "> maximum 1", "battery=1.5"),
        ({"schema": 1}, "missing required 'state'", "missing required field `state`"),
    ],
)
def test_malformed_status_is_rejected_with_a_precise_reason(
    payload: dict[str, Any], schema_reason: str, decoder_reason: str
) -> None:
    problem = validate(payload, _payload_schema(Stream.STATUS), DOC)
    assert problem is not None and schema_reason in problem
    decoded = decode_status(json.dumps(payload).encode())
    assert isinstance(decoded, str) and decoder_reason in decoded, decoded


@pytest.mark.parametrize(
    "topic",
    [
        f"{NAMESPACE}/v2/home-1/mat-1/vitals",
        f"{NAMESPACE}/v1/home-1/vitals",
        f"{NAMESPACE}/v1/home-1/mat-1/vitals/extra",
    ],
)
def test_malformed_topics_are_rejected(topic: str) -> None:
    payload = json.dumps({"schema": 1, "seq": 1, "device_ts": TS, "values": {"spo2": 97}})
    assert _check(topic, Stream.VITALS, payload.encode()) is not None
    assert _check(TOPIC, Stream.VITALS, payload.encode()) is None
