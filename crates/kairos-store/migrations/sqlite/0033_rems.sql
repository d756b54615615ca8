-- The esketamine REMS records Kairos keeps beside the dosing chart
-- (src/rems.rs): a client's enrolment in the REMS (the Patient Enrollment
-- Form, required before the first treatment), each site's details as a
-- REMS-certified healthcare setting (the monitoring form names the setting
-- and reaches the monitoring provider at its telephone), and the prescriber
-- on site named when each session starts.
CREATE TABLE rems_enrolments (
    client_id TEXT PRIMARY KEY REFERENCES clients (id),
    enrolled_on TEXT NOT NULL,
    sex TEXT NOT NULL CHECK (sex IN ('female', 'male')),
    rems_patient_id TEXT,
    recorded_by TEXT REFERENCES staff (id),
    recorded_at BIGINT NOT NULL
);
CREATE TABLE rems_settings (
    site_id TEXT PRIMARY KEY REFERENCES sites (id),
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    phone TEXT NOT NULL,
    updated_by TEXT REFERENCES staff (id),
    updated_at BIGINT NOT NULL
);
ALTER TABLE dosing_sessions ADD COLUMN prescriber_on_site TEXT REFERENCES staff (id);
