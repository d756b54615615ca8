-- A vital-sign or sedation alert raised during a dose is a safety alert like
-- a questionnaire's: it names the dosing session it came from, and the staff
-- member who charted the reading sees it on every page until it is
-- acknowledged (as do the course's prescriber and therapist).
ALTER TABLE alerts ADD COLUMN dosing_session_id TEXT;
ALTER TABLE alerts ADD COLUMN notify_staff_id TEXT;
CREATE INDEX alerts_session ON alerts (dosing_session_id) WHERE dosing_session_id IS NOT NULL;
