"""Pure parts of the migration runner: `discover`, `plan`, `choose_backend` and statement splitting,
on temporary folders of fake .sql files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eldercare.db import (
    NO_TRANSACTION_MARK,
    Backend,
    Migration,
    choose_backend,
    discover,
    plan,
)
from eldercare.errors import ConfigError, MigrationError


def write(folder: Path, *names: str, sql: str = "SELECT 1;\n") -> Path:
    for name in names:
        (folder / name).write_text(sql, encoding="utf-8")
    return folder


def names(migrations: list[Migration]) -> list[str]:
    return [m.path.name for m in migrations]


# --- discover / plan ---


def test_versions_are_planned_in_numeric_order(tmp_path: Path) -> None:
    write(tmp_path, "0010_late.sql", "0002_second.sql", "0001_first.sql", "0009_ninth.sql")

    todo = plan(discover(tmp_path), applied={}, backend=Backend.PLAIN)

    assert [m.version for m in todo] == [1, 2, 9, 10]
    assert [m.name for m in todo] == ["first", "second", "ninth", "late"]


def test_discover_reads_version_name_and_variant(tmp_path: Path) -> None:
    write(tmp_path, "0001_core.sql", "0002_series.plain.sql", "0002_series.timescale.sql")

    found = {m.path.name: m for m in discover(tmp_path)}

    assert found["0001_core.sql"].variant is None
    assert (found["0002_series.plain.sql"].version, found["0002_series.plain.sql"].name) == (
        2,
        "series",
    )
    assert found["0002_series.plain.sql"].variant is Backend.PLAIN
    assert found["0002_series.timescale.sql"].variant is Backend.TIMESCALE


def test_discover_ignores_files_that_are_not_sql(tmp_path: Path) -> None:
    write(tmp_path, "0001_core.sql", "README.md", "notes.txt")
    assert names(discover(tmp_path)) == ["0001_core.sql"]


def test_applied_versions_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "0002_b.sql", "0003_c.sql", "0004_d.sql")

    todo = plan(discover(tmp_path), applied={1: "a", 3: "c"}, backend=Backend.PLAIN)

    assert names(todo) == ["0002_b.sql", "0004_d.sql"]


def test_everything_applied_plans_nothing(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "0002_b.plain.sql", "0002_b.timescale.sql")
    assert plan(discover(tmp_path), applied={1: "a", 2: "b"}, backend=Backend.TIMESCALE) == []


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        (Backend.PLAIN, ["0001_a.sql", "0002_b.plain.sql", "0003_c.sql"]),
        (Backend.TIMESCALE, ["0001_a.sql", "0002_b.timescale.sql", "0003_c.sql"]),
    ],
)
def test_variant_is_chosen_for_the_backend(
    tmp_path: Path, backend: Backend, expected: list[str]
) -> None:
    write(tmp_path, "0001_a.sql", "0002_b.plain.sql", "0002_b.timescale.sql", "0003_c.sql")
    assert names(plan(discover(tmp_path), applied={}, backend=backend)) == expected


def test_common_file_plus_variant_raises_naming_the_version(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "0007_b.sql", "0007_b.timescale.sql")
    with pytest.raises(MigrationError, match="version 0007"):
        plan(discover(tmp_path), applied={}, backend=Backend.PLAIN)


def test_two_common_files_for_one_version_raise_naming_the_version(tmp_path: Path) -> None:
    write(tmp_path, "0005_one.sql", "0005_other.sql")
    with pytest.raises(MigrationError, match="version 0005"):
        plan(discover(tmp_path), applied={}, backend=Backend.PLAIN)


@pytest.mark.parametrize("present", ["0003_c.plain.sql", "0003_c.timescale.sql"])
@pytest.mark.parametrize("backend", list(Backend))
def test_only_one_of_two_variants_raises_naming_the_version(
    tmp_path: Path, present: str, backend: Backend
) -> None:
    write(tmp_path, "0001_a.sql", present)
    with pytest.raises(MigrationError, match=r"version 0003: needs both \.plain\.sql"):
        plan(discover(tmp_path), applied={}, backend=backend)


def test_inconsistent_version_raises_even_when_already_applied(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.plain.sql")
    with pytest.raises(MigrationError, match="version 0001"):
        plan(discover(tmp_path), applied={1: "a"}, backend=Backend.PLAIN)


@pytest.mark.parametrize(
    "bad_name",
    [
        "1_core.sql",
        "0001-core.sql",
        "0001_Core.sql",
        "0001_core.postgres.sql",
        "00001_core.sql",
        "0001_.sql",
    ],
)
def test_badly_named_file_raises_naming_the_file(tmp_path: Path, bad_name: str) -> None:
    write(tmp_path, "0001_ok.sql", bad_name)
    with pytest.raises(MigrationError, match="^" + re.escape(f"{bad_name}: ")):
        discover(tmp_path)


# --- choose_backend ---


@pytest.mark.parametrize("mode", ["auto", "off"])
@pytest.mark.parametrize("available", [True, False])
@pytest.mark.parametrize("recorded", list(Backend))
def test_existing_database_keeps_its_recorded_backend(
    mode: str, available: bool, recorded: Backend
) -> None:
    backend = choose_backend(
        mode=mode, timescale_available=available, applied_variants={str(recorded)}
    )
    assert backend is recorded


def test_mode_on_keeps_a_recorded_timescale_database() -> None:
    backend = choose_backend(mode="on", timescale_available=True, applied_variants={"timescale"})
    assert backend is Backend.TIMESCALE


def test_mode_on_refuses_a_recorded_plain_database() -> None:
    with pytest.raises(ConfigError, match="without TimescaleDB"):
        choose_backend(mode="on", timescale_available=True, applied_variants={"plain"})


def test_mode_on_without_timescale_is_refused() -> None:
    with pytest.raises(ConfigError, match="timescaledb extension is missing"):
        choose_backend(mode="on", timescale_available=False, applied_variants=set())


def test_mixed_recorded_variants_are_refused() -> None:
    with pytest.raises(MigrationError, match=r"mixes backends \['plain', 'timescale'\]"):
        choose_backend(
            mode="auto", timescale_available=True, applied_variants={"plain", "timescale"}
        )


@pytest.mark.parametrize(
    ("mode", "available", "expected"),
    [
        ("auto", True, Backend.TIMESCALE),
        ("auto", False, Backend.PLAIN),
        ("on", True, Backend.TIMESCALE),
        ("off", True, Backend.PLAIN),
        ("off", False, Backend.PLAIN),
    ],
)
def test_new_database_backend_follows_mode_and_availability(
    mode: str, available: bool, expected: Backend
) -> None:
    backend = choose_backend(mode=mode, timescale_available=available, applied_variants=set())
    assert backend is expected


# --- statements ---


def test_no_transaction_file_splits_on_semicolons_at_line_ends(tmp_path: Path) -> None:
    sql = (
        f"{NO_TRANSACTION_MARK}\n"
        "CREATE INDEX CONCURRENTLY a_idx ON t (a);\n"
        "-- only a comment here;\n"
        "\n"
        "INSERT INTO t (s) VALUES ('x; y');   \n"
        "SELECT 1\n"
        "  ;\t\n"
        "-- trailing comment\n"
    )
    write(tmp_path, "0001_concurrent.sql", sql=sql)
    (migration,) = discover(tmp_path)

    assert migration.in_transaction is False
    assert migration.statements() == [
        f"{NO_TRANSACTION_MARK}\nCREATE INDEX CONCURRENTLY a_idx ON t (a)",
        "INSERT INTO t (s) VALUES ('x; y')",
        "SELECT 1",
    ]


def test_semicolon_inside_a_line_does_not_split(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", sql="SELECT 1; SELECT 2;\n")
    (migration,) = discover(tmp_path)
    assert migration.statements() == ["SELECT 1; SELECT 2"]


def test_file_without_mark_runs_in_a_transaction(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", sql=f"SELECT 1;\n{NO_TRANSACTION_MARK}\n")
    (migration,) = discover(tmp_path)
    assert migration.in_transaction is True


# --- the shipped migrations ---


def test_shipped_migrations_plan_cleanly_for_both_backends() -> None:
    migrations = discover()
    versions = sorted({m.version for m in migrations})

    assert versions[:4] == [1, 2, 3, 4]
    assert {m.variant for m in migrations if m.version == 3} == set(Backend)
    for backend in Backend:
        todo = plan(migrations, applied={}, backend=backend)
        assert [m.version for m in todo] == versions
        assert all(m.variant in (None, backend) for m in todo)


def test_no_transaction_statements_split_with_windows_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "0001_crlf.sql"
    path.write_bytes(b"-- eldercare:no-transaction\r\nSELECT 1;\r\nSELECT 2;\r\n")
    (migration,) = discover(tmp_path)
    assert [s.splitlines()[-1] for s in migration.statements()] == ["SELECT 1", "SELECT 2"]
