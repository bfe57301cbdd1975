-- Analytics: per-resident detector settings (clinician overrides with an audit trail) and nightly
-- sleep summaries. The risk tier itself is residents.risk_tier (0001).

-- The override in force per resident and parameter (`<detector>.<parameter>`).
CREATE TABLE detector_overrides (
    resident_id  text             NOT NULL REFERENCES residents,
    parameter    text             NOT NULL,
    value        double precision NOT NULL,
    set_by       text             NOT NULL,
    reason       text             NOT NULL,
    set_at       timestamptz      NOT NULL,
    PRIMARY KEY (resident_id, parameter)
);

-- Every change, append-only: who set or cleared what, when and why.
CREATE TABLE detector_override_audit (
    audit_id     bigserial        PRIMARY KEY,
    resident_id  text             NOT NULL REFERENCES residents,
    parameter    text             NOT NULL,
    action       text             NOT NULL CHECK (action IN ('set', 'clear')),
    old_value    double precision,
    new_value    double precision,
    changed_by   text             NOT NULL,
    reason       text             NOT NULL,
    changed_at   timestamptz      NOT NULL
);
CREATE INDEX detector_override_audit_resident_idx
    ON detector_override_audit (resident_id, changed_at DESC);

-- One row per resident and night (the date the night starts, in the home's local time).
CREATE TABLE sleep_summaries (
    resident_id  text        NOT NULL REFERENCES residents,
    night        date        NOT NULL,
    summary      jsonb       NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (resident_id, night)
);
