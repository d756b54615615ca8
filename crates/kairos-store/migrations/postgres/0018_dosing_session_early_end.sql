-- A dosing session may end before its monitoring time is done: the client
-- is transferred to emergency care, or leaves against advice. The end time
-- is `discharged_at` (the client left the chair); these say how and why.
-- NULL `end_kind`: a discharge.
ALTER TABLE dosing_sessions ADD COLUMN end_kind TEXT;
ALTER TABLE dosing_sessions ADD COLUMN end_reason TEXT;
ALTER TABLE dosing_sessions ADD COLUMN transferred_to TEXT;
