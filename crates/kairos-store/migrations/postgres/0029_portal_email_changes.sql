-- A change of the e-mail address of a client who has a portal account waits
-- here until it is confirmed: by the client, from a link sent to the old
-- address (only a hash of its code is kept), or in person at the clinic with
-- a second staff member's signature. Until then the client's record and the
-- portal keep the old address (src/portal_email.rs).
CREATE TABLE portal_email_changes (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id),
    old_email TEXT NOT NULL,
    new_email TEXT NOT NULL,
    code_hash TEXT NOT NULL UNIQUE,
    requested_by TEXT REFERENCES staff (id),
    requested_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'superseded')),
    confirmed_via TEXT CHECK (confirmed_via IN ('client_link', 'in_person')),
    confirmed_by TEXT REFERENCES staff (id),
    decided_at BIGINT
);
CREATE INDEX portal_email_changes_client ON portal_email_changes (client_id, status);
