-- Indexes for the staff pages on a large practice (docs/benchmarks.md,
-- "Staff pages on the 100,000-client practice"); each replaced a scan of
-- every encounter or client.
-- A course's doses (the questionnaires due list and the chart's measure
-- schedule).
CREATE INDEX encounters_course ON encounters (course_id, kind, scheduled_start, status);
-- A staff member's courses as prescriber or therapist (the questionnaires
-- due list).
CREATE INDEX courses_prescriber ON courses (prescriber_id);
CREATE INDEX courses_therapist ON courses (therapist_id);
-- Dose visits marked completed, by day (the ledger's doses with no session
-- charted) and by when the dose was given (the closing-windows list).
CREATE INDEX encounters_dose_day ON encounters (scheduled_start, id) WHERE kind = 'dosing' AND status = 'completed';
CREATE INDEX encounters_dose_given ON encounters ((COALESCE(actual_start, scheduled_start)), client_id, id)
    WHERE kind = 'dosing' AND status = 'completed';
-- Dosing sessions by when the dose started, and therapy sessions that may
-- integrate a dose by when they start (the closing-windows list).
CREATE INDEX dosing_sessions_started ON dosing_sessions (started_at);
CREATE INDEX encounters_therapy_given ON encounters ((COALESCE(actual_start, scheduled_start)), client_id)
    WHERE kind IN ('integration', 'individual_therapy') AND status NOT IN ('cancelled', 'no_show');
-- Client search on the full name ("given family"), beside the family and
-- given name indexes.
CREATE INDEX clients_full ON clients (search_full);
