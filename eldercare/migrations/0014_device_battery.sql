-- The battery charge devices report in their status message (contract v1 `battery`, 0..1), kept
-- with its time so the device page can show it and how old it is.
ALTER TABLE device_status ADD COLUMN battery real CHECK (battery BETWEEN 0 AND 1);
ALTER TABLE device_status ADD COLUMN battery_at timestamptz;
