-- Indexes for the dashboard's read paths (issue 10; dashboard/_read_models.py). Nothing else.

-- Ward overview: the beds of one site, and each bed's current device assignments.
CREATE INDEX beds_site_idx ON beds (site_id, label);
CREATE INDEX device_assignments_bed_current_idx ON device_assignments (bed_id)
    WHERE assigned_until IS NULL;
CREATE INDEX device_assignments_resident_current_idx ON device_assignments (resident_id)
    WHERE assigned_until IS NULL;

-- Ward overview and resident page: a site's (or resident's) unresolved alerts.
CREATE INDEX alerts_site_unresolved_idx ON alerts (site_id) WHERE state <> 'resolved';

-- Device page: a device's data-quality findings (to name its open data-quality alerts).
CREATE INDEX findings_device_data_quality_idx ON findings (device_id, alert_id)
    WHERE channel = 'data_quality';

-- Device page: quarantine counts per device. Quarantine rows keep the topic, whose second-last
-- level is the device id ({namespace}/v1/{site}/{device}/{stream}, devices.Topics).
CREATE INDEX quarantine_device_idx ON quarantine (split_part(topic, '/', -2), received_at);

-- Resident page: the latest NEWS2 finding of a resident.
CREATE INDEX findings_resident_kind_idx ON findings (resident_id, kind, detected_at DESC);
