-- Indexes for the closing-windows list (docs/benchmarks.md, "Staff pages on
-- the 100,000-client practice"): for each recent dose, the client's first
-- therapy session after it, the client's next dose, and the dose's number in
-- its course are index seeks on the client instead of reads of the client's
-- whole record. Each holds every column those seeks read, so no row is read.
CREATE INDEX encounters_therapy_client ON encounters (client_id, (COALESCE(actual_start, scheduled_start)),
    actual_start, scheduled_start, kind, status)
    WHERE kind IN ('integration', 'individual_therapy') AND status NOT IN ('cancelled', 'no_show');
CREATE INDEX encounters_dose_client ON encounters (client_id, (COALESCE(actual_start, scheduled_start)), id,
    course_id, actual_start, scheduled_start, kind, status)
    WHERE kind = 'dosing' AND status = 'completed';
CREATE INDEX dosing_sessions_client ON dosing_sessions (client_id, started_at, encounter_id);
