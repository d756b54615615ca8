-- Email reminders: the outbox (also used by the client portal's sign-in
-- links; created here too when the portal's migration has not made it) with
-- a lease so that several server processes never send one email twice, and
-- the reminders already queued so that none is queued twice.

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
ALTER TABLE email_outbox ADD COLUMN lease_until BIGINT;
CREATE INDEX email_outbox_sending ON email_outbox (sent_at, send_after);

CREATE TABLE reminders_queued (
    encounter_id TEXT NOT NULL REFERENCES encounters(id),
    kind TEXT NOT NULL,
    email_id TEXT NOT NULL REFERENCES email_outbox(id),
    queued_at BIGINT NOT NULL,
    PRIMARY KEY (encounter_id, kind)
);
