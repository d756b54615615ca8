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
ALTER TABLE staff_account_requests DROP CONSTRAINT staff_account_requests_kind_check;
ALTER TABLE staff_account_requests ADD CONSTRAINT staff_account_requests_kind_check
    CHECK (kind IN ('access', 'password', 'mfa_reset'));
