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

CREATE FUNCTION dosing_sessions_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'a dosing session is never deleted';
    END IF;
    IF OLD.signed_at IS NOT NULL THEN
        RAISE EXCEPTION 'a signed dosing session never changes';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER dosing_sessions_signed_immutable BEFORE UPDATE OR DELETE ON dosing_sessions
FOR EACH ROW EXECUTE FUNCTION dosing_sessions_guard();

CREATE FUNCTION session_vitals_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'recorded vital signs never change';
    END IF;
    IF (SELECT signed_at FROM dosing_sessions WHERE id = NEW.session_id) IS NOT NULL THEN
        RAISE EXCEPTION 'a signed dosing session never changes';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER session_vitals_guarded BEFORE INSERT OR UPDATE OR DELETE ON session_vitals
FOR EACH ROW EXECUTE FUNCTION session_vitals_guard();
