-- A client's request to amend their record (45 CFR 164.526; ONC
-- 170.315(d)(4)): the request as asked, and each step after it (the one
-- extension, the decision, the client's statement of disagreement), kept
-- together with the record and never changed.
CREATE TABLE amendment_requests (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    asked_at BIGINT NOT NULL,
    -- 'portal' (the client, signed in) or 'in_writing' (received by the
    -- clinic and entered by the staff member named).
    via TEXT NOT NULL,
    entered_by TEXT REFERENCES staff(id),
    area TEXT NOT NULL,
    which_record TEXT,
    requested_change TEXT NOT NULL
);
CREATE INDEX amendment_requests_client ON amendment_requests (client_id, asked_at);
CREATE INDEX amendment_requests_asked ON amendment_requests (asked_at);
CREATE TABLE amendment_request_steps (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES amendment_requests(id),
    at BIGINT NOT NULL,
    -- 'extended', 'accepted', 'denied' or 'disagreed'.
    kind TEXT NOT NULL,
    -- The staff member (none: the client, through the portal).
    staff_id TEXT REFERENCES staff(id),
    -- Extended: the reasons; accepted: the amendment appended; denied: the
    -- explanation; disagreed: the client's statement.
    text TEXT NOT NULL,
    -- Denied: the ground (164.526(a)(2)).
    basis TEXT,
    -- Extended: the new date to act by.
    due_at BIGINT
);
CREATE INDEX amendment_request_steps_request ON amendment_request_steps (request_id, at);
-- One decision and one statement of disagreement per request.
CREATE UNIQUE INDEX amendment_request_steps_one_decision ON amendment_request_steps (request_id)
    WHERE kind IN ('accepted', 'denied');
CREATE UNIQUE INDEX amendment_request_steps_one_extension ON amendment_request_steps (request_id)
    WHERE kind = 'extended';
CREATE UNIQUE INDEX amendment_request_steps_one_disagreement ON amendment_request_steps (request_id)
    WHERE kind = 'disagreed';
CREATE TRIGGER amendment_requests_no_update BEFORE UPDATE ON amendment_requests
BEGIN SELECT RAISE(ABORT, 'an amendment request never changes'); END;
CREATE TRIGGER amendment_requests_no_delete BEFORE DELETE ON amendment_requests
BEGIN SELECT RAISE(ABORT, 'an amendment request is never deleted'); END;
CREATE TRIGGER amendment_request_steps_no_update BEFORE UPDATE ON amendment_request_steps
BEGIN SELECT RAISE(ABORT, 'a step of an amendment request never changes'); END;
CREATE TRIGGER amendment_request_steps_no_delete BEFORE DELETE ON amendment_request_steps
BEGIN SELECT RAISE(ABORT, 'a step of an amendment request is never deleted'); END;
