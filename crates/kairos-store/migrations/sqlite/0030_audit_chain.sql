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

CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only'); END;
CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only'); END;
CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint
BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END;
CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END;
