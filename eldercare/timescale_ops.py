"""Retention, compression and rollup policies from settings, and a check of background jobs.

TimescaleDB (the schema built by 0003_timeseries.timescale.sql): each policy is removed and added
again with the configured interval, in one transaction, with the documented functions:
https://docs.timescale.com/api/latest/compression/add_compression_policy/,
https://docs.timescale.com/api/latest/data-retention/add_retention_policy/,
https://docs.timescale.com/api/latest/continuous-aggregates/add_continuous_aggregate_policy/ and
their ``remove_*`` counterparts (``if_exists`` since 2.8 for the continuous-aggregate one).

Plain PostgreSQL: there is no scheduler, so `apply_policies` deletes raw readings older than the
retention in bounded batches; run ``eldercare db policies`` daily (cron, systemd timer). The
per-minute rollups (``readings_1m``) are kept, as the continuous aggregate keeps its buckets on
TimescaleDB when raw chunks are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from eldercare.db import Backend, current_backend
from eldercare.errors import ConfigError
from eldercare.settings import DatabaseSettings

# Rollups are materialised up to one minute ago, every minute (0003's values): the still-filling
# minute comes from real-time aggregation.
ROLLUP_END_OFFSET = "1 minute"
ROLLUP_SCHEDULE = "1 minute"
DELETE_BATCH = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySettings:
    compress_after_days: int
    retention_days: int
    rollup_refresh_hours: int

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> PolicySettings:
        return cls(
            compress_after_days=settings.compress_after_days,
            retention_days=settings.retention_days,
            rollup_refresh_hours=settings.rollup_refresh_hours,
        )

    def check(self) -> PolicySettings:
        """Refuse combinations that lose data or make a policy pointless."""
        for name in ("compress_after_days", "retention_days", "rollup_refresh_hours"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive whole number, not {value!r}")
        if timedelta(hours=self.rollup_refresh_hours) >= timedelta(days=self.retention_days):
            # Timescale's refresh-policy page: a refresh window reaching into dropped raw data
            # empties those buckets of the continuous aggregate.
            raise ConfigError("rollup_refresh_hours must be shorter than retention_days")
        if self.compress_after_days >= self.retention_days:
            raise ConfigError("compress_after_days must be shorter than retention_days")
        return self


def timescale_policy_statements(policy: PolicySettings) -> list[str]:
    """The statements that replace the three policies (whole numbers only, so no injection)."""
    policy.check()
    compress = f"INTERVAL '{policy.compress_after_days} days'"
    retain = f"INTERVAL '{policy.retention_days} days'"
    window = f"INTERVAL '{policy.rollup_refresh_hours} hours'"
    return [
        "SELECT remove_compression_policy('readings', if_exists => true)",
        f"SELECT add_compression_policy('readings', compress_after => {compress})",
        "SELECT remove_retention_policy('readings', if_exists => true)",
        f"SELECT add_retention_policy('readings', drop_after => {retain})",
        "SELECT remove_continuous_aggregate_policy('readings_1m', if_exists => true)",
        "SELECT add_continuous_aggregate_policy('readings_1m',"
        f" start_offset => {window},"
        f" end_offset => INTERVAL '{ROLLUP_END_OFFSET}',"
        f" schedule_interval => INTERVAL '{ROLLUP_SCHEDULE}')",
    ]


def apply_policies(conn: psycopg.Connection, policy: PolicySettings, *, now: datetime) -> list[str]:
    """Apply the policies for this database's backend; returns what was done, one line each."""
    policy.check()
    if current_backend(conn) is Backend.TIMESCALE:
        with conn.transaction():
            for statement in timescale_policy_statements(policy):
                conn.execute(statement.encode())
        return [
            f"TimescaleDB: compress readings after {policy.compress_after_days} days",
            f"TimescaleDB: drop readings after {policy.retention_days} days",
            f"TimescaleDB: refresh readings_1m over the last {policy.rollup_refresh_hours} hours",
        ]
    cutoff = now - timedelta(days=policy.retention_days)
    deleted = delete_old_readings(conn, cutoff=cutoff)
    return [
        f"plain PostgreSQL: deleted {deleted} reading(s) older than {cutoff.isoformat()} "
        f"({policy.retention_days} days); rollups kept; no compression"
    ]


def delete_old_readings(
    conn: psycopg.Connection, *, cutoff: datetime, batch: int = DELETE_BATCH
) -> int:
    """Delete readings with ``ts < cutoff`` in short transactions (ingest is never blocked long)."""
    total = 0
    while True:
        with conn.transaction():
            deleted = conn.execute(
                "DELETE FROM readings WHERE ctid = ANY(ARRAY("
                "SELECT ctid FROM readings WHERE ts < %s LIMIT %s))",
                (cutoff, batch),
            ).rowcount
        total += deleted
        if deleted < batch:
            return total


@dataclass(frozen=True, slots=True)
class JobStatus:
    job_id: int
    proc_name: str
    hypertable_name: str | None
    last_run_status: str | None
    total_failures: int
    last_successful_finish: datetime | None
    last_error: str | None = None

    @property
    def failing(self) -> bool:
        return self.last_run_status == "Failed"


@dataclass(frozen=True, slots=True)
class JobReport:
    timescale: bool
    jobs: tuple[JobStatus, ...]

    @property
    def failed(self) -> tuple[JobStatus, ...]:
        return tuple(job for job in self.jobs if job.failing)

    def lines(self) -> list[str]:
        if not self.timescale:
            return [
                "not TimescaleDB: no background jobs; run 'eldercare db policies' daily "
                "for retention"
            ]
        out = []
        for job in self.jobs:
            state = "FAILED" if job.failing else (job.last_run_status or "not run yet")
            target = f" on {job.hypertable_name}" if job.hypertable_name else ""
            line = f"job {job.job_id} {job.proc_name}{target}: {state}"
            line += f", {job.total_failures} failure(s) in total"
            if job.last_successful_finish is not None:
                line += f", last success {job.last_successful_finish.isoformat()}"
            if job.failing and job.last_error:
                line += f"; last error: {job.last_error}"
            out.append(line)
        out.append(f"{len(self.failed)} of {len(self.jobs)} background job(s) failing")
        return out


# https://docs.timescale.com/api/latest/informational-views/job_stats/ joined with .../jobs/ for
# the policy name; job_errors (TimescaleDB 2.15+) adds the last error message when present.
JOB_STATS_SQL = """
SELECT s.job_id, j.proc_name, s.hypertable_name, s.last_run_status, s.total_failures,
       s.last_successful_finish
FROM timescaledb_information.job_stats s
JOIN timescaledb_information.jobs j ON j.job_id = s.job_id
ORDER BY s.job_id
"""
JOB_ERRORS_SQL = """
SELECT DISTINCT ON (job_id) job_id, err_message
FROM timescaledb_information.job_errors
ORDER BY job_id, finish_time DESC
"""


def check_jobs(conn: psycopg.Connection) -> JobReport:
    """Background jobs and which of them failed on their last run."""
    installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    if installed is None:
        return JobReport(timescale=False, jobs=())
    rows: list[Any] = conn.execute(JOB_STATS_SQL).fetchall()
    errors: dict[int, str] = {}
    has_errors_view = conn.execute(
        "SELECT to_regclass('timescaledb_information.job_errors') IS NOT NULL"
    ).fetchone()
    if has_errors_view and has_errors_view[0]:
        errors = dict(conn.execute(JOB_ERRORS_SQL).fetchall())
    return JobReport(
        timescale=True,
        jobs=tuple(JobStatus(*row, last_error=errors.get(row[0])) for row in rows),
    )
