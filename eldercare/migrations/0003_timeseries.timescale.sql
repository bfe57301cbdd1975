-- TimescaleDB: `readings` becomes a hypertable with compression and retention, and `readings_1m` is a
-- continuous aggregate with the same name and columns as the plain table in 0003_timeseries.plain.sql,
-- so every query reads `readings_1m` on both backends.
--
-- This file runs in ONE transaction (no `-- eldercare:no-transaction` marker), together with its
-- version record. None of the statements below refuses a transaction block:
--   * CREATE MATERIALIZED VIEW ... WITH (timescaledb.continuous) refuses one only WITH DATA, because
--     the initial refresh commits on its own ("CREATE MATERIALIZED VIEW ... WITH DATA cannot run
--     inside a transaction block": timescale/timescaledb PR #2389, issue #5377). We use WITH NO DATA,
--     as https://docs.timescale.com/api/latest/continuous-aggregates/create_materialized_view/
--     allows, and leave the first fill to the refresh policy.
--   * refresh_continuous_aggregate() is the call that cannot run in a transaction block
--     (timescale/timescaledb issue #2876); this file does not call it.
--   * create_hypertable() is documented as running in the caller's transaction (migrate_data: "obtain
--     a SHARE ROW EXCLUSIVE lock on the referenced tables before you call create_hypertable in the
--     same transaction"); ALTER TABLE and the add_*_policy() functions are ordinary statements.
-- Requires TimescaleDB >= 2.13 (by_range); PostgreSQL 17 needs >= 2.17 anyway.

CREATE EXTENSION IF NOT EXISTS timescaledb;

-- Hypertable partitioned on `ts` in 1-day chunks, with the generalized API of 2.13+:
-- https://docs.timescale.com/api/latest/hypertable/create_hypertable/ ("by_range('time', INTERVAL
-- '1 day')"). The primary key (device_id, metric, ts) contains the partitioning column, as that page
-- requires of UNIQUE/PRIMARY constraints.
--   * migrate_data => TRUE: "If you leave migrate_data set to the default, non-empty tables generate an
--     error". A database that ran 0002 before this file existed may already hold readings; on an
--     empty table it costs nothing. `readings` has no foreign keys, so the page's deadlock caveat
--     does not apply.
--   * create_default_indexes => FALSE: the default index is on the time column (ts DESC), which 0002
--     already created as readings_ts_idx.
--   * if_not_exists is left at its default (FALSE): the runner records the version in the same
--     transaction, so this only runs on a table that is not a hypertable yet, and anything else
--     should fail loudly.
SELECT create_hypertable(
    'readings',
    by_range('ts', INTERVAL '1 day'),
    create_default_indexes => FALSE,
    migrate_data => TRUE
);

-- Compression: segment by device, then metric (queries filter on both), newest first inside a
-- segment. https://docs.timescale.com/api/latest/compression/alter_table_compression/
-- These compression names are the "old API since 2.18" (the hypercore names are
-- timescaledb.enable_columnstore/segmentby/orderby and CALL add_columnstore_policy), but the docs
-- state "compression APIs are still supported, you do not need to migrate to the hypercore APIs"
-- (https://docs.timescale.com/use-timescale/latest/compression/compression-policy/), and unlike the
-- hypercore names they work on every version that has by_range (2.13+), not only 2.18+.
ALTER TABLE readings SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'device_id, metric',
    timescaledb.compress_orderby = 'ts DESC'
);

-- Compress chunks once their data is older than 7 days.
-- https://docs.timescale.com/api/latest/compression/add_compression_policy/
SELECT add_compression_policy('readings', compress_after => INTERVAL '7 days');

-- Drop raw chunks whose data is entirely older than 400 days.
-- https://docs.timescale.com/api/latest/data-retention/add_retention_policy/
-- TODO(issue 8): the compression, retention and refresh intervals become settings.
SELECT add_retention_policy('readings', drop_after => INTERVAL '400 days');

-- Per-minute rollups. Columns and types match the plain table exactly: bucket timestamptz (time_bucket
-- of a timestamptz), device_id text, metric text, n integer (count(*) is bigint, hence the cast),
-- mean/min/max double precision (avg/min/max of double precision).
-- https://docs.timescale.com/api/latest/continuous-aggregates/create_materialized_view/
--   * timescaledb.materialized_only = false turns real-time aggregation ON. Its default is TRUE since
--     TimescaleDB 2.13 (same page: "materialized_only ... Default TRUE"; timescale/timescaledb PR
--     #6077). The plain backend updates readings_1m in the ingest transaction, so the dashboard sees
--     the current minute at once; with real-time aggregation queries add the raw rows newer than
--     the last materialized bucket, giving the same behaviour here. "If you want to include the latest
--     bucket in your queries, use real-time aggregation":
--     https://docs.timescale.com/use-timescale/latest/continuous-aggregates/refresh-policies/ and
--     https://docs.timescale.com/use-timescale/latest/continuous-aggregates/real-time-aggregates/
--     (late rows landing in an already materialized bucket appear at the next refresh, i.e. within
--     a minute while they are less than 2 hours old).
--   * WITH NO DATA: see the transaction note at the top; with real-time aggregation on, queries are
--     still complete before the first refresh (they read raw rows past the watermark).
CREATE MATERIALIZED VIEW readings_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 minute', ts) AS bucket,
    device_id,
    metric,
    count(*)::integer AS n,
    avg(value) AS mean,
    min(value) AS min,
    max(value) AS max
FROM readings
GROUP BY bucket, device_id, metric
WITH NO DATA;

-- Refresh every minute the window from 2 hours ago up to 1 minute ago: the still-filling current
-- bucket is left to real-time aggregation, as recommended in
-- https://docs.timescale.com/use-timescale/latest/continuous-aggregates/refresh-policies/
-- The window (2 hours) is far inside the 400-day retention, so dropping raw chunks never refreshes
-- (empties) their buckets in readings_1m (the note on retention on the same page). The other side of
-- a short window: rows that arrive more than 2 hours late (a device uploading its buffer after an
-- outage) reach readings_1m only through a manual refresh_continuous_aggregate(); issue 8 makes the
-- window a setting.
-- https://docs.timescale.com/api/latest/continuous-aggregates/add_continuous_aggregate_policy/
SELECT add_continuous_aggregate_policy(
    'readings_1m',
    start_offset => INTERVAL '2 hours',
    end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute'
);
