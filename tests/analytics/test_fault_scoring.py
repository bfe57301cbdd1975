"""Data-quality scoring against injected faults: scope, recall, precision, time to detect."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from analytics import (
    Channel,
    DataQualityReport,
    DataQualityScore,
    FaultWindow,
    Finding,
    Severity,
    read_faults_csv,
    score_data_quality,
)
from devices import Metric
from eldercare.errors import ConfigError
from tests.analytics.support import T0, at, sample

DAY = {"r1": (T0, T0 + timedelta(days=1))}
# One sample per device and metric: enough to know each device's report interval.
DEVICES = [
    sample(0, Metric.HEART_RATE, 70.0, device="mat-1"),
    sample(0, Metric.SYSTOLIC_BP, 130.0, device="bp-1"),
    sample(0, Metric.PROBE_STATE, 0.0, device="oxi-1"),
]


def dq(second: float, kind: str, device: str = "mat-1") -> Finding:
    return Finding(
        resident_id="r1",
        device_id=device,
        kind=kind,
        severity=Severity.LOW,
        channel=Channel.DATA_QUALITY,
        started_at=at(second - 60),
        detected_at=at(second),
        detector="test",
        detector_version="1",
    )


def fault(
    type: str, start: float, end: float, *, device: str = "mat-1", changed: bool = True
) -> FaultWindow:
    return FaultWindow(
        type=type,
        device_id=device,
        start=at(start),
        end=at(end),
        observed_start=at(start) if changed else None,
        observed_end=at(end - 1) if changed else None,
    )


def _row(report: DataQualityReport, kind: str) -> DataQualityScore:
    (row,) = [k for k in report.kinds if k.kind == kind]
    return row


def test_faults_are_scored_per_kind_with_time_from_the_definition() -> None:
    faults = [
        fault("silence", 1000, 2000),  # detected at 1300: definition (300 s) met at 1300
        fault("silence", 5000, 6000),  # missed
        fault("probe_off", 8000, 8500, device="oxi-1"),  # detected at 8130
        fault("stuck_value", 9000, 9900),  # flatline detected at 9310
    ]
    findings = [
        dq(1300, "device_silent"),
        dq(8130, "probe_off", device="oxi-1"),
        dq(9310, "flatline"),
        dq(30000, "device_silent"),  # no fault there: false
        dq(1400, "device_silent", device="oxi-1"),  # another device: false
    ]
    report = score_data_quality(findings, faults, samples=DEVICES, spans=DAY)

    silent = _row(report, "device_silent")
    assert (silent.faults, silent.in_scope, silent.detected) == (2, 2, 1)
    assert silent.recall == 0.5
    assert (silent.alerts, silent.true_alerts) == (3, 1)
    assert silent.ttd_s == (0.0,) and silent.ttd_from_start_s == (300.0,)
    probe = _row(report, "probe_off")
    assert probe.recall == 1.0 and probe.ttd_s == (10.0,) and probe.precision == 1.0
    assert _row(report, "flatline").ttd_s == (10.0,)
    text = report.format()
    assert "device_silent" in text and "0.50" in text


def test_faults_below_their_definition_or_that_changed_nothing_are_out_of_scope() -> None:
    faults = [
        fault("silence", 0, 200),  # 200 s: shorter than the 300 s silence definition
        fault("silence", 1000, 2800, device="bp-1"),  # cuff: silent means 3 hourly readings
        fault("stuck_value", 4000, 6000, device="bp-1"),  # identical hourly readings: no flatline
        fault("probe_off", 7000, 7600, device="oxi-1", changed=False),  # resident out of bed
        fault("low_battery", 8000, 9000, device="bp-1"),  # no data-quality detector
    ]
    report = score_data_quality([], faults, samples=DEVICES, spans=DAY)
    assert all(k.in_scope == 0 and k.recall is None for k in report.kinds)
    assert _row(report, "device_silent").faults == 2
    assert report.not_scored == {"low_battery": 1}


def test_an_alert_inside_an_out_of_scope_fault_is_not_false() -> None:
    report = score_data_quality(
        [dq(7200, "probe_off", device="oxi-1")],
        [fault("probe_off", 7000, 7100, device="oxi-1")],  # 100 s < 120 s: out of scope
        samples=DEVICES,
        spans=DAY,
    )
    probe = _row(report, "probe_off")
    assert (probe.in_scope, probe.alerts, probe.true_alerts) == (0, 1, 1)


def test_clinical_findings_are_not_scored_as_data_quality() -> None:
    clinical = Finding(
        resident_id="r1",
        device_id="mat-1",
        kind="device_silent",
        severity=Severity.HIGH,
        channel=Channel.CLINICAL,
        started_at=at(0),
        detected_at=at(1300),
        detector="test",
        detector_version="1",
    )
    report = score_data_quality(
        [clinical], [fault("silence", 1000, 2000)], samples=DEVICES, spans=DAY
    )
    assert _row(report, "device_silent").alerts == 0


FAULTS_HEADER = "type,device_id,start,end,detail,observed_start,observed_end\n"


def test_faults_csv_is_parsed_and_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "faults.csv"
    path.write_text(
        FAULTS_HEADER + f"silence,mat-1,{at(0).isoformat()},{at(600).isoformat()},,"
        f"{at(0).isoformat()},{at(599).isoformat()}\n"
        + f"probe_off,oxi-1,{at(0).isoformat()},{at(600).isoformat()},,,\n"
    )
    first, second = read_faults_csv(path)
    assert first.observed_start == at(0) and first.observed_end == at(599)
    assert second.observed_start is None
    old = tmp_path / "old.csv"  # a file without the observed columns: the whole window counts
    old.write_text(f"type,device_id,start,end\nsilence,mat-1,{at(0).isoformat()},{at(9)}\n")
    (window,) = read_faults_csv(old)
    assert (window.observed_start, window.observed_end) == (at(0), at(9))
    bad = tmp_path / "bad.csv"
    bad.write_text(FAULTS_HEADER + "silence,mat-1,yesterday,today,,,\n")
    with pytest.raises(ConfigError, match="bad.csv:2"):
        read_faults_csv(bad)


def test_evaluate_command_scores_faults_in_their_own_table(tmp_path: Path) -> None:
    readings = tmp_path / "readings.csv"
    with readings.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ts", "device_id", "resident_id", "heart_rate", "bed_presence"])
        for second in range(2400):
            if 600 <= second < 1200:  # the mattress is silent for 10 min
                continue
            writer.writerow([at(second).isoformat(), "mat-1", "r1", 70 + (second % 7) * 0.5, 1])
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "episode_id,type,resident_id,device_id,onset,offset,definition_met_at,hard_negative\n"
    )
    faults = tmp_path / "faults.csv"
    faults.write_text(
        FAULTS_HEADER + f"silence,mat-1,{at(600).isoformat()},{at(1200).isoformat()},,"
        f"{at(600).isoformat()},{at(1199).isoformat()}\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "eldercare",
            "evaluate",
            "--readings",
            str(readings),
            "--labels",
            str(labels),
            "--faults",
            str(faults),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "data quality" in result.stdout
    line = next(x for x in result.stdout.splitlines() if x.startswith("device_silent"))
    # one fault, in scope, detected when the 300 s limit passed (last seen 599 + 300 = 899,
    # definition met at 600 + 300 = 900), one true alert
    assert line.split()[1:7] == ["1", "1", "1", "1.00", "1", "1.00"]
    assert line.split()[7] == "-1"
