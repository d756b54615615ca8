-- The plasticity-window scheduler: weekly hours (JSON lists of
-- {"days": [...], "from": "HH:MM", "to": "HH:MM"}; NULL: the clinic default),
-- and schedule proposals a coordinator reviews before they are applied.

ALTER TABLE sites ADD COLUMN hours TEXT;
ALTER TABLE staff ADD COLUMN hours TEXT;
ALTER TABLE clients ADD COLUMN availability TEXT;

CREATE TABLE schedule_proposals (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id),
    -- A repair names the applied proposal it changes.
    parent_id TEXT REFERENCES schedule_proposals(id),
    start_date TEXT NOT NULL,
    days BIGINT NOT NULL,
    problem TEXT NOT NULL,
    plan TEXT NOT NULL,
    change TEXT,
    status TEXT NOT NULL CHECK (status IN ('proposed', 'applied', 'discarded', 'superseded')),
    created_at BIGINT NOT NULL,
    created_by TEXT REFERENCES staff(id),
    decided_at BIGINT,
    decided_by TEXT REFERENCES staff(id)
);
CREATE INDEX schedule_proposals_site ON schedule_proposals (site_id, created_at);

-- Which encounter an applied proposal booked for each planned event.
CREATE TABLE schedule_bookings (
    proposal_id TEXT NOT NULL REFERENCES schedule_proposals(id),
    event TEXT NOT NULL,
    encounter_id TEXT NOT NULL REFERENCES encounters(id),
    PRIMARY KEY (proposal_id, event)
);
