-- Staff accounts, sessions, the access audit and residents' notes (issue 10; package `dashboard/`).
-- Roles and what each may do live in dashboard/_access.py, not here.

CREATE TABLE staff_users (
    user_id          bigserial   PRIMARY KEY,
    username         text        NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,63}$'),
    display_name     text        NOT NULL,
    role             text        NOT NULL CHECK (role IN ('nurse', 'charge_nurse', 'doctor',
                                                          'site_admin', 'specialist',
                                                          'network_admin')),
    -- Site staff belong to one site; a network admin to one alliance (医联体), never both.
    site_id          text        REFERENCES sites,
    alliance_id      text        REFERENCES alliances,
    password_hash    text        NOT NULL,  -- argon2id, PHC string
    locale           text        NOT NULL DEFAULT 'zh-CN' CHECK (locale IN ('zh-CN', 'en')),
    active           boolean     NOT NULL DEFAULT true,
    failed_logins    integer     NOT NULL DEFAULT 0,
    locked_until     timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK (CASE WHEN role = 'network_admin' THEN alliance_id IS NOT NULL AND site_id IS NULL
                ELSE site_id IS NOT NULL AND alliance_id IS NULL END)
);
CREATE INDEX staff_users_site_idx ON staff_users (site_id);

-- Opaque session tokens: only their SHA-256 is stored, so a leaked table opens no session.
CREATE TABLE staff_sessions (
    token_hash   bytea       PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES staff_users,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX staff_sessions_user_idx ON staff_sessions (user_id);

-- Every authenticated API request (reads of residents' records and every change), logins and
-- refusals. Append-only: the API has no route that updates or deletes it.
CREATE TABLE access_audit (
    audit_id     bigserial   PRIMARY KEY,
    at           timestamptz NOT NULL,
    user_id      bigint      REFERENCES staff_users,
    username     text,
    role         text,
    action       text        NOT NULL CHECK (action IN ('read', 'change', 'login', 'login_failed',
                                                        'logout', 'denied')),
    method       text        NOT NULL,
    route        text        NOT NULL,
    path         text        NOT NULL,
    resident_id  text,
    site_id      text,
    status       integer     NOT NULL
);
CREATE INDEX access_audit_at_idx ON access_audit (at DESC);
CREATE INDEX access_audit_resident_idx ON access_audit (resident_id, at DESC)
    WHERE resident_id IS NOT NULL;
CREATE INDEX access_audit_user_idx ON access_audit (user_id, at DESC);

CREATE TABLE resident_notes (
    note_id         bigserial   PRIMARY KEY,
    resident_id     text        NOT NULL REFERENCES residents,
    author_user_id  bigint      NOT NULL REFERENCES staff_users,
    author          text        NOT NULL,
    body            text        NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    created_at      timestamptz NOT NULL
);
CREATE INDEX resident_notes_resident_idx ON resident_notes (resident_id, created_at DESC);
