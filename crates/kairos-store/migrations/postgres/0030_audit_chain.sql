-- Tamper evidence of the audit log (src/chain.rs): every entry is chained,
-- in the order it was sealed, with a keyed hash (HMAC-SHA256) over the
-- previous link and every column of the entry; signed checkpoints record
-- how far the chain went and when. Append-only like the log itself.
CREATE TABLE audit_chain (
    log TEXT NOT NULL,
    seq BIGINT NOT NULL,
    entry_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (log, seq)
);
CREATE UNIQUE INDEX audit_chain_entry ON audit_chain (entry_id);

CREATE TABLE audit_checkpoint (
    log TEXT NOT NULL,
    seq BIGINT NOT NULL,
    entry_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    made_at BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    note TEXT NOT NULL,
    mac TEXT NOT NULL,
    PRIMARY KEY (log, seq)
);

CREATE FUNCTION audit_chain_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_chain_no_update BEFORE UPDATE OR DELETE ON audit_chain
FOR EACH ROW EXECUTE FUNCTION audit_chain_refuse_change();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_refuse_change();
CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE OR DELETE ON audit_checkpoint
FOR EACH ROW EXECUTE FUNCTION audit_chain_refuse_change();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_refuse_change();

-- Entries committed but not yet chained. Transactions commit in another
-- order than they insert, so no watermark on the log finds them all; the
-- log notes each new entry here (one statement-level trigger per insert
-- statement), and the sealer takes them off as it chains them.
CREATE TABLE audit_unsealed (entry_id TEXT PRIMARY KEY);

CREATE FUNCTION audit_log_note_unsealed() RETURNS trigger AS $$
BEGIN
    INSERT INTO audit_unsealed (entry_id) SELECT id FROM new_entries;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_log_unsealed AFTER INSERT ON audit_log
REFERENCING NEW TABLE AS new_entries
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_note_unsealed();

-- Entries written before the chain existed are chained at the first start.
INSERT INTO audit_unsealed (entry_id) SELECT id FROM audit_log;

-- The chain's key when no key file is given (see docs/security.md: it then
-- sits with the log it protects, which detects only changes made without
-- reading it).
CREATE TABLE audit_chain_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key TEXT NOT NULL
);
