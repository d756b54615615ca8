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

CREATE TRIGGER measure_admin_immutable BEFORE UPDATE ON measure_administrations
WHEN OLD.error_at IS NOT NULL OR NEW.error_at IS NULL OR NEW.error_reason IS NULL
  OR NEW.id IS NOT OLD.id OR NEW.client_id IS NOT OLD.client_id OR NEW.course_id IS NOT OLD.course_id
  OR NEW.instrument_id IS NOT OLD.instrument_id OR NEW.instrument_version IS NOT OLD.instrument_version
  OR NEW.completed_at IS NOT OLD.completed_at OR NEW.answers IS NOT OLD.answers OR NEW.score IS NOT OLD.score
  OR NEW.prorated IS NOT OLD.prorated OR NEW.subscores IS NOT OLD.subscores OR NEW.severity IS NOT OLD.severity
  OR NEW.provisional_diagnosis IS NOT OLD.provisional_diagnosis OR NEW.source IS NOT OLD.source
  OR NEW.entered_by IS NOT OLD.entered_by OR NEW.request_id IS NOT OLD.request_id OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'a recorded questionnaire is immutable; mark it entered in error instead');
END;

CREATE TRIGGER measure_admin_no_delete BEFORE DELETE ON measure_administrations
BEGIN
    SELECT RAISE(ABORT, 'a recorded questionnaire is never deleted');
END;

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

CREATE TRIGGER alerts_no_delete BEFORE DELETE ON alerts
BEGIN
    SELECT RAISE(ABORT, 'an alert is never deleted');
END;

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
