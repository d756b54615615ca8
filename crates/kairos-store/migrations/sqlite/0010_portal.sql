-- The client portal: client sign-in (invitations, magic links, optional
-- password), client sessions, the integration journal (private unless the
-- client shares an entry) and post-dose home exercises; and the outbox of
-- e-mails for the sender (built elsewhere) to deliver.

-- Outgoing e-mail, written in the same transaction as what caused it.
-- No clinical content in any body. Shared with the reminder work (0011).
CREATE TABLE IF NOT EXISTS email_outbox (
    id TEXT PRIMARY KEY,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    send_after BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at BIGINT
);
CREATE INDEX IF NOT EXISTS email_outbox_pending ON email_outbox (sent_at, send_after);

-- One portal account per client, created by a staff invitation.
CREATE TABLE portal_accounts (
    client_id TEXT PRIMARY KEY REFERENCES clients(id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    invited_by TEXT REFERENCES staff(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One-time codes sent by e-mail: a sign-in link, or an invitation (which
-- also lets the client set a password). Only a hash is stored.
CREATE TABLE portal_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    purpose TEXT NOT NULL CHECK (purpose IN ('sign_in', 'invitation')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX portal_codes_client ON portal_codes (client_id, created_at);

-- Client sessions (cookie `kairos_portal`); only a hash of the token.
CREATE TABLE portal_sessions (
    token_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    remote_addr TEXT
);
CREATE INDEX portal_sessions_client ON portal_sessions (client_id);

-- The integration journal. Staff never read an entry with shared = 0.
CREATE TABLE journal_entries (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    entry_date TEXT NOT NULL,
    body TEXT NOT NULL,
    mood BIGINT CHECK (mood IS NULL OR (mood >= 0 AND mood <= 10)),
    shared BIGINT NOT NULL DEFAULT 0 CHECK (shared IN (0, 1)),
    shared_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX journal_entries_client ON journal_entries (client_id, entry_date, created_at);

-- A home exercise session: the scheduled slot it fills (dose and number,
-- from the protocol), when it started and finished, and its answers.
CREATE TABLE exercise_sessions (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    dose_encounter_id TEXT NOT NULL REFERENCES encounters(id),
    slot BIGINT NOT NULL,
    due_from BIGINT NOT NULL,
    due_to BIGINT NOT NULL,
    word_list TEXT NOT NULL,
    seed BIGINT NOT NULL,
    blocks BIGINT NOT NULL,
    blocks_done BIGINT NOT NULL DEFAULT 0,
    checks_total BIGINT NOT NULL DEFAULT 0,
    checks_correct BIGINT NOT NULL DEFAULT 0,
    -- JSON: [{block, at, answers, correct}] in order.
    responses TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    UNIQUE (client_id, dose_encounter_id, slot)
);
CREATE INDEX exercise_sessions_client ON exercise_sessions (client_id, started_at);
