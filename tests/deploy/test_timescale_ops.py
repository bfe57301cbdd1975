"""Policies from settings: the plain path for real, the TimescaleDB SQL parsed and checked against
the documented signatures, and the job report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pglast
import pglast.visitors
import psycopg
import pytest
from pglast import ast

from eldercare.errors import ConfigError
from eldercare.settings import DatabaseSettings
from eldercare.timescale_ops import (
    JOB_ERRORS_SQL,
    JOB_STATS_SQL,
    JobReport,
    JobStatus,
    PolicySettings,
    apply_policies,
    check_jobs,
    delete_old_readings,
    timescale_policy_statements,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = PolicySettings(compress_after_days=3, retention_days=30, rollup_refresh_hours=6)

# Named arguments per function, from the TimescaleDB API reference pages cited in the module.
DOCUMENTED = {
    "remove_compression_policy": {"if_exists"},
    "add_compression_policy": {"compress_after", "if_not_exists", "schedule_interval"},
    "remove_retention_policy": {"if_exists"},
    "add_retention_policy": {"drop_after", "if_not_exists", "schedule_interval"},
    "remove_continuous_aggregate_policy": {"if_exists"},
    "add_continuous_aggregate_policy": {
        "start_offset",
        "end_offset",
        "schedule_interval",
        "if_not_exists",
    },
}


def _calls(sql: str) -> list[ast.FuncCall]:
    found: list[ast.FuncCall] = []

    class Visitor(pglast.visitors.Visitor):  # type: ignore[misc]
        def visit_FuncCall(self, ancestors: object, node: ast.FuncCall) -> None:
            found.append(node)

    Visitor()(pglast.parse_sql(sql))
    return found


def test_timescale_statements_parse_and_use_documented_functions_and_arguments() -> None:
    statements = timescale_policy_statements(POLICY)
    names = []
    for statement in statements:
        [call] = _calls(statement)
        name = call.funcname[-1].sval
        names.append(name)
        named = {arg.name for arg in call.args if isinstance(arg, ast.NamedArgExpr)}
        assert named <= DOCUMENTED[name], (name, named)
        # The first argument is the relation, as a string literal cast to regclass.
        assert isinstance(call.args[0], ast.A_Const)
    # Each policy is removed before it is added, so re-running replaces instead of failing.
    assert names == [
        "remove_compression_policy",
        "add_compression_policy",
        "remove_retention_policy",
        "add_retention_policy",
        "remove_continuous_aggregate_policy",
        "add_continuous_aggregate_policy",
    ]
    text = "\n".join(statements)
    assert "INTERVAL '3 days'" in text and "INTERVAL '30 days'" in text
    assert "start_offset => INTERVAL '6 hours'" in text


def test_job_queries_parse_and_read_the_documented_views() -> None:
    for sql in (JOB_STATS_SQL, JOB_ERRORS_SQL):
        pglast.parse_sql(sql)
    assert "timescaledb_information.job_stats" in JOB_STATS_SQL
    assert "last_run_status" in JOB_STATS_SQL and "total_failures" in JOB_STATS_SQL


def test_defaults_are_the_values_migration_0003_hard_coded() -> None:
    policy = PolicySettings.from_settings(DatabaseSettings())
    assert (policy.compress_after_days, policy.retention_days, policy.rollup_refresh_hours) == (
        7,
        400,
        2,
    )


@pytest.mark.parametrize(
    ("compress", "retain", "window", "message"),
    [
        (7, 7, 2, "compress_after_days"),
        (1, 1, 48, "rollup_refresh_hours"),
        (0, 30, 2, "positive"),
    ],
)
def test_settings_that_would_lose_data_are_refused(
    compress: int, retain: int, window: int, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        PolicySettings(
            compress_after_days=compress, retention_days=retain, rollup_refresh_hours=window
        ).check()


def _insert(conn: psycopg.Connection, ages_days: list[float]) -> None:
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO readings (ts, device_id, metric, value, received_at)"
            " VALUES (%s, 'dev-1', 'heart_rate', 60, %s)",
            [(NOW - timedelta(days=age), NOW) for age in ages_days],
        )
        # Other migrations may add columns to readings_1m (e.g. a running sum): fill them all.
        columns = [
            row[0]
            for row in cursor.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'readings_1m' ORDER BY ordinal_position"
            ).fetchall()
        ]
        values = {"bucket": NOW - timedelta(days=100), "device_id": "dev-1", "metric": "heart_rate"}
        row = [values.get(column, 1) for column in columns]
        cursor.execute(
            f"INSERT INTO readings_1m ({', '.join(columns)})"
            f" VALUES ({', '.join(['%s'] * len(columns))})",
            row,
        )


def test_plain_retention_deletes_only_old_readings_and_keeps_rollups(
    conn: psycopg.Connection,
) -> None:
    _insert(conn, [100, 31, 29, 1, 0])
    lines = apply_policies(conn, POLICY, now=NOW)
    assert "deleted 2 reading(s)" in lines[0] and "plain PostgreSQL" in lines[0]
    left = conn.execute("SELECT count(*) FROM readings").fetchone()
    assert left == (3,)
    assert conn.execute("SELECT count(*) FROM readings_1m").fetchone() == (1,)
    assert apply_policies(conn, POLICY, now=NOW)[0].startswith("plain PostgreSQL: deleted 0")


def test_plain_retention_works_in_batches(conn: psycopg.Connection) -> None:
    _insert(conn, [40 + i / 1000 for i in range(25)])
    assert delete_old_readings(conn, cutoff=NOW - timedelta(days=30), batch=10) == 25
    assert conn.execute("SELECT count(*) FROM readings").fetchone() == (0,)


def test_a_timescale_schema_gets_the_timescale_policies(conn: psycopg.Connection) -> None:
    # This server has no TimescaleDB: pretend the schema was built for it and watch the first
    # Timescale call being attempted (and rolled back), which shows the backend selection.
    conn.execute("UPDATE schema_migrations SET variant = 'timescale' WHERE variant IS NOT NULL")
    with pytest.raises(psycopg.errors.UndefinedFunction, match="remove_compression_policy"):
        apply_policies(conn, POLICY, now=NOW)


def test_job_check_on_plain_postgresql_says_so(conn: psycopg.Connection) -> None:
    report = check_jobs(conn)
    assert not report.timescale and not report.failed
    assert report.lines()[0].startswith("not TimescaleDB")


def test_job_report_flags_jobs_whose_last_run_failed() -> None:
    ok = JobStatus(1000, "policy_compression", "readings", "Success", 2, NOW)
    broken = JobStatus(
        1001, "policy_retention", "readings", "Failed", 5, None, last_error="disk full"
    )
    fresh = JobStatus(1002, "policy_refresh_continuous_aggregate", None, None, 0, None)
    report = JobReport(timescale=True, jobs=(ok, broken, fresh))
    assert report.failed == (broken,)
    lines = report.lines()
    assert "job 1001 policy_retention on readings: FAILED" in lines[1]
    assert "disk full" in lines[1]
    assert "not run yet" in lines[2]
    assert lines[-1] == "1 of 3 background job(s) failing"
