-- Emergency ("break-glass") access, ONC 170.315(d)(6): a staff member of
-- the roles the clinic names opens one client's emergency summary for a
-- limited time, stating why. Each grant waits for the director's review;
-- only the review columns are ever set after the grant, once.
CREATE TABLE emergency_access (
    id TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff(id),
    client_id TEXT NOT NULL REFERENCES clients(id),
    reason TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    reviewed_by TEXT REFERENCES staff(id),
    reviewed_at BIGINT,
    review_note TEXT
);
CREATE INDEX emergency_access_staff_client ON emergency_access (staff_id, client_id, expires_at);
CREATE INDEX emergency_access_unreviewed ON emergency_access (reviewed_at, granted_at);
CREATE TRIGGER emergency_access_reviewed_once BEFORE UPDATE ON emergency_access
WHEN OLD.reviewed_at IS NOT NULL
  OR NEW.id IS NOT OLD.id OR NEW.staff_id IS NOT OLD.staff_id OR NEW.client_id IS NOT OLD.client_id
  OR NEW.reason IS NOT OLD.reason OR NEW.granted_at IS NOT OLD.granted_at OR NEW.expires_at IS NOT OLD.expires_at
BEGIN
    SELECT RAISE(ABORT, 'an emergency access grant never changes; its review is recorded once');
END;
CREATE TRIGGER emergency_access_no_delete BEFORE DELETE ON emergency_access
BEGIN
    SELECT RAISE(ABORT, 'an emergency access grant is never deleted');
END;
