-- Detector findings (analytics' output) and alerts (the alerts stage's lifecycle over them).

CREATE TABLE findings (
    finding_id        bigserial   PRIMARY KEY,
    resident_id       text        NOT NULL REFERENCES residents,
    device_id         text,
    kind              text        NOT NULL,
    severity          text        NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    -- Data-quality findings (device silent, flatline, poor signal) never page clinicians.
    channel           text        NOT NULL CHECK (channel IN ('clinical', 'data_quality')),
    started_at        timestamptz NOT NULL,
    detected_at       timestamptz NOT NULL,
    evidence          jsonb       NOT NULL,
    detector          text        NOT NULL,
    detector_version  text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    processed_at      timestamptz,
    alert_id          bigint
);
CREATE INDEX findings_pending_idx ON findings (finding_id) WHERE processed_at IS NULL;
CREATE INDEX findings_resident_idx ON findings (resident_id, detected_at DESC);

CREATE TABLE alerts (
    alert_id          bigserial   PRIMARY KEY,
    resident_id       text        NOT NULL REFERENCES residents,
    site_id           text        NOT NULL REFERENCES sites,
    kind              text        NOT NULL,
    channel           text        NOT NULL CHECK (channel IN ('clinical', 'data_quality')),
    severity          text        NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    state             text        NOT NULL DEFAULT 'open'
                                  CHECK (state IN ('open', 'acknowledged', 'resolved')),
    escalation_level  integer     NOT NULL DEFAULT 0,
    started_at        timestamptz NOT NULL,  -- when the condition began (device time)
    detected_at       timestamptz NOT NULL,  -- when the first finding met its definition
    last_seen_at      timestamptz NOT NULL,
    finding_count     integer     NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- At most one unresolved alert per resident and kind: repeats update it.
CREATE UNIQUE INDEX alerts_one_open_idx ON alerts (resident_id, kind) WHERE state <> 'resolved';
CREATE INDEX alerts_site_idx ON alerts (site_id, created_at DESC);

ALTER TABLE findings ADD CONSTRAINT findings_alert_fk FOREIGN KEY (alert_id) REFERENCES alerts;
