-- Dosing sessions: the pre-dose checklist and vitals, the dose, vitals over
-- time with the alerts they raised, and discharge. Signed once; after that
-- nothing changes (corrections come as amendments in a later version).

CREATE TABLE dosing_sessions (
    id TEXT PRIMARY KEY,
    encounter_id TEXT NOT NULL UNIQUE REFERENCES encounters(id),
    course_id TEXT NOT NULL REFERENCES courses(id),
    client_id TEXT NOT NULL REFERENCES clients(id),
    protocol_id TEXT,
    -- JSON: the pre-dose checklist and pre-dose vital signs.
    checklist TEXT NOT NULL,
    pre_vitals TEXT NOT NULL,
    hold_reason TEXT,
    override_reason TEXT,
    override_by TEXT REFERENCES staff(id),
    route TEXT NOT NULL,
    mg_per_kg DOUBLE PRECISION,
    weight_kg DOUBLE PRECISION,
    dose_mg DOUBLE PRECISION NOT NULL,
    lot TEXT NOT NULL,
    monitoring_minutes BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    started_by TEXT REFERENCES staff(id),
    discharged_at BIGINT,
    discharged_by TEXT REFERENCES staff(id),
    accompanied_by TEXT,
    signed_at BIGINT,
    signed_by TEXT REFERENCES staff(id)
);
CREATE INDEX dosing_sessions_course ON dosing_sessions (course_id, started_at);

CREATE TABLE session_vitals (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES dosing_sessions(id),
    at BIGINT NOT NULL,
    vitals TEXT NOT NULL,
    alerts TEXT NOT NULL,
    recorded_by TEXT REFERENCES staff(id)
);
CREATE INDEX session_vitals_session ON session_vitals (session_id, at);

CREATE TRIGGER dosing_sessions_signed_immutable BEFORE UPDATE ON dosing_sessions
WHEN OLD.signed_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a signed dosing session never changes');
END;

CREATE TRIGGER dosing_sessions_no_delete BEFORE DELETE ON dosing_sessions
BEGIN
    SELECT RAISE(ABORT, 'a dosing session is never deleted');
END;

CREATE TRIGGER session_vitals_not_after_signing BEFORE INSERT ON session_vitals
WHEN (SELECT signed_at FROM dosing_sessions WHERE id = NEW.session_id) IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a signed dosing session never changes');
END;

CREATE TRIGGER session_vitals_immutable BEFORE UPDATE ON session_vitals
BEGIN
    SELECT RAISE(ABORT, 'recorded vital signs never change');
END;

CREATE TRIGGER session_vitals_no_delete BEFORE DELETE ON session_vitals
BEGIN
    SELECT RAISE(ABORT, 'recorded vital signs are never deleted');
END;
