"""The migration runner on a real PostgreSQL (the plain path; TimescaleDB is checked elsewhere)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest

from eldercare.db import Backend, current_backend, discover, migrate
from eldercare.settings import Settings
from tests.utils.urls import with_dbname


@pytest.fixture
def empty_database(service_settings: Settings) -> Iterator[str]:
    admin = service_settings.database.url
    assert admin is not None
    name = f"eldercare_empty_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield with_dbname(admin, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrate_applies_every_version_once_and_is_then_a_no_op(empty_database: str) -> None:
    shipped = sorted({m.version for m in discover()})
    first = migrate(empty_database, mode="off")
    assert [m.version for m in first] == shipped
    assert all(m.variant in (None, Backend.PLAIN) for m in first)
    assert migrate(empty_database, mode="off") == []
    with psycopg.connect(empty_database) as conn:
        rows = conn.execute("SELECT version, variant FROM schema_migrations ORDER BY 1").fetchall()
        assert [version for version, _ in rows] == shipped
        assert (3, "plain") in rows
        assert current_backend(conn) is Backend.PLAIN


def test_plain_backend_has_time_index_and_rollup_table(empty_database: str) -> None:
    migrate(empty_database, mode="auto")
    with psycopg.connect(empty_database) as conn:
        indexes = {
            row[0]
            for row in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'readings'")
        }
        assert {"readings_pkey", "readings_ts_idx", "readings_tx_idx"} <= indexes
        kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'readings_1m'").fetchone()
        assert kind == ("r",)  # a table the app maintains (a view on TimescaleDB)


def test_mode_on_without_timescale_is_refused_with_a_clear_error(empty_database: str) -> None:
    from eldercare.errors import ConfigError

    with psycopg.connect(empty_database) as conn:
        available = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
    if available:
        pytest.skip("this server has TimescaleDB")
    with pytest.raises(ConfigError, match="timescaledb"):
        migrate(empty_database, mode="on")
