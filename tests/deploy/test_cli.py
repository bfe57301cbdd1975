"""The deployment commands as operators run them (subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from eldercare.broker_files import parse_password_file, verify_password
from eldercare.registry import register_site


def eldercare(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    return subprocess.run(
        [sys.executable, "-m", "eldercare", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, "COLUMNS": "200", **env},
    )


def test_provision_list_revoke_from_the_command_line(
    conn: psycopg.Connection, database_url: str, tmp_path: Path
) -> None:
    register_site(conn, site_id="home-1", name="Home 1", tier="care_home")
    auth = tmp_path / "auth"
    auth.mkdir()
    (auth / "passwd").write_text("svc:$7$101$AAAAAAAAAAAAAAAA$AAAA\n", encoding="utf-8")
    env = {
        "ELDERCARE_DATABASE_URL": database_url,
        "ELDERCARE_MQTT_URL": "mqtt://svc:pw@127.0.0.1:1883",
        "ELDERCARE_MQTT_NAMESPACE": "ns",
        "ELDERCARE_BROKER_PASSWORD_FILE": str(auth / "passwd"),
        "ELDERCARE_BROKER_ACL_FILE": str(auth / "acl"),
    }
    made = eldercare(
        "devices", "provision", "--site", "home-1", "--device", "mat-1", "--model",
        "smart_mattress", "--resident", "res-1", "--bed", "bed-1", env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    password = next(
        line.split(":", 1)[1].strip()
        for line in made.stdout.splitlines()
        if "MQTT password:" in line
    )
    assert verify_password(password, parse_password_file((auth / "passwd").read_text())["mat-1"])
    assert "user svc" in (auth / "acl").read_text() and "docker compose kill -s HUP" in made.stdout
    with psycopg.connect(database_url) as check:
        stored = check.execute("SELECT password_hash FROM device_credentials").fetchone()
    assert stored is not None and password not in stored[0]

    listed = eldercare("devices", "list", env=env)
    assert "home-1/mat-1 smart_mattress resident=res-1 bed=bed-1 credentials=active" in (
        listed.stdout
    )
    revoked = eldercare("devices", "revoke", "--device", "mat-1", env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert "mat-1" not in parse_password_file((auth / "passwd").read_text())
    again = eldercare("devices", "revoke", "--device", "mat-1", env=env)
    assert again.returncode == 2 and "no active credentials" in again.stderr

    bad_model = eldercare(
        "devices", "provision", "--site", "home-1", "--device", "x", "--model", "toaster",
        "--resident", "r", "--bed", "b", env=env,
    )  # fmt: skip
    assert bad_model.returncode == 2 and "smart_mattress" in bad_model.stderr


def test_db_policies_and_jobs_on_plain_postgresql(database_url: str) -> None:
    env = {"ELDERCARE_DATABASE_URL": database_url, "ELDERCARE_DATABASE_RETENTION_DAYS": "30"}
    policies = eldercare("db", "policies", env=env)
    assert policies.returncode == 0, policies.stderr
    assert "plain PostgreSQL: deleted 0 reading(s)" in policies.stdout
    assert "(30 days)" in policies.stdout
    jobs = eldercare("db", "jobs", env=env)
    assert jobs.returncode == 0 and "not TimescaleDB" in jobs.stdout
