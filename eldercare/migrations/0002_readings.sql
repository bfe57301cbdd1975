-- Raw time series and rejected messages. Plain tables here; 0003 adds the Timescale or plain extras.

CREATE TABLE readings (
    ts           timestamptz      NOT NULL,  -- the device's own timestamp
    device_id    text             NOT NULL,
    metric       text             NOT NULL,  -- a devices.Metric value
    value        double precision NOT NULL,
    seq          bigint,                     -- the device's message sequence number
    received_at  timestamptz      NOT NULL,
    -- The writing transaction: consumers follow committed readings in commit-safe order with
    -- pg_snapshot_xmin() (see analytics' reading feed), which a sequence cannot give.
    tx           xid8             NOT NULL DEFAULT pg_current_xact_id(),
    -- Idempotency: a re-delivered sample never creates a second row.
    PRIMARY KEY (device_id, metric, ts)
);
CREATE INDEX readings_ts_idx ON readings (ts DESC);
CREATE INDEX readings_tx_idx ON readings (tx);

-- Every message ingest could not accept, with the reason, kept for listing and replay.
CREATE TABLE quarantine (
    quarantine_id  bigserial   PRIMARY KEY,
    topic          text        NOT NULL,
    payload        bytea       NOT NULL,
    reason         text        NOT NULL,
    received_at    timestamptz NOT NULL,
    replayed_at    timestamptz
);
CREATE INDEX quarantine_received_idx ON quarantine (received_at DESC);

-- Durable positions of stream consumers (analytics follows readings).
CREATE TABLE stream_cursors (
    consumer    text PRIMARY KEY,
    position    xid8 NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Availability, kept apart from measurements: birth/last-will state and when data last arrived.
CREATE TABLE device_status (
    device_id         text PRIMARY KEY REFERENCES devices,
    state             text CHECK (state IN ('online', 'offline')),
    state_changed_at  timestamptz,
    last_seen_at      timestamptz NOT NULL
);
