-- Process groups. A group session is one row here plus, for each member,
-- one encounter of kind `group` on that member's own chart (room and lead
-- facilitator shared; the booking check lets group encounters share them).
-- Nothing on a member's encounter names another member: the roster lives in
-- group_members / group_attendance, read by the group's facilitators only.
-- The group note (which may name members) belongs to the session, never to
-- a chart; each member's one-line note lives on their own attendance row.
-- Once a session's notes are signed they never change (triggers below).

CREATE TABLE process_groups (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id),
    room_id TEXT NOT NULL REFERENCES rooms(id),
    name TEXT NOT NULL,
    description TEXT,
    -- JSON: [{day, start "HH:MM", minutes}] in the site's time zone.
    slots TEXT NOT NULL,
    capacity BIGINT NOT NULL CHECK (capacity > 0),
    enrolment TEXT NOT NULL CHECK (enrolment IN ('open', 'closed')),
    -- Comma-separated course phases, e.g. `integration,maintenance`.
    eligible_phases TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX process_groups_site ON process_groups (site_id);

CREATE TABLE group_facilitators (
    group_id TEXT NOT NULL REFERENCES process_groups(id),
    staff_id TEXT NOT NULL REFERENCES staff(id),
    -- 0: the lead (staff on each member's encounter).
    position BIGINT NOT NULL,
    PRIMARY KEY (group_id, staff_id)
);
CREATE INDEX group_facilitators_staff ON group_facilitators (staff_id);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES process_groups(id),
    client_id TEXT NOT NULL REFERENCES clients(id),
    status TEXT NOT NULL CHECK (status IN ('active', 'waitlisted', 'left')),
    -- When the client last asked to join: the waitlist's order.
    queued_at BIGINT NOT NULL,
    -- When they last became active.
    joined_at BIGINT,
    left_at BIGINT,
    -- A facilitator's reason for admitting to a closed group that had started.
    override_reason TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, client_id)
);
CREATE INDEX group_members_client ON group_members (client_id);

CREATE TABLE group_sessions (
    id TEXT PRIMARY KEY,
    group_id TEXT NOT NULL REFERENCES process_groups(id),
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL CHECK (ends_at > starts_at),
    -- Facilitators only: may name members.
    group_note TEXT,
    notes_by TEXT REFERENCES staff(id),
    notes_signed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (group_id, starts_at)
);

CREATE TABLE group_attendance (
    session_id TEXT NOT NULL REFERENCES group_sessions(id),
    client_id TEXT NOT NULL REFERENCES clients(id),
    -- The member's own encounter of kind `group`.
    encounter_id TEXT NOT NULL REFERENCES encounters(id),
    attendance TEXT CHECK (attendance IN ('present', 'late', 'absent', 'excused')),
    -- One line about this member only; shown on this member's chart.
    member_note TEXT,
    recorded_at BIGINT,
    recorded_by TEXT REFERENCES staff(id),
    PRIMARY KEY (session_id, client_id)
);
CREATE INDEX group_attendance_client ON group_attendance (client_id);

CREATE FUNCTION group_sessions_guard() RETURNS trigger AS $$
BEGIN
    IF OLD.notes_signed_at IS NOT NULL THEN
        RAISE EXCEPTION 'signed group notes never change';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER group_sessions_signed_notes_immutable BEFORE UPDATE ON group_sessions
FOR EACH ROW EXECUTE FUNCTION group_sessions_guard();

CREATE FUNCTION group_attendance_guard() RETURNS trigger AS $$
BEGIN
    IF (SELECT notes_signed_at FROM group_sessions WHERE id = OLD.session_id) IS NOT NULL
        AND NEW.member_note IS DISTINCT FROM OLD.member_note THEN
        RAISE EXCEPTION 'signed group notes never change';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER group_attendance_signed_note_immutable BEFORE UPDATE ON group_attendance
FOR EACH ROW EXECUTE FUNCTION group_attendance_guard();
