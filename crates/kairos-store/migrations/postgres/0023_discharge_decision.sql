-- A discharge before the client is ready (an unacknowledged alert of the
-- session, MOAA/S below 5, vital signs out of range) is a prescriber's
-- documented decision: its text, beside `discharged_by`.
ALTER TABLE dosing_sessions ADD COLUMN discharge_decision TEXT;
