-- Measurement-based care: administered questionnaires, safety alerts, and
-- self-report links. Administrations are immutable: the only change allowed
-- is marking one "entered in error" (once, with a reason).

CREATE TABLE measure_administrations (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    course_id TEXT REFERENCES courses(id),
    instrument_id TEXT NOT NULL,
    instrument_version TEXT NOT NULL,
    completed_at BIGINT NOT NULL,
    -- JSON array, one entry per item (null = unanswered), or null when only
    -- the total was entered.
    answers TEXT,
    score BIGINT NOT NULL,
    prorated BIGINT NOT NULL,
    subscores TEXT NOT NULL,
    severity TEXT,
    provisional_diagnosis BIGINT,
    source TEXT NOT NULL,
    entered_by TEXT REFERENCES staff(id),
    request_id TEXT,
    created_at BIGINT NOT NULL,
    error_reason TEXT,
    error_by TEXT REFERENCES staff(id),
    error_at BIGINT
);
CREATE INDEX measure_admin_client ON measure_administrations (client_id, instrument_id, completed_at);
-- Covering index for practice outcome reports: one instrument's valid scores.
CREATE INDEX measure_admin_scores ON measure_administrations (instrument_id, client_id, completed_at, score)
    WHERE error_at IS NULL;

CREATE FUNCTION measure_admin_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'a recorded questionnaire is never deleted';
    END IF;
    IF OLD.error_at IS NOT NULL OR NEW.error_at IS NULL OR NEW.error_reason IS NULL
       OR (NEW.id, NEW.client_id, NEW.course_id, NEW.instrument_id, NEW.instrument_version, NEW.completed_at,
           NEW.answers, NEW.score, NEW.prorated, NEW.subscores, NEW.severity, NEW.provisional_diagnosis,
           NEW.source, NEW.entered_by, NEW.request_id, NEW.created_at)
          IS DISTINCT FROM
          (OLD.id, OLD.client_id, OLD.course_id, OLD.instrument_id, OLD.instrument_version, OLD.completed_at,
           OLD.answers, OLD.score, OLD.prorated, OLD.subscores, OLD.severity, OLD.provisional_diagnosis,
           OLD.source, OLD.entered_by, OLD.request_id, OLD.created_at) THEN
        RAISE EXCEPTION 'a recorded questionnaire is immutable; mark it entered in error instead';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER measure_admin_immutable BEFORE UPDATE OR DELETE ON measure_administrations
FOR EACH ROW EXECUTE FUNCTION measure_admin_guard();

-- Covering index for outcome reports: the completed care of each course
-- (doses and psychotherapy), without reading the encounter rows.
CREATE INDEX encounters_course_care ON encounters (course_id, kind, scheduled_start)
    WHERE status = 'completed' AND kind IN ('dosing', 'integration', 'individual_therapy');

CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    administration_id TEXT REFERENCES measure_administrations(id),
    instrument_id TEXT,
    item TEXT,
    item_value BIGINT,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    self_harm BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by TEXT REFERENCES staff(id),
    action_note TEXT
);
CREATE INDEX alerts_client ON alerts (client_id, created_at);
CREATE INDEX alerts_open ON alerts (created_at) WHERE acknowledged_at IS NULL;

CREATE FUNCTION alerts_refuse_delete() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'an alert is never deleted';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER alerts_no_delete BEFORE DELETE ON alerts
FOR EACH ROW EXECUTE FUNCTION alerts_refuse_delete();

CREATE TABLE measure_requests (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL REFERENCES clients(id),
    course_id TEXT REFERENCES courses(id),
    instrument_id TEXT NOT NULL,
    created_by TEXT REFERENCES staff(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    submitted_at BIGINT,
    administration_id TEXT REFERENCES measure_administrations(id),
    idempotency_key TEXT,
    revoked_at BIGINT
);
CREATE INDEX measure_requests_client ON measure_requests (client_id, created_at);
