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

CREATE FUNCTION screens_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'a screen is never deleted';
    END IF;
    IF OLD.signed_at IS NOT NULL OR NEW.signed_at IS NULL OR NEW.eligible IS NULL OR NEW.decision IS NULL
       OR NEW.signed_by IS NULL
       OR (NEW.id, NEW.course_id, NEW.client_id, NEW.findings, NEW.classified, NEW.recorded_by, NEW.recorded_at)
          IS DISTINCT FROM
          (OLD.id, OLD.course_id, OLD.client_id, OLD.findings, OLD.classified, OLD.recorded_by, OLD.recorded_at) THEN
        RAISE EXCEPTION 'a screen is signed once and never changed; record a new screen instead';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER screens_sign_once BEFORE UPDATE OR DELETE ON screens
FOR EACH ROW EXECUTE FUNCTION screens_guard();
