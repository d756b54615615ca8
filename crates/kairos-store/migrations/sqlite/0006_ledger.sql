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

CREATE TRIGGER session_events_not_after_signing BEFORE INSERT ON session_events
WHEN (SELECT signed_at FROM dosing_sessions WHERE id = NEW.session_id) IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a signed dosing session never changes');
END;
CREATE TRIGGER session_events_immutable BEFORE UPDATE ON session_events
BEGIN
    SELECT RAISE(ABORT, 'recorded observations never change');
END;
CREATE TRIGGER session_events_no_delete BEFORE DELETE ON session_events
BEGIN
    SELECT RAISE(ABORT, 'recorded observations are never deleted');
END;

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
CREATE TRIGGER session_amendments_only_when_signed BEFORE INSERT ON session_amendments
WHEN (SELECT signed_at FROM dosing_sessions WHERE id = NEW.session_id) IS NULL
BEGIN
    SELECT RAISE(ABORT, 'amend a session after it is signed; before, chart it');
END;
CREATE TRIGGER session_amendments_immutable BEFORE UPDATE ON session_amendments
BEGIN
    SELECT RAISE(ABORT, 'an amendment never changes');
END;
CREATE TRIGGER session_amendments_no_delete BEFORE DELETE ON session_amendments
BEGIN
    SELECT RAISE(ABORT, 'an amendment is never deleted');
END;

-- Esketamine sessions: the clinician's answer to "when would the patient
-- have been ready to leave without the 2-hour rule" and the submission.
CREATE TABLE rems_forms (
    session_id TEXT PRIMARY KEY REFERENCES dosing_sessions(id),
    ready_after_minutes BIGINT,
    submitted_at BIGINT,
    submitted_by TEXT REFERENCES staff(id),
    confirmation TEXT
);
CREATE TRIGGER rems_forms_submitted_immutable BEFORE UPDATE ON rems_forms
WHEN OLD.submitted_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a submitted REMS form never changes');
END;

CREATE TABLE cs_registrations (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id),
    dea_number TEXT NOT NULL UNIQUE,
    registrant TEXT NOT NULL,
    address TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TRIGGER cs_registrations_no_delete BEFORE DELETE ON cs_registrations
BEGIN
    SELECT RAISE(ABORT, 'a registration is never deleted');
END;

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
    -- The book balance and the number of the last entry: updated together
    -- with each entry, under the row lock that orders the entries.
    balance BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
    seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE (registration_id, ndc, lot)
);
CREATE TRIGGER cs_stock_no_delete BEFORE DELETE ON cs_stock
BEGIN
    SELECT RAISE(ABORT, 'a stock record is never deleted');
END;

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

CREATE TRIGGER cs_entries_immutable BEFORE UPDATE ON cs_entries
BEGIN
    SELECT RAISE(ABORT, 'a ledger entry never changes; record a correction');
END;
CREATE TRIGGER cs_entries_no_delete BEFORE DELETE ON cs_entries
BEGIN
    SELECT RAISE(ABORT, 'a ledger entry is never deleted');
END;

-- Theft or significant loss: the notice to the DEA field division and the
-- Form 106, each set once.
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
CREATE TRIGGER cs_loss_reports_set_once BEFORE UPDATE ON cs_loss_reports
WHEN (OLD.notified_at IS NOT NULL AND (NEW.notified_at IS NOT OLD.notified_at OR NEW.notified_by IS NOT OLD.notified_by))
  OR (OLD.form106_at IS NOT NULL AND (NEW.form106_at IS NOT OLD.form106_at OR NEW.form106_by IS NOT OLD.form106_by
      OR NEW.form106_reference IS NOT OLD.form106_reference))
  OR NEW.discovered_on IS NOT OLD.discovered_on OR NEW.notice_due IS NOT OLD.notice_due
  OR NEW.entry_id IS NOT OLD.entry_id
BEGIN
    SELECT RAISE(ABORT, 'a loss report step, once recorded, never changes');
END;
CREATE TRIGGER cs_loss_reports_no_delete BEFORE DELETE ON cs_loss_reports
BEGIN
    SELECT RAISE(ABORT, 'a loss report is never deleted');
END;
