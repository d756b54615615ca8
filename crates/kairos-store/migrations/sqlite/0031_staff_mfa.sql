-- Multi-factor sign-in for staff (src/mfa.rs): a TOTP secret (RFC 6238,
-- base32) per account, confirmed with a code before it is required at
-- sign-in; the last time step a code was accepted for (a code is accepted
-- once); ten single-use recovery codes, kept only as SHA-256 hashes (each
-- code carries 80 random bits); and the short-lived second step of a
-- sign-in whose password was right (a hashed token, not a session).
ALTER TABLE staff ADD COLUMN mfa_secret TEXT;
ALTER TABLE staff ADD COLUMN mfa_confirmed_at BIGINT;
ALTER TABLE staff ADD COLUMN mfa_last_step BIGINT;

CREATE TABLE staff_mfa_recovery_codes (
    staff_id TEXT NOT NULL REFERENCES staff (id),
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (staff_id, code_hash)
);

CREATE TABLE staff_mfa_challenges (
    token_hash TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    remote_addr TEXT
);
CREATE INDEX staff_mfa_challenges_staff ON staff_mfa_challenges (staff_id);

-- Resetting another person's second factor waits for a second
-- administrator, as setting their password does: a new request kind.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE staff_account_requests_new (
    id TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    kind TEXT NOT NULL CHECK (kind IN ('access', 'password', 'mfa_reset')),
    roles_before TEXT NOT NULL,
    roles_after TEXT NOT NULL,
    active_before BIGINT NOT NULL CHECK (active_before IN (0, 1)),
    active_after BIGINT NOT NULL CHECK (active_after IN (0, 1)),
    password_hash TEXT,
    requested_by TEXT REFERENCES staff (id),
    requested_at BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'declined', 'superseded')),
    decided_by TEXT REFERENCES staff (id),
    decided_via TEXT,
    decided_at BIGINT
);
INSERT INTO staff_account_requests_new SELECT id, staff_id, kind, roles_before, roles_after, active_before,
    active_after, password_hash, requested_by, requested_at, status, decided_by, decided_via, decided_at
    FROM staff_account_requests;
DROP TABLE staff_account_requests;
ALTER TABLE staff_account_requests_new RENAME TO staff_account_requests;
CREATE INDEX staff_account_requests_pending ON staff_account_requests (status, requested_at);
CREATE INDEX staff_account_requests_staff ON staff_account_requests (staff_id, status);
