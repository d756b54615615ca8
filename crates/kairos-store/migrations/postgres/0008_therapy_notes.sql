-- Psychotherapy notes: drafted, then signed; a signed note never changes and
-- is never deleted; corrections are amendments, appended, never changed.
-- Who supervises whom (set by an admin) decides who besides the author may
-- read a note in full.

CREATE TABLE therapy_notes (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    encounter_id TEXT NOT NULL REFERENCES encounters(id),
    author_id TEXT NOT NULL REFERENCES staff(id),
    kind TEXT NOT NULL CHECK (kind IN ('preparation', 'dosing_support', 'integration', 'individual_therapy', 'cbt', 'wet', 'group')),
    status TEXT NOT NULL CHECK (status IN ('draft', 'signed')),
    -- JSON: [{id, label, text}] in template order, labels as written.
    sections TEXT NOT NULL,
    summary TEXT,
    -- JSON: the WET session fields (WET notes only).
    wet TEXT,
    -- WET only: the client's narrative, private to the author.
    narrative TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    signed_at BIGINT,
    CHECK ((status = 'signed') = (signed_at IS NOT NULL))
);
CREATE INDEX therapy_notes_client ON therapy_notes (client_id, created_at);
CREATE INDEX therapy_notes_encounter ON therapy_notes (encounter_id);

CREATE TABLE therapy_note_amendments (
    id TEXT PRIMARY KEY,
    note_id TEXT NOT NULL REFERENCES therapy_notes(id),
    at BIGINT NOT NULL,
    by_staff TEXT NOT NULL REFERENCES staff(id),
    correction TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX therapy_note_amendments_note ON therapy_note_amendments (note_id, at);

CREATE TABLE note_supervision (
    supervisor_id TEXT NOT NULL REFERENCES staff(id),
    therapist_id TEXT NOT NULL REFERENCES staff(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (supervisor_id, therapist_id),
    CHECK (supervisor_id <> therapist_id)
);
CREATE INDEX note_supervision_therapist ON note_supervision (therapist_id);

CREATE FUNCTION therapy_notes_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'a therapy note is never deleted';
    END IF;
    IF OLD.status = 'signed' THEN
        RAISE EXCEPTION 'a signed note never changes; amend it';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER therapy_notes_guarded BEFORE UPDATE OR DELETE ON therapy_notes
FOR EACH ROW EXECUTE FUNCTION therapy_notes_guard();

CREATE FUNCTION therapy_note_amendments_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'an amendment never changes';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'an amendment is never deleted';
    END IF;
    IF (SELECT status FROM therapy_notes WHERE id = NEW.note_id) IS DISTINCT FROM 'signed' THEN
        RAISE EXCEPTION 'only a signed note is amended';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER therapy_note_amendments_guarded BEFORE INSERT OR UPDATE OR DELETE ON therapy_note_amendments
FOR EACH ROW EXECUTE FUNCTION therapy_note_amendments_guard();
