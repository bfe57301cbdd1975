-- Plain PostgreSQL: per-minute rollups live in a table the ingest writer keeps up to date in the same
-- transaction as the readings (see ingest's writer). Same name and columns as the Timescale
-- continuous aggregate, so every query reads `readings_1m` on both backends.

CREATE TABLE readings_1m (
    bucket     timestamptz      NOT NULL,
    device_id  text             NOT NULL,
    metric     text             NOT NULL,
    n          integer          NOT NULL,
    mean       double precision NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    PRIMARY KEY (device_id, metric, bucket)
);
