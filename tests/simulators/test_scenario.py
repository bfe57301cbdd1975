"""Seeded, reproducible scenarios; the batch export formats; `eldercare simulate --to-csv`."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices import Metric, Stream
from simulators import (
    CUFF_REPEAT_DELAY_S,
    LABELS_HEADER,
    READINGS_HEADER,
    EpisodeSpec,
    EpisodeType,
    FaultRates,
    ScenarioConfig,
    build_scenario,
    cuff_alarm,
    write_labels_csv,
    write_readings_csv,
)

START = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


def _config(**overrides: object) -> ScenarioConfig:
    base: dict[str, object] = {
        "start": START,
        "duration_s": 900,
        "residents": 2,
        "seed": 21,
        "faults": FaultRates.realistic(),
        "episodes": (EpisodeSpec(type=EpisodeType.TACHYCARDIA, resident=1, onset_s=120),),
        "episodes_per_day": 5.0,
    }
    base.update(overrides)
    return ScenarioConfig(**base)  # type: ignore[arg-type]


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    first, again = build_scenario(_config()), build_scenario(_config())
    assert [m.payload for m in first.messages] == [m.payload for m in again.messages]
    assert first.labels == again.labels and first.faults == again.faults
    other = build_scenario(_config(seed=22))
    assert [m.payload for m in other.messages] != [m.payload for m in first.messages]


def test_a_longer_run_starts_with_the_shorter_run() -> None:
    short = build_scenario(_config(duration_s=300))
    longer = build_scenario(_config(duration_s=900))
    cut = 280.0  # messages sent before the short run's last chunk are final in both
    assert [m.payload for m in short.messages if m.send_s < cut] == [
        m.payload for m in longer.messages if m.send_s < cut
    ]


def test_messages_come_in_send_order_with_births_first() -> None:
    scenario = build_scenario(_config())
    sends = [m.send_s for m in scenario.messages]
    assert sends == sorted(sends)
    devices = {b.device_id for r in scenario.residents for b in r.bedsides}
    births = [m for m in scenario.messages if m.send_s == 0 and m.stream is Stream.STATUS]
    assert {m.device_id for m in births} == devices and all(m.retain for m in births)


def test_residents_have_every_device_and_registrable_bedsides() -> None:
    scenario = build_scenario(_config(duration_s=60))
    for resident in scenario.residents:
        models = [b.device_model for b in resident.bedsides]
        assert models == ["smart_mattress", "smart_pillow", "bp_cuff", "fingertip_oximeter"]
        assert {b.resident_id for b in resident.bedsides} == {resident.profile.resident_id}
        assert {b.risk_tier for b in resident.bedsides} == {str(resident.profile.risk_tier)}


def test_the_cuff_repeats_each_out_of_range_reading_once_and_keeps_its_schedule() -> None:
    # Hypotension (several low readings in a row) and a spurious high reading on one cuff.
    scenario = build_scenario(
        ScenarioConfig(
            start=START,
            duration_s=6 * 3600,
            residents=1,
            seed=5,
            devices=("bp_cuff",),
            episodes=(
                EpisodeSpec(type=EpisodeType.HYPOTENSION, resident=0, onset_s=1200),
                EpisodeSpec(type=EpisodeType.SPURIOUS_BP, resident=0, onset_s=4.5 * 3600),
            ),
        )
    )
    interval = scenario.residents[0].profile.bp_interval_s
    # Every cuff sample, motion-spoiled ones (cuff_status only) included, in time order.
    readings = sorted(
        (sample.device_ts, dict(sample.values))
        for message in scenario.messages
        if message.stream is Stream.BP
        for sample in message.samples
    )
    first = readings[0][0]
    scheduled = [
        (ts, values) for ts, values in readings if (ts - first).total_seconds() % interval == 0
    ]
    # The schedule is unchanged: one reading per slot from the first to the end of the run.
    slots = [ts for ts, _ in scheduled]
    assert slots == [first + timedelta(seconds=k * interval) for k in range(len(slots))]
    assert first + timedelta(seconds=len(slots) * interval) >= START + timedelta(hours=6)
    repeat = timedelta(seconds=CUFF_REPEAT_DELAY_S)
    alarms = [ts for ts, values in scheduled if cuff_alarm(values)]
    repeats = [(ts, values) for ts, values in readings if ts not in set(slots)]
    # Exactly one extra reading per out-of-range scheduled reading, CUFF_REPEAT_DELAY_S later.
    assert [ts for ts, _ in repeats] == [ts + repeat for ts in alarms]
    assert any(values[Metric.SYSTOLIC_BP] <= 90 for ts, values in scheduled if ts in alarms)
    (spurious,) = [label for label in scenario.labels if label.type is EpisodeType.SPURIOUS_BP]
    assert spurious.onset in alarms
    # The repeat of the spurious reading reads normal: the artefact is not confirmed.
    assert not cuff_alarm(dict(repeats)[spurious.onset + repeat])
    # A repeat that is itself out of range is not repeated again (no loop).
    assert any(cuff_alarm(values) for _, values in repeats)


def test_readings_csv_has_the_agreed_header_and_one_row_per_sample() -> None:
    scenario = build_scenario(_config())
    handle = io.StringIO()
    rows = write_readings_csv(scenario.messages, handle)
    lines = handle.getvalue().splitlines()
    assert lines[0] == "ts,device_id,resident_id," + ",".join(str(m) for m in Metric)
    assert tuple(lines[0].split(",")) == READINGS_HEADER
    assert rows == len(lines) - 1 == sum(len(m.samples) for m in scenario.messages)
    first = next(csv.DictReader(io.StringIO(handle.getvalue())))
    assert datetime.fromisoformat(first["ts"]).utcoffset() is not None
    sample_values = next(m for m in scenario.messages if m.samples).samples[0].values
    for metric in Metric:
        expected = dict(sample_values).get(metric)
        assert first[str(metric)] == ("" if expected is None else repr(expected))


def test_labels_csv_has_the_agreed_header() -> None:
    scenario = build_scenario(_config(duration_s=3 * 3600, episodes_per_day=20.0))
    handle = io.StringIO()
    write_labels_csv(scenario.labels, handle)
    reader = csv.DictReader(io.StringIO(handle.getvalue()))
    assert (
        tuple(reader.fieldnames or ())
        == LABELS_HEADER
        == (
            "episode_id",
            "type",
            "resident_id",
            "device_id",
            "onset",
            "offset",
            "definition_met_at",
            "hard_negative",
        )
    )
    rows = list(reader)
    assert len(rows) == len(scenario.labels) >= 3
    for row in rows:
        EpisodeType(row["type"])
        assert row["hard_negative"] in ("true", "false")
        assert (row["definition_met_at"] == "") == (row["hard_negative"] == "true")
        assert datetime.fromisoformat(row["onset"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_invalid_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="resident"):
        _config(episodes=(EpisodeSpec(type=EpisodeType.TACHYCARDIA, resident=5, onset_s=1),))
    with pytest.raises(ValueError, match="device models"):
        _config(devices=("toaster",))
    with pytest.raises(ValueError, match="UTC offset"):
        _config(start=datetime(2026, 1, 1))


def test_cli_to_csv_writes_the_same_samples_as_the_batch_function(tmp_path: Path) -> None:
    out = tmp_path / "run" / "readings.csv"
    args = [
        sys.executable,
        "-m",
        "eldercare",
        "simulate",
        "--residents",
        "2",
        "--duration",
        "900",
        "--seed",
        "21",
        "--start",
        "2026-11-24T22:00:00+00:00",
        "--faults",
        "realistic",
        "--episode",
        "tachycardia:2:120",
        "--episodes-per-day",
        "5",
        "--to-csv",
        str(out),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    scenario = build_scenario(_config())
    expected = io.StringIO()
    write_readings_csv(scenario.messages, expected)
    assert out.read_text(encoding="utf-8") == expected.getvalue()
    labels = io.StringIO()
    write_labels_csv(scenario.labels, labels)
    assert (tmp_path / "run" / "readings.labels.csv").read_text(encoding="utf-8") == (
        labels.getvalue()
    )
    assert (tmp_path / "run" / "readings.faults.csv").exists()
    assert "seed 21" in done.stderr


def test_cli_rejects_a_bad_episode_with_the_accepted_types() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "eldercare",
            "simulate",
            "--episode",
            "hiccups:1:5",
            "--to-csv",
            "x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "TYPE:RESIDENT:ONSET_S" in done.stderr and "apnea_cluster" in done.stderr
