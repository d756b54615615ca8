-- Pre-treatment screens and the prescriber's signed eligibility decision.
-- A screen is written once; signing sets the decision once; after that the
-- row never changes (a new screen is recorded instead).

CREATE TABLE screens (
    id TEXT PRIMARY KEY,
    course_id TEXT NOT NULL REFERENCES courses(id),
    client_id TEXT NOT NULL REFERENCES clients(id),
    -- JSON: the typed findings, and the rules that applied when recorded.
    findings TEXT NOT NULL,
    classified TEXT NOT NULL,
    recorded_by TEXT REFERENCES staff(id),
    recorded_at BIGINT NOT NULL,
    -- Set once, by a prescriber.
    eligible BIGINT,
    decision TEXT,
    signed_by TEXT REFERENCES staff(id),
    signed_at BIGINT
);
CREATE INDEX screens_course ON screens (course_id, recorded_at);

CREATE TRIGGER screens_sign_once BEFORE UPDATE ON screens
WHEN OLD.signed_at IS NOT NULL OR NEW.signed_at IS NULL OR NEW.eligible IS NULL OR NEW.decision IS NULL
  OR NEW.signed_by IS NULL
  OR NEW.id IS NOT OLD.id OR NEW.course_id IS NOT OLD.course_id OR NEW.client_id IS NOT OLD.client_id
  OR NEW.findings IS NOT OLD.findings OR NEW.classified IS NOT OLD.classified
  OR NEW.recorded_by IS NOT OLD.recorded_by OR NEW.recorded_at IS NOT OLD.recorded_at
BEGIN
    SELECT RAISE(ABORT, 'a screen is signed once and never changed; record a new screen instead');
END;

CREATE TRIGGER screens_no_delete BEFORE DELETE ON screens
BEGIN
    SELECT RAISE(ABORT, 'a screen is never deleted');
END;
