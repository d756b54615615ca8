-- A change to a staff account that opens client records or the staff pages
-- (a role added, an account activated, another person's password set) waits
-- here until a second administrator approves it (src/staff_requests.rs).
-- The request keeps the account's roles and active flag before and after;
-- a password is kept only as its hash, and only until the request is decided.
CREATE TABLE staff_account_requests (
    id TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    kind TEXT NOT NULL CHECK (kind IN ('access', 'password')),
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
CREATE INDEX staff_account_requests_pending ON staff_account_requests (status, requested_at);
CREATE INDEX staff_account_requests_staff ON staff_account_requests (staff_id, status);
