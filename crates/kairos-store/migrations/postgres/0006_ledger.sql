-- Observations and amendments of dosing sessions, the esketamine REMS form
-- status, and the controlled-substance ledger (reference.md §4): per DEA
-- registration, per stock (substance, NDC, strength, lot), append-only
-- entries numbered in order with the balance after each.

-- 1304.22(c): an administration record carries the patient's address.
ALTER TABLE clients ADD COLUMN address TEXT;

CREATE TABLE session_events (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES dosing_sessions(id),
    at BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('dissociation', 'side_effect', 'adverse_event')),
    event TEXT NOT NULL,
    recorded_by TEXT REFERENCES staff(id)
);
CREATE INDEX session_events_session ON session_events (session_id, at);

CREATE FUNCTION session_events_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'recorded observations never change';
    END IF;
    IF (SELECT signed_at FROM dosing_sessions WHERE id = NEW.session_id) IS NOT NULL THEN
        RAISE EXCEPTION 'a signed dosing session never changes';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER session_events_guarded BEFORE INSERT OR UPDATE OR DELETE ON session_events
FOR EACH ROW EXECUTE FUNCTION session_events_guard();

CREATE TABLE session_amendments (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES dosing_sessions(id),
    at BIGINT NOT NULL,
    by_staff TEXT NOT NULL REFERENCES staff(id),
    part TEXT NOT NULL,
    correction TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX session_amendments_session ON session_amendments (session_id, at);

CREATE FUNCTION session_amendments_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'an amendment never changes';
    END IF;
    IF (SELECT signed_at FROM dosing_sessions WHERE id = NEW.session_id) IS NULL THEN
        RAISE EXCEPTION 'amend a session after it is signed; before, chart it';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER session_amendments_guarded BEFORE INSERT OR UPDATE OR DELETE ON session_amendments
FOR EACH ROW EXECUTE FUNCTION session_amendments_guard();

CREATE TABLE rems_forms (
    session_id TEXT PRIMARY KEY REFERENCES dosing_sessions(id),
    ready_after_minutes BIGINT,
    submitted_at BIGINT,
    submitted_by TEXT REFERENCES staff(id),
    confirmation TEXT
);
CREATE FUNCTION rems_forms_guard() RETURNS trigger AS $$
BEGIN
    IF OLD.submitted_at IS NOT NULL THEN
        RAISE EXCEPTION 'a submitted REMS form never changes';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER rems_forms_guarded BEFORE UPDATE ON rems_forms
FOR EACH ROW EXECUTE FUNCTION rems_forms_guard();

CREATE TABLE cs_registrations (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id),
    dea_number TEXT NOT NULL UNIQUE,
    registrant TEXT NOT NULL,
    address TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE cs_stock (
    id TEXT PRIMARY KEY,
    registration_id TEXT NOT NULL REFERENCES cs_registrations(id),
    substance TEXT NOT NULL CHECK (substance IN ('ketamine', 'esketamine')),
    ndc TEXT NOT NULL,
    form TEXT NOT NULL,
    unit TEXT NOT NULL CHECK (unit IN ('mL', 'device')),
    mg_per_unit DOUBLE PRECISION NOT NULL CHECK (mg_per_unit > 0),
    units_per_container BIGINT NOT NULL CHECK (units_per_container > 0),
    lot TEXT NOT NULL,
    expires TEXT,
    storage TEXT,
    balance BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
    seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE (registration_id, ndc, lot)
);

CREATE TABLE cs_entries (
    id TEXT PRIMARY KEY,
    stock_id TEXT NOT NULL REFERENCES cs_stock(id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    -- Counts: initial, biennial or ad_hoc (the inventory schedule reads it).
    count_type TEXT,
    occurred_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    delta BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    detail TEXT NOT NULL,
    client_id TEXT REFERENCES clients(id),
    dosing_session_id TEXT REFERENCES dosing_sessions(id),
    related_id TEXT REFERENCES cs_entries(id),
    recorded_by TEXT NOT NULL REFERENCES staff(id),
    witness1 TEXT REFERENCES staff(id),
    witness2 TEXT REFERENCES staff(id),
    UNIQUE (stock_id, seq)
);
CREATE INDEX cs_entries_time ON cs_entries (occurred_at);
CREATE INDEX cs_entries_session ON cs_entries (dosing_session_id);
CREATE INDEX cs_entries_related ON cs_entries (related_id);
CREATE UNIQUE INDEX cs_entries_one_administration ON cs_entries (dosing_session_id) WHERE kind = 'administration';

CREATE FUNCTION never_changes() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% never changes and is never deleted; record a correction', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER cs_entries_guarded BEFORE UPDATE OR DELETE ON cs_entries
FOR EACH ROW EXECUTE FUNCTION never_changes();
CREATE TRIGGER cs_registrations_no_delete BEFORE DELETE ON cs_registrations
FOR EACH ROW EXECUTE FUNCTION never_changes();
CREATE TRIGGER cs_stock_no_delete BEFORE DELETE ON cs_stock
FOR EACH ROW EXECUTE FUNCTION never_changes();

CREATE TABLE cs_loss_reports (
    entry_id TEXT PRIMARY KEY REFERENCES cs_entries(id),
    discovered_on TEXT NOT NULL,
    notice_due TEXT NOT NULL,
    notified_at BIGINT,
    notified_by TEXT REFERENCES staff(id),
    form106_reference TEXT,
    form106_at BIGINT,
    form106_by TEXT REFERENCES staff(id)
);
CREATE FUNCTION cs_loss_reports_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'a loss report is never deleted';
    END IF;
    IF (OLD.notified_at IS NOT NULL AND (NEW.notified_at IS DISTINCT FROM OLD.notified_at
            OR NEW.notified_by IS DISTINCT FROM OLD.notified_by))
       OR (OLD.form106_at IS NOT NULL AND (NEW.form106_at IS DISTINCT FROM OLD.form106_at
            OR NEW.form106_by IS DISTINCT FROM OLD.form106_by
            OR NEW.form106_reference IS DISTINCT FROM OLD.form106_reference))
       OR NEW.discovered_on IS DISTINCT FROM OLD.discovered_on
       OR NEW.notice_due IS DISTINCT FROM OLD.notice_due
       OR NEW.entry_id IS DISTINCT FROM OLD.entry_id THEN
        RAISE EXCEPTION 'a loss report step, once recorded, never changes';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER cs_loss_reports_guarded BEFORE UPDATE OR DELETE ON cs_loss_reports
FOR EACH ROW EXECUTE FUNCTION cs_loss_reports_guard();
