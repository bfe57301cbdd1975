-- Broker credentials of devices and services (issue 8, eldercare/provisioning.py). Only mosquitto
-- `$7$` PBKDF2-SHA512 hashes are stored; a device secret is shown once to the operator and never
-- kept. Mosquitto's password and ACL files are rendered from these tables (so they can be rebuilt
-- at any time); the EMQX cluster of the scale profile reads the two views below directly.

CREATE TABLE device_credentials (
    device_id      text PRIMARY KEY REFERENCES devices,
    -- The broker username; today always the device id (kept as a column so it can differ later).
    username       text NOT NULL UNIQUE,
    -- The MQTT namespace (first topic level) the credentials were issued for.
    namespace      text NOT NULL,
    password_hash  text NOT NULL CHECK (password_hash LIKE '$7$%'),
    created_at     timestamptz NOT NULL,
    rotated_at     timestamptz NOT NULL,
    -- Set by `eldercare devices revoke`; a revoked device is left out of the broker's files/views.
    revoked_at     timestamptz
);

-- Accounts of the eldercare services (ingest, analytics, alerts, API), registered from their own
-- ELDERCARE_MQTT_URL by `eldercare devices register-service` (a one-shot in the scale profile).
CREATE TABLE broker_service_accounts (
    username       text PRIMARY KEY,
    namespace      text NOT NULL,
    password_hash  text NOT NULL CHECK (password_hash LIKE '$7$%'),
    updated_at     timestamptz NOT NULL
);

-- EMQX password_based/postgresql authentication with
--   password_hash_algorithm {name = pbkdf2, mac_fun = sha512, iterations = 101, dk_length = 64}:
-- EMQX hashes with the returned salt (raw bytes) and compares lowercase hex, so the `$7$` fields
-- ($7$<iterations>$<base64 salt>$<base64 key>) are decoded here. deploy/emqx/emqx.conf holds the query.
CREATE VIEW mqtt_credentials AS
SELECT username,
       encode(decode(split_part(password_hash, '$', 5), 'base64'), 'hex') AS password_hash,
       decode(split_part(password_hash, '$', 4), 'base64') AS salt
FROM device_credentials
WHERE revoked_at IS NULL
UNION ALL
SELECT username,
       encode(decode(split_part(password_hash, '$', 5), 'base64'), 'hex'),
       decode(split_part(password_hash, '$', 4), 'base64')
FROM broker_service_accounts;

-- EMQX postgresql authorization (no_match = deny): the same rules as eldercare/broker_files.py
-- renders for Mosquitto. The stream list must equal devices.Stream (a test checks it).
CREATE VIEW mqtt_acl AS
SELECT c.username, 'allow'::text AS permission, 'publish'::text AS action,
       c.namespace || '/v1/' || d.site_id || '/' || d.device_id || '/' || s.stream AS topic
FROM device_credentials c
JOIN devices d USING (device_id)
CROSS JOIN (VALUES ('vitals'), ('bp'), ('status')) AS s (stream)
WHERE c.revoked_at IS NULL
UNION ALL
SELECT c.username, 'allow', 'subscribe',
       c.namespace || '/v1/' || d.site_id || '/' || d.device_id || '/cmd/#'
FROM device_credentials c
JOIN devices d USING (device_id)
WHERE c.revoked_at IS NULL
UNION ALL
SELECT username, 'allow', 'all', namespace || '/#' FROM broker_service_accounts
UNION ALL
SELECT username, 'allow', 'subscribe', '$SYS/#' FROM broker_service_accounts;
