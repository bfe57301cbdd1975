-- Care network, residents, beds and devices: ordinary tables on every backend.

CREATE TABLE sites (
    site_id     text PRIMARY KEY,
    name        text NOT NULL,
    -- The three-tier network (home bed / care home -> community health centre -> tertiary hospital).
    tier        text NOT NULL CHECK (tier IN ('home_bed', 'care_home', 'community_health_centre',
                                              'tertiary_hospital')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE residents (
    resident_id   text PRIMARY KEY,
    site_id       text NOT NULL REFERENCES sites,
    display_name  text NOT NULL,
    risk_tier     text NOT NULL DEFAULT 'medium' CHECK (risk_tier IN ('low', 'medium', 'high')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX residents_site_idx ON residents (site_id);

CREATE TABLE beds (
    bed_id   text PRIMARY KEY,
    site_id  text NOT NULL REFERENCES sites,
    label    text NOT NULL
);

CREATE TABLE devices (
    device_id   text PRIMARY KEY,
    site_id     text NOT NULL REFERENCES sites,
    model       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Who a device measured, over time: a reading is attributed to the resident assigned at its timestamp,
-- so moving a mattress to another bed never rewrites history.
CREATE TABLE device_assignments (
    device_id       text NOT NULL REFERENCES devices,
    resident_id     text NOT NULL REFERENCES residents,
    bed_id          text REFERENCES beds,
    assigned_from   timestamptz NOT NULL,
    assigned_until  timestamptz,
    PRIMARY KEY (device_id, assigned_from),
    CHECK (assigned_until IS NULL OR assigned_until > assigned_from)
);
CREATE INDEX device_assignments_resident_idx ON device_assignments (resident_id);
