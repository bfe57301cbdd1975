"""Each device fault happens at its configured rate and is visible the way it is on real devices."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from devices import Metric, ProbeState, Stream, decode_status
from simulators import (
    FaultRates,
    FaultType,
    Scenario,
    ScenarioConfig,
    build_scenario,
    write_faults_csv,
)
from tests.simulators.conftest import by_device, series

START = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


def _run(
    faults: FaultRates,
    *,
    duration_s: int = 1800,
    residents: int = 2,
    start: datetime = START,
    **kw: object,
) -> Scenario:
    return build_scenario(
        ScenarioConfig(
            start=start,
            duration_s=duration_s,
            residents=residents,
            seed=4,
            faults=faults,
            **kw,  # type: ignore[arg-type]
        )
    )


def _vitals(scenario: Scenario) -> dict[str, list[tuple[int, bytes, float]]]:
    out: dict[str, list[tuple[int, bytes, float]]] = {}
    for device_id, messages in by_device(scenario.messages).items():
        out[device_id] = [
            (json.loads(m.payload)["seq"], m.payload, m.send_s)
            for m in messages
            if m.stream is not Stream.STATUS
        ]
    return out


def test_no_faults_by_default_gives_a_gapless_in_order_stream() -> None:
    scenario = _run(FaultRates(), duration_s=300, residents=1)
    for device_id, sent in _vitals(scenario).items():
        seqs = [seq for seq, _, _ in sent]
        assert seqs == list(range(1, len(seqs) + 1)), device_id
    assert scenario.faults == ()


@pytest.mark.parametrize("rate", [0.05, 0.2])
def test_packet_loss_leaves_seq_gaps_at_the_configured_rate(rate: float) -> None:
    sent = _vitals(_run(FaultRates(packet_loss=rate), devices=("smart_mattress",)))
    lost = total = 0
    for messages in sent.values():
        seqs = [seq for seq, _, _ in messages]
        total += max(seqs)
        lost += max(seqs) - len(set(seqs))
    assert abs(lost / total - rate) < 0.03


def test_duplicates_resend_the_same_bytes() -> None:
    sent = _vitals(_run(FaultRates(duplicate=0.1), devices=("smart_mattress",)))
    for messages in sent.values():
        counts = Counter(payload for _, payload, _ in messages)
        share = sum(c - 1 for c in counts.values()) / len(counts)
        assert 0.06 < share < 0.14
        assert max(counts.values()) == 2


def test_reordering_delivers_some_messages_after_later_ones() -> None:
    sent = _vitals(_run(FaultRates(reorder=0.05), devices=("smart_mattress",)))
    for messages in sent.values():
        seqs = [seq for seq, _, _ in messages]
        late = sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b < a)
        assert 0.02 < late / len(seqs) < 0.08
        assert [s for s, _, _ in sorted(messages, key=lambda m: m[2])] == seqs  # send order


def test_send_jitter_delays_sends_but_not_device_timestamps() -> None:
    scenario = _run(FaultRates(send_jitter_s=0.5), devices=("smart_mattress",))
    delays = [
        m.send_s - (m.samples[-1].device_ts - START).total_seconds()
        for m in scenario.messages
        if m.samples
    ]
    assert 0.2 < float(np.mean(delays)) < 0.6
    assert min(delays) >= 0 and max(delays) <= 1.5


def test_clock_skew_shifts_device_timestamps_of_some_devices() -> None:
    scenario = _run(FaultRates(clock_skew=1.0), duration_s=120, devices=("smart_mattress",))
    skewed = [f for f in scenario.faults if f.type is FaultType.CLOCK_SKEW]
    assert len(skewed) == 2
    for message in scenario.messages:
        if message.samples:
            offset = (message.samples[-1].device_ts - START).total_seconds() - message.send_s
            assert 5 <= abs(offset) <= 301


def test_silence_windows_send_nothing() -> None:
    scenario = _run(
        FaultRates(silence_per_day=30), duration_s=3 * 3600, devices=("smart_mattress",)
    )
    windows = [f for f in scenario.faults if f.type is FaultType.SILENCE]
    assert windows
    for window in windows:
        times = [ts for ts, _ in series(scenario.messages, window.device_id, Metric.BED_PRESENCE)]
        inside = [ts for ts in times if window.start <= ts < window.end]
        assert inside == []
        assert any(ts < window.start for ts in times) or any(ts >= window.end for ts in times)


def test_stuck_value_repeats_one_value() -> None:
    scenario = _run(
        FaultRates(stuck_value_per_day=40),
        duration_s=3 * 3600,
        devices=("fingertip_oximeter",),
        start=datetime(2026, 11, 25, 1, 0, tzinfo=UTC),
    )
    stuck = [f for f in scenario.faults if f.type is FaultType.STUCK_VALUE]
    checked = 0
    for window in stuck:
        values = [
            v
            for ts, v in series(scenario.messages, window.device_id, Metric.SPO2)
            if window.start <= ts < window.end
        ]
        if len(values) > 60:
            assert len(set(values)) == 1
            checked += 1
    assert checked


def test_probe_off_reports_probe_state_without_spo2() -> None:
    scenario = _run(
        FaultRates(probe_off_per_day=40),
        duration_s=3 * 3600,
        devices=("fingertip_oximeter",),
        start=datetime(2026, 11, 25, 1, 0, tzinfo=UTC),
    )
    windows = [f for f in scenario.faults if f.type is FaultType.PROBE_OFF]
    assert windows
    for window in windows:
        for message in scenario.messages:
            for sample in message.samples:
                if (
                    message.device_id == window.device_id
                    and window.start <= sample.device_ts < window.end
                ):
                    assert dict(sample.values) == {Metric.PROBE_STATE: float(ProbeState.PROBE_OFF)}


def test_low_battery_is_announced_on_status_and_drops_packets() -> None:
    scenario = _run(
        FaultRates(low_battery_per_day=24), duration_s=4 * 3600, devices=("smart_pillow",)
    )
    windows = [f for f in scenario.faults if f.type is FaultType.LOW_BATTERY]
    assert windows
    statuses = [
        (m.device_id, decode_status(m.payload))
        for m in scenario.messages
        if m.stream is Stream.STATUS
    ]
    low = [(d, s) for d, s in statuses if not isinstance(s, str) and s.battery == 0.07]
    assert {d for d, _ in low} == {w.device_id for w in windows if w.start > START}
    window = next(w for w in windows if w.start > START and w.end - w.start > timedelta(hours=1))
    seqs = [
        json.loads(m.payload)["seq"]
        for m in scenario.messages
        if m.device_id == window.device_id
        and m.samples
        and window.start <= m.samples[0].device_ts < window.end
    ]
    assert 0.15 < 1 - len(seqs) / (max(seqs) - min(seqs) + 1) < 0.45


def test_fault_rates_parse_from_the_command_line() -> None:
    assert FaultRates.parse("none") == FaultRates()
    assert FaultRates.parse("realistic") == FaultRates.realistic()
    assert FaultRates.parse("packet_loss=0.1,duplicate=0.02") == FaultRates(
        packet_loss=0.1, duplicate=0.02
    )
    with pytest.raises(ValueError, match="packet_los"):
        FaultRates.parse("packet_los=0.1")


def test_fault_windows_record_the_samples_they_changed() -> None:
    config = ScenarioConfig(
        start=datetime(2026, 11, 24, 20, tzinfo=UTC),
        duration_s=6 * 3600,
        residents=2,
        seed=6,
        faults=FaultRates(
            silence_per_day=8.0,
            stuck_value_per_day=8.0,
            probe_off_per_day=8.0,
            poor_signal_per_day=8.0,
        ),
    )
    scenario = build_scenario(config)
    kinds = {FaultType.SILENCE, FaultType.STUCK_VALUE, FaultType.PROBE_OFF, FaultType.POOR_SIGNAL}
    observed = [f for f in scenario.faults if f.observed_start is not None]
    assert {f.type for f in observed} >= {FaultType.SILENCE, FaultType.POOR_SIGNAL}
    for fault in scenario.faults:
        if fault.type not in kinds:
            assert fault.observed_start is None
        if fault.observed_start is None:
            continue
        assert fault.observed_end is not None
        assert fault.start <= fault.observed_start <= fault.observed_end < fault.end
    for fault in observed:
        assert fault.observed_start is not None and fault.observed_end is not None
        sent = [
            s.device_ts
            for m in scenario.messages
            if m.device_id == fault.device_id
            for s in m.samples
        ]
        if fault.type is FaultType.SILENCE:
            assert not [ts for ts in sent if fault.observed_start <= ts <= fault.observed_end]
        if fault.type is FaultType.POOR_SIGNAL:
            quality = [
                v
                for m in scenario.messages
                if m.device_id == fault.device_id
                for s in m.samples
                if fault.observed_start <= s.device_ts <= fault.observed_end
                for metric, v in s.values
                if metric is Metric.SIGNAL_QUALITY
            ]
            assert quality and max(quality) < 0.5


def test_faults_csv_has_the_observed_span(tmp_path: Path) -> None:
    scenario = build_scenario(
        ScenarioConfig(
            start=datetime(2026, 11, 24, 20, tzinfo=UTC),
            duration_s=2 * 3600,
            residents=1,
            seed=2,
            faults=FaultRates(silence_per_day=24.0),
        )
    )
    path = tmp_path / "faults.csv"
    with path.open("w", newline="") as handle:
        write_faults_csv(scenario.faults, handle)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and set(rows[0]) >= {"observed_start", "observed_end"}
    assert any(row["observed_start"] for row in rows)
