-- A dose outside the course's protocol (its route or amount) is given only
-- as a prescriber's documented exception: the reason, and who gave it
-- (`started_by`, a prescriber).
ALTER TABLE dosing_sessions ADD COLUMN dose_exception TEXT;
