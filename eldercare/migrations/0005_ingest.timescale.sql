-- Availability as data-quality events, live ingest counters, and a faster quarantine listing.

-- Silence past a device's expected interval (devices.DEVICE_MODELS report_interval_s): set by the
-- ingest silence sweep, cleared by the next reading (which emits a 'resumed' event).
ALTER TABLE device_status ADD COLUMN silent_since timestamptz;

-- Data-quality events: the availability stream analytics, alerts and the dashboard consume. They are
-- never clinical alerts. Every device has a row here (with or without a resident); events of a device
-- assigned to a resident are also written to `findings` with channel 'data_quality'.
CREATE TABLE data_quality_events (
    event_id     bigserial   PRIMARY KEY,
    device_id    text        NOT NULL REFERENCES devices,
    site_id      text        NOT NULL REFERENCES sites,
    resident_id  text        REFERENCES residents,  -- assigned at `at`, when there is one
    kind         text        NOT NULL CHECK (kind IN ('online', 'offline', 'silent', 'resumed')),
    at           timestamptz NOT NULL,  -- when ingest observed it
    detail       jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX data_quality_events_device_idx ON data_quality_events (device_id, at DESC);

-- One row per running ingest worker: its counters, refreshed about once a second (eldercare status).
CREATE TABLE ingest_workers (
    worker_id   text        PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    counters    jsonb       NOT NULL
);

CREATE INDEX quarantine_pending_idx ON quarantine (quarantine_id) WHERE replayed_at IS NULL;
