-- Alerts: acknowledgement/resolution, escalation state, audit, the durable outbox of alert events,
-- subscribers and their deliveries, per-site escalation policies and the on-call rota.

ALTER TABLE alerts
    ADD COLUMN policy              text,
    ADD COLUMN escalated_at        timestamptz,  -- when the current escalation level began
    ADD COLUMN next_escalation_at  timestamptz,  -- NULL once acknowledged or resolved
    ADD COLUMN reminder_count      integer NOT NULL DEFAULT 0,  -- at the current level
    ADD COLUMN acknowledged_at     timestamptz,
    ADD COLUMN acknowledged_by     text,
    ADD COLUMN resolved_at         timestamptz,
    ADD COLUMN resolved_by         text,
    -- A new episode that starts after staff resolved the previous one links back to it.
    ADD COLUMN previous_alert_id   bigint REFERENCES alerts;
CREATE INDEX alerts_escalation_due_idx ON alerts (next_escalation_at)
    WHERE next_escalation_at IS NOT NULL;
CREATE INDEX alerts_resident_kind_idx ON alerts (resident_id, kind, alert_id DESC);

-- The outbox: every alert state change, written in the transaction that made it. `event_id` is
-- the stable id receivers deduplicate on. Tailing readers go by (tx, seq) and only read below the
-- snapshot's xmin (every older transaction has finished), so an event that commits late is never
-- skipped, which a bare `seq` cursor cannot promise (docs/alerts.md).
CREATE TABLE alert_events (
    seq          bigserial   PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    alert_id     bigint      NOT NULL REFERENCES alerts,
    event_type   text        NOT NULL CHECK (event_type IN ('opened', 'worsened', 'acknowledged',
                                                             'escalated', 'reminder', 'resolved')),
    site_id      text        NOT NULL,
    resident_id  text        NOT NULL,
    kind         text        NOT NULL,
    channel      text        NOT NULL CHECK (channel IN ('clinical', 'data_quality')),
    severity     text        NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    finding_id   bigint,     -- the finding that caused it, when one did
    payload      jsonb       NOT NULL,
    occurred_at  timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    tx           xid8        NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX alert_events_tail_idx ON alert_events (tx, seq);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, seq);

-- Who did what to an alert, when, and why.
CREATE TABLE alert_audit (
    audit_id     bigserial   PRIMARY KEY,
    alert_id     bigint      NOT NULL REFERENCES alerts,
    action       text        NOT NULL CHECK (action IN ('acknowledged', 'resolved', 'escalated')),
    actor        text        NOT NULL,  -- a staff id, or 'system' for automatic escalation
    note         text,
    at           timestamptz NOT NULL,
    escalation_level integer NOT NULL
);
CREATE INDEX alert_audit_alert_idx ON alert_audit (alert_id, audit_id);

CREATE TABLE alert_subscribers (
    subscriber_id      bigserial   PRIMARY KEY,
    name               text        NOT NULL UNIQUE,
    transport          text        NOT NULL CHECK (transport IN ('mqtt', 'webhook', 'sse')),
    url                text,
    secret             text,       -- webhook HMAC key; never returned by the API
    site_id            text,       -- NULL: every site
    min_severity       text        NOT NULL DEFAULT 'low'
                                   CHECK (min_severity IN ('low', 'medium', 'high', 'critical')),
    kinds              text[],     -- NULL: every kind
    channels           text[]      NOT NULL DEFAULT '{clinical}',
    max_per_minute     integer     CHECK (max_per_minute IS NULL OR max_per_minute > 0),
    active             boolean     NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (transport <> 'webhook' OR (url IS NOT NULL AND secret IS NOT NULL))
);
-- The MQTT alert topic is a subscriber like any other, so its deliveries share the outbox.
INSERT INTO alert_subscribers (name, transport, channels)
VALUES ('mqtt-alert-topic', 'mqtt', '{clinical,data_quality}');

CREATE TABLE alert_deliveries (
    delivery_id      bigserial   PRIMARY KEY,
    event_id         uuid        NOT NULL REFERENCES alert_events (event_id),
    subscriber_id    bigint      NOT NULL REFERENCES alert_subscribers ON DELETE CASCADE,
    state            text        NOT NULL DEFAULT 'pending'
                                 CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_error       text,
    digest_size      integer,    -- >1 when sent inside a rate-limit digest
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, subscriber_id)
);
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX alert_deliveries_sent_idx ON alert_deliveries (subscriber_id, delivered_at)
    WHERE state = 'delivered';

-- Per-site escalation policies; sites without rows use the built-in defaults (alerts._policies).
CREATE TABLE escalation_policies (
    site_id          text        NOT NULL REFERENCES sites,
    name             text        NOT NULL,
    channel          text        NOT NULL DEFAULT 'clinical'
                                 CHECK (channel IN ('clinical', 'data_quality')),
    risk_tiers       text[]      NOT NULL DEFAULT '{low,medium,high}',
    min_severity     text        NOT NULL DEFAULT 'low'
                                 CHECK (min_severity IN ('low', 'medium', 'high', 'critical')),
    steps            jsonb       NOT NULL,  -- [{"role": "...", "after_s": n}, ...]
    reminder_every_s integer     NOT NULL CHECK (reminder_every_s > 0),
    hand_off         text        NOT NULL DEFAULT 'none'
                                 CHECK (hand_off IN ('none', 'propose_consult', 'open_consult',
                                                     'propose_referral', 'open_green_channel')),
    priority         integer     NOT NULL DEFAULT 0,  -- higher wins when several match
    PRIMARY KEY (site_id, name)
);

-- The on-call rota: who holds a role at a site during one shift.
CREATE TABLE oncall_shifts (
    shift_id   bigserial   PRIMARY KEY,
    site_id    text        NOT NULL REFERENCES sites,
    role       text        NOT NULL,
    staff_id   text        NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX oncall_shifts_site_idx ON oncall_shifts (site_id, role, starts_at);
