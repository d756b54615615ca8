-- A client's details are never overwritten without a trace: every change
-- keeps the details as they were before it (`details`, JSON), which fields
-- it changed, who changed them and when, in the same transaction as the
-- change. Versions are numbered per client from 1 and never change.
CREATE TABLE client_versions (
    client_id TEXT NOT NULL REFERENCES clients(id),
    version INTEGER NOT NULL,
    details TEXT NOT NULL,
    changed_fields TEXT NOT NULL,
    changed_by TEXT REFERENCES staff(id),
    -- Who, when not a staff member: `system:cli`, a client confirming a
    -- change of address from the portal link.
    changed_by_label TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, version)
);
CREATE TRIGGER client_versions_immutable BEFORE UPDATE ON client_versions
BEGIN
    SELECT RAISE(ABORT, 'a version of a client''s details never changes');
END;
CREATE TRIGGER client_versions_no_delete BEFORE DELETE ON client_versions
BEGIN
    SELECT RAISE(ABORT, 'a version of a client''s details is never deleted');
END;
