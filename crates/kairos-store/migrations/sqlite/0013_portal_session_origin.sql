-- How a portal session was opened ('invitation' or 'sign_in' link, or
-- 'password'): a password may be set or changed only in a session opened by
-- a one-time link shortly before (proof of the e-mail address), never by
-- whoever holds an older session.
ALTER TABLE portal_sessions ADD COLUMN opened_by TEXT;

-- The claim of an outbox message: a worker records a message sent or failed
-- only while its claim still holds, so a worker whose lease ran out cannot
-- undo the claim of the worker that took the message over.
ALTER TABLE email_outbox ADD COLUMN lease_token TEXT;
