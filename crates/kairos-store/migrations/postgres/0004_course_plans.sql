-- A course's plan from its protocol: the planned doses and tied sessions
-- with their windows. A prescriber may move a planned item; the original
-- window stays, and a move outside it is a visible deviation.

CREATE TABLE course_plans (
    course_id TEXT PRIMARY KEY REFERENCES courses(id),
    protocol_id TEXT NOT NULL,
    first_dose_at BIGINT NOT NULL,
    created_by TEXT REFERENCES staff(id),
    created_at BIGINT NOT NULL
);

CREATE TABLE planned_items (
    id TEXT PRIMARY KEY,
    course_id TEXT NOT NULL REFERENCES course_plans(course_id),
    -- 'dose' or a session kind (integration, wet, cbt, ...).
    kind TEXT NOT NULL,
    number BIGINT NOT NULL,
    label TEXT NOT NULL,
    -- The protocol's window: earliest/latest for doses, opens/closes for sessions.
    window_start BIGINT NOT NULL,
    preferred_from BIGINT,
    preferred_to BIGINT,
    window_end BIGINT NOT NULL,
    planned_at BIGINT NOT NULL,
    -- Set when a prescriber moves the item.
    moved_to BIGINT,
    moved_by TEXT REFERENCES staff(id),
    moved_at BIGINT,
    move_reason TEXT
);
CREATE INDEX planned_items_course ON planned_items (course_id, planned_at);
