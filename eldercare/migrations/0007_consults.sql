-- Consults and referrals across the three-tier care network (issue 7; package `consults/`).
-- Statuses follow FHIR R4 Task.status; the legal moves live in consults/_states.py, not here.

-- Alliances (医联体): member sites, the order hospitals are tried when a referral is not accepted in
-- time, and the on-call coordinator who takes over when every hospital has been tried.
CREATE TABLE alliances (
    alliance_id       text PRIMARY KEY,
    name              text NOT NULL,
    coordinator_name  text NOT NULL,
    coordinator_phone text,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alliance_members (
    alliance_id      text    NOT NULL REFERENCES alliances,
    site_id          text    NOT NULL REFERENCES sites,
    escalation_rank  integer NOT NULL DEFAULT 0,  -- lower is tried first among same-tier sites
    PRIMARY KEY (alliance_id, site_id)
);
CREATE INDEX alliance_members_site_idx ON alliance_members (site_id);

-- Which site refers to which (a home bed to its care home's community centre, a centre to its
-- hospital); referrals up may only follow these routes, back-referrals follow them reversed.
CREATE TABLE referral_routes (
    from_site_id  text NOT NULL REFERENCES sites,
    to_site_id    text NOT NULL REFERENCES sites,
    PRIMARY KEY (from_site_id, to_site_id),
    CHECK (from_site_id <> to_site_id)
);

CREATE TABLE departments (
    department_id  text PRIMARY KEY,
    site_id        text NOT NULL REFERENCES sites,
    name           text NOT NULL,
    specialty      text NOT NULL
);
CREATE INDEX departments_site_idx ON departments (site_id);

CREATE TABLE specialists (
    specialist_id  text PRIMARY KEY,
    department_id  text NOT NULL REFERENCES departments,
    display_name   text NOT NULL,
    specialty      text NOT NULL,
    on_call        boolean NOT NULL DEFAULT false
);
CREATE INDEX specialists_department_idx ON specialists (department_id);

CREATE TABLE consults (
    consult_id          bigserial   PRIMARY KEY,
    resident_id         text        NOT NULL REFERENCES residents,
    requesting_site_id  text        NOT NULL REFERENCES sites,
    target_site_id      text        NOT NULL REFERENCES sites,
    department_id       text        REFERENCES departments,
    specialist_id       text        REFERENCES specialists,
    alert_id            bigint      REFERENCES alerts,
    urgency             text        NOT NULL CHECK (urgency IN ('routine', 'urgent', 'emergency')),
    status              text        NOT NULL,
    question            text        NOT NULL,
    snapshot            jsonb       NOT NULL,
    requested_by        text        NOT NULL,
    requested_at        timestamptz NOT NULL,
    respond_by          timestamptz NOT NULL,
    advice              text,
    advice_action       text CHECK (advice_action IN ('keep_monitoring', 'change_thresholds',
                                                      'start_referral')),
    advice_detail       jsonb,
    answered_by         text,
    answered_at         timestamptz,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX consults_target_idx ON consults (target_site_id, status, respond_by);
CREATE INDEX consults_requesting_idx ON consults (requesting_site_id, requested_at DESC);
CREATE INDEX consults_resident_idx ON consults (resident_id, requested_at DESC);

CREATE TABLE referrals (
    referral_id          bigserial   PRIMARY KEY,
    resident_id          text        NOT NULL REFERENCES residents,
    direction            text        NOT NULL CHECK (direction IN ('up', 'down')),
    priority             text        NOT NULL CHECK (priority IN ('routine', 'urgent',
                                                                  'green_channel')),
    status               text        NOT NULL,
    from_site_id         text        NOT NULL REFERENCES sites,
    to_site_id           text        NOT NULL REFERENCES sites,  -- current owner (FHIR Task.owner)
    department_id        text        REFERENCES departments,
    alliance_id          text        REFERENCES alliances,
    reason               text        NOT NULL,
    handover             jsonb       NOT NULL,
    rehab_plan           jsonb,        -- back-referrals: the hospital's plan for the receiving site
    consult_id           bigint      REFERENCES consults,
    parent_referral_id   bigint      REFERENCES referrals,  -- a back-referral's original referral
    proposed_by_policy   boolean     NOT NULL DEFAULT false,
    requested_by         text        NOT NULL,
    requested_at         timestamptz NOT NULL,
    accept_by            timestamptz,
    tried_site_ids       text[]      NOT NULL DEFAULT '{}',
    escalation_level     integer     NOT NULL DEFAULT 0,
    coordinator_owned    boolean     NOT NULL DEFAULT false,
    status_reason        text,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX referrals_to_idx ON referrals (to_site_id, status, accept_by);
CREATE INDEX referrals_from_idx ON referrals (from_site_id, requested_at DESC);
CREATE INDEX referrals_resident_idx ON referrals (resident_id, requested_at DESC);
CREATE INDEX referrals_deadline_idx ON referrals (accept_by) WHERE status = 'requested';

-- Alert <-> referral, queried in both directions (what did this alert lead to; what started this
-- referral). Also the policy worker's record of alerts it has already decided on.
CREATE TABLE referral_alert_links (
    referral_id  bigint      NOT NULL REFERENCES referrals,
    alert_id     bigint      NOT NULL REFERENCES alerts,
    linked_by    text        NOT NULL,
    linked_at    timestamptz NOT NULL,
    PRIMARY KEY (referral_id, alert_id)
);
CREATE INDEX referral_alert_links_alert_idx ON referral_alert_links (alert_id);

CREATE TABLE consult_policy_decisions (
    alert_id     bigint      PRIMARY KEY REFERENCES alerts,
    decision     text        NOT NULL CHECK (decision IN ('none', 'propose', 'open')),
    referral_id  bigint      REFERENCES referrals,
    reason       text        NOT NULL,
    decided_at   timestamptz NOT NULL
);

-- Every change made by the consults package: status transitions, reassignments, risk-tier and
-- threshold changes, follow-up completions. Append-only.
CREATE TABLE consults_audit (
    audit_id     bigserial   PRIMARY KEY,
    entity       text        NOT NULL CHECK (entity IN ('consult', 'referral', 'resident',
                                                        'follow_up', 'network')),
    entity_id    text        NOT NULL,
    action       text        NOT NULL,
    from_status  text,
    to_status    text,
    actor        text        NOT NULL,
    at           timestamptz NOT NULL,
    detail       jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX consults_audit_entity_idx ON consults_audit (entity, entity_id, audit_id);

-- Risk stratification (分类管理): a raised tier may be temporary (after a back-referral); the
-- worker returns it to `risk_tier_after` once `risk_tier_until` passes.
ALTER TABLE residents ADD COLUMN risk_tier_until timestamptz;
ALTER TABLE residents ADD COLUMN risk_tier_after text
    CHECK (risk_tier_after IN ('low', 'medium', 'high'));

-- Per-resident detector threshold adjustments (from a consult's advice or a back-referral), read
-- by the detectors through consults.effective_thresholds.
CREATE TABLE resident_thresholds (
    resident_id  text        NOT NULL REFERENCES residents,
    parameter    text        NOT NULL,
    value        double precision NOT NULL,
    valid_from   timestamptz NOT NULL,
    valid_until  timestamptz,
    source       text        NOT NULL,
    PRIMARY KEY (resident_id, parameter, valid_from)
);

CREATE TABLE follow_up_tasks (
    task_id       bigserial   PRIMARY KEY,
    resident_id   text        NOT NULL REFERENCES residents,
    site_id       text        NOT NULL REFERENCES sites,
    risk_tier     text        NOT NULL CHECK (risk_tier IN ('low', 'medium', 'high')),
    due_at        timestamptz NOT NULL,
    status        text        NOT NULL CHECK (status IN ('requested', 'completed', 'cancelled')),
    note          text,
    completed_by  text,
    completed_at  timestamptz,
    created_at    timestamptz NOT NULL
);
-- One open follow-up per resident: the schedule creates the next one when it is done.
CREATE UNIQUE INDEX follow_up_one_open_idx ON follow_up_tasks (resident_id)
    WHERE status = 'requested';
CREATE INDEX follow_up_site_idx ON follow_up_tasks (site_id, status, due_at);
