-- One-time links in queued e-mail are stored sealed (sealed_links.rs): the
-- body holds a placeholder where each code was, `sealed_links` the codes
-- encrypted under a key kept outside the database. A message whose link
-- runs out (`expires_at`) is marked `expired_at` and never sent.
ALTER TABLE email_outbox ADD COLUMN sealed_links TEXT;
ALTER TABLE email_outbox ADD COLUMN expires_at BIGINT;
ALTER TABLE email_outbox ADD COLUMN expired_at BIGINT;

-- Messages queued before sealing with a live code in the clear are
-- withdrawn: the stored text no longer holds the code, and the client asks
-- for a new link.
UPDATE email_outbox
SET expired_at = created_at,
    body = 'This message held a one-time link and was withdrawn unsent when queued links began to be stored sealed. Ask for a new link.'
WHERE sent_at IS NULL AND (body LIKE '%/portal/auth/%' OR body LIKE '%/portal/email-change/%');
