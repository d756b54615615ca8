-- Once a group session's notes are signed its attendance is part of a signed
-- record: a later change is an amendment, kept beside the mark it replaced,
-- with who made it, when and why.
CREATE TABLE group_attendance_amendments (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES group_sessions(id),
    client_id TEXT NOT NULL REFERENCES clients(id),
    from_attendance TEXT,
    to_attendance TEXT NOT NULL,
    reason TEXT NOT NULL,
    amended_at BIGINT NOT NULL,
    amended_by TEXT REFERENCES staff(id)
);
CREATE INDEX group_attendance_amendments_session ON group_attendance_amendments (session_id, amended_at);
