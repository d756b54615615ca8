-- Kairos core schema (SQLite). Portable column types shared with the
-- PostgreSQL folder: ids are UUIDv7 text, instants are BIGINT Unix
-- microseconds UTC, civil dates are TEXT YYYY-MM-DD, enums are TEXT + CHECK.

CREATE TABLE sites (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    time_zone TEXT NOT NULL,
    booking_seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('infusion_chair', 'therapy_room', 'group_room')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (site_id, name)
);

CREATE TABLE staff (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    roles TEXT NOT NULL,
    password_hash TEXT,
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    search_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX staff_search ON staff (search_name);

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    pronouns TEXT,
    email TEXT,
    phone TEXT,
    emergency_contact_name TEXT,
    emergency_contact_phone TEXT,
    status TEXT NOT NULL CHECK (status IN ('prospective', 'active', 'inactive', 'discharged')),
    search_family TEXT NOT NULL,
    search_given TEXT NOT NULL,
    search_full TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX clients_by_name ON clients (search_family, search_given, id);
CREATE INDEX clients_given ON clients (search_given);

CREATE TABLE courses (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    protocol TEXT NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('screening', 'preparation', 'induction', 'integration', 'maintenance', 'completed', 'discontinued')),
    started_on TEXT NOT NULL,
    ended_on TEXT,
    prescriber_id TEXT REFERENCES staff(id),
    therapist_id TEXT REFERENCES staff(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX courses_client ON courses (client_id);

CREATE TABLE course_phase_changes (
    id TEXT PRIMARY KEY,
    course_id TEXT NOT NULL REFERENCES courses(id),
    from_phase TEXT,
    to_phase TEXT NOT NULL,
    reason TEXT,
    changed_by TEXT REFERENCES staff(id),
    changed_at BIGINT NOT NULL
);
CREATE INDEX course_phase_changes_course ON course_phase_changes (course_id, changed_at);

CREATE TABLE encounters (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    course_id TEXT REFERENCES courses(id),
    site_id TEXT NOT NULL REFERENCES sites(id),
    room_id TEXT REFERENCES rooms(id),
    staff_id TEXT REFERENCES staff(id),
    kind TEXT NOT NULL CHECK (kind IN ('intake', 'preparation', 'dosing', 'integration', 'individual_therapy', 'group')),
    status TEXT NOT NULL CHECK (status IN ('booked', 'arrived', 'completed', 'cancelled', 'no_show')),
    scheduled_start BIGINT NOT NULL,
    scheduled_end BIGINT NOT NULL CHECK (scheduled_end > scheduled_start),
    actual_start BIGINT,
    actual_end BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX encounters_client ON encounters (client_id, scheduled_start);
CREATE INDEX encounters_site_day ON encounters (site_id, scheduled_start);
CREATE INDEX encounters_room ON encounters (room_id, scheduled_start);
CREATE INDEX encounters_staff ON encounters (staff_id, scheduled_start);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff(id),
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    remote_addr TEXT
);
CREATE INDEX sessions_staff ON sessions (staff_id);

-- Append-only: no foreign keys (entries outlive what they describe) and
-- triggers refuse any change or deletion.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_id TEXT,
    actor_roles TEXT NOT NULL,
    action TEXT NOT NULL,
    record_type TEXT NOT NULL,
    record_id TEXT,
    client_id TEXT,
    remote_addr TEXT,
    detail TEXT
);
-- Ids are UUIDv7, so the primary key already orders entries by time. The
-- partial indexes keep each appended entry cheap: most touch one of them.
CREATE INDEX audit_client ON audit_log (client_id, id) WHERE client_id IS NOT NULL;
CREATE INDEX audit_sign_in ON audit_log (record_id, id) WHERE action IN ('login', 'login_failed', 'login_attempt');

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
