"""Thousands of malformed messages at the running ingest, interleaved with valid ones: no crash,
every bad one quarantined once with a reason, every valid one stored."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from devices import Metric
from eldercare.embedded import EmbeddedMosquitto
from eldercare.settings import Settings
from ingest import IngestOptions, IngestService
from tests.ingest.support import (
    METRICS_PER_MESSAGE,
    T0,
    Publisher,
    count,
    vitals_payload,
    wait_until,
)
from tests.utils.ward import registered_ward

EXAMPLES = 40
PER_EXAMPLE = 50  # 2,000 malformed and 2,000 valid messages in all

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
_VALID: dict[str, Any] = {
    "schema": 1,
    "seq": 1,
    "device_ts": "2026-11-24T02:00:00.000Z",
    "values": {"heart_rate": 70.0},
}
_MUTATIONS: list[dict[str, Any]] = [
    {"seq": "x"},
    {"schema": 2},
    {"schema": "1"},
    {"device_ts": "2026-11-24T02:00:00"},  # no UTC offset
    {"device_ts": "yesterday"},
    {"values": {}},
    {"values": {"heart_rate": "fast"}},
    {"samples": []},
    {"samples": [{"device_ts": "2026-11-24T02:00:00Z"}]},
]


@st.composite
def malformed(draw: st.DrawFn, namespace: str, device: str) -> tuple[str, bytes]:
    vitals = f"{namespace}/v1/home-a/{device}/vitals"
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "range", "metric", "topic"]))
    if kind == "bytes":
        payload = draw(st.binary(max_size=200))
        stream = draw(st.sampled_from(["vitals", "bp", "status"]))
        return f"{namespace}/v1/home-a/{device}/{stream}", payload
    if kind == "json":
        stream = draw(st.sampled_from(["vitals", "status"]))
        return f"{namespace}/v1/home-a/{device}/{stream}", json.dumps(draw(_json)).encode()
    body = dict(_VALID)
    if kind == "mutated":
        body.update(draw(st.sampled_from(_MUTATIONS)))
        if draw(st.booleans()):
            body.pop(draw(st.sampled_from(["schema", "seq", "device_ts", "values"])))
    elif kind == "range":  # impossible values
        value = draw(st.floats(min_value=400, max_value=1e300) | st.floats(max_value=-1))
        body["values"] = {"heart_rate": value}
    elif kind == "metric":
        name = draw(st.text(min_size=1, max_size=12).filter(lambda n: n not in set(Metric)))
        body["values"] = {name: 1.0}
    else:  # valid payload, wrong topic: unknown stream, unknown device, bad id, wrong site
        topic = draw(
            st.sampled_from(
                [
                    f"{namespace}/v1/home-a/{device}/telemetry",
                    f"{namespace}/v1/home-a/ghost-device/vitals",
                    f"{namespace}/v1/home-a/bad!id/vitals",
                    f"{namespace}/v1/home-b/{device}/vitals",
                ]
            )
        )
        return topic, json.dumps(body).encode()
    return vitals, json.dumps(body).encode()


def test_malformed_flood_is_quarantined_and_valid_messages_are_stored(
    broker_settings: Settings,
    conn: psycopg.Connection,
    database_url: str,
    broker: EmbeddedMosquitto,
    publisher_factory: Callable[[int], Publisher],
) -> None:
    beds = registered_ward(conn, site_id="home-a", residents=2, since=T0 - timedelta(days=1))
    device = beds[0].bedside.device_id
    namespace = broker_settings.mqtt.namespace
    service = IngestService(broker_settings, options=IngestOptions(client_id="t-fuzz"))
    service.start()
    publisher = publisher_factory(broker.port)
    sent_bad: Counter[tuple[str, bytes]] = Counter()
    seq = itertools.count()

    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(malformed(namespace, device), min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
    def flood(messages: list[tuple[str, bytes]]) -> None:
        for topic, payload in messages:
            publisher.publish(topic, payload)
            sent_bad[(topic, payload)] += 1
            n = next(seq)  # a valid message after each bad one, each its own timestamp
            good = vitals_payload(n, T0 + timedelta(seconds=n))
            publisher.publish(f"{namespace}/v1/home-a/{device}/vitals", good)

    try:
        flood()
        publisher.flush()
        valid = next(seq)
        bad = sum(sent_bad.values())
        wait_until(
            lambda: service.counters.received == bad + valid and service.queue_depth() == 0,
            timeout=120,
            what="every message received",
        )
        wait_until(
            lambda: (
                count(database_url, "SELECT count(*) FROM quarantine") >= bad
                and count(database_url, "SELECT count(*) FROM readings") >= valid * 2
            ),
            timeout=60,
            what="every message written",
        )
        assert service._writer is not None and service._writer.is_alive()  # no crash
    finally:
        service.stop()
    assert bad >= EXAMPLES * PER_EXAMPLE
    rows = conn.execute("SELECT topic, payload, reason FROM quarantine").fetchall()
    assert Counter((topic, bytes(payload)) for topic, payload, _ in rows) == sent_bad
    assert all(reason.strip() for _, _, reason in rows)
    assert count(database_url, "SELECT count(*) FROM readings") == valid * METRICS_PER_MESSAGE
    assert service.counters.quarantined == bad
