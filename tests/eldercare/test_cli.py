"""The one CLI, run as users run it (a subprocess)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from analytics import SustainedHeartRate
from eldercare.db import discover

COMMANDS = ("up", "migrate", "simulate", "ingest", "serve", "detect", "alerts", "staff")


def eldercare(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    return subprocess.run(
        [sys.executable, "-m", "eldercare", *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
        env={**base, "COLUMNS": "200", **(env or {})},
    )


def test_help_lists_and_explains_every_command() -> None:
    result = eldercare("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout
        sub = eldercare(command, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "Usage:" in sub.stdout and len(sub.stdout.splitlines()) > 4


def test_services_without_urls_say_what_to_set(tmp_path: Path) -> None:
    for command in ("ingest", "alerts"):
        result = eldercare(command, env={"ELDERCARE_STATE_DIR": str(tmp_path)})
        assert result.returncode == 2
        assert "ELDERCARE_DATABASE_URL" in result.stderr and "eldercare up" in result.stderr


def test_bad_settings_are_reported_not_crashed(tmp_path: Path) -> None:
    result = eldercare("migrate", env={"ELDERCARE_DATABASE_URL": "mysql://x/y"})
    assert result.returncode == 2
    assert "postgresql://" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_reports_up_to_date_on_a_migrated_database(database_url: str) -> None:
    result = eldercare("migrate", env={"ELDERCARE_DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    assert "schema up to date" in result.stdout
    with psycopg.connect(database_url) as conn:
        shipped = len({m.version for m in discover()})
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (shipped,)


def test_detect_runs_the_detectors_over_a_csv(tmp_path: Path) -> None:
    start = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    readings = tmp_path / "readings.csv"
    with readings.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ts", "device_id", "resident_id", "heart_rate", "bed_presence"])
        for second in range(300):
            hr = 140 if 60 <= second < 240 else 70
            ts = (start + timedelta(seconds=second)).isoformat()
            writer.writerow([ts, "mat-1", "r-1", hr, 1])
            writer.writerow([ts, "mat-1", "r-1", hr, 1])  # duplicated rows change nothing
    findings = tmp_path / "findings.csv"
    result = eldercare("detect", "--input", str(readings), "--output", str(findings))
    assert result.returncode == 0, result.stderr
    with findings.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["resident_id"], r["kind"], r["severity"]) for r in rows] == [
        ("r-1", "tachycardia", "high")
    ]
    assert rows[0]["started_at"] == (start + timedelta(seconds=60)).isoformat()
    hold = timedelta(seconds=SustainedHeartRate().min_duration_s)  # the medium tier's hold
    assert rows[0]["detected_at"] == (start + timedelta(seconds=60) + hold).isoformat()


def test_detect_reports_a_malformed_csv_precisely(tmp_path: Path) -> None:
    readings = tmp_path / "readings.csv"
    readings.write_text("ts,device_id,heart_rate\n2026-11-24T03:00:00+00:00,m,70\n")
    result = eldercare("detect", "--input", str(readings), "--output", str(tmp_path / "f.csv"))
    assert result.returncode == 2
    assert "missing columns resident_id" in result.stderr


def test_staff_add_makes_an_account_that_can_log_in(database_url: str) -> None:
    env = {"ELDERCARE_DATABASE_URL": database_url}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO sites (site_id, name, tier) VALUES ('home-a', 'A', 'care_home')")
    add = [
        "staff", "add", "--username", "admin.a", "--role", "site_admin",
        "--display-name", "Admin A", "--site", "home-a", "--password-stdin",
    ]  # fmt: skip
    result = eldercare(*add, env=env, stdin="a long enough secret\n")
    assert result.returncode == 0, result.stderr
    assert "admin.a (site_admin, home-a)" in result.stdout
    again = eldercare(*add, env=env, stdin="a long enough secret\n")
    assert again.returncode == 2 and "taken" in again.stderr
    short = eldercare(*add[:3], "admin.b", *add[4:], env=env, stdin="short\n")
    assert short.returncode == 2 and "at least 12" in short.stderr
    listed = eldercare("staff", "list", env=env)
    assert listed.stdout.split() == ["admin.a", "site_admin", "home-a", "active"]
