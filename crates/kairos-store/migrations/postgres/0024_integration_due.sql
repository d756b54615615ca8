-- The doses still waiting for an integration session (src/integration_due.rs):
-- one row per client whose latest dose has no therapy session (integration or
-- individual therapy, not cancelled or missed) starting after it, with the
-- dose's number in its course. Every write that changes a client's doses or
-- therapy sessions refreshes the client's row in its transaction; the
-- closing-windows list is a range read by when the dose was given.
CREATE TABLE integration_due (
    client_id TEXT PRIMARY KEY REFERENCES clients (id),
    encounter_id TEXT NOT NULL REFERENCES encounters (id),
    dose_at BIGINT NOT NULL,
    number BIGINT NOT NULL
);
CREATE INDEX integration_due_dose_at ON integration_due (dose_at);

-- The rows of the record as it stands (the same statement as
-- `integration_due::rebuild_all_sql`).
INSERT INTO integration_due (client_id, encounter_id, dose_at, number)
SELECT r.client_id, r.id, r.t, r.number FROM (
  SELECT dose.client_id, dose.t, dose.id,
    ROW_NUMBER() OVER (PARTITION BY dose.client_id, dose.course_id ORDER BY dose.t, dose.id) AS number,
    ROW_NUMBER() OVER (PARTITION BY dose.client_id ORDER BY dose.t DESC, dose.id DESC) AS recency
  FROM (
    SELECT d.client_id, d.started_at AS t, d.encounter_id AS id, e.course_id FROM dosing_sessions d
      JOIN encounters e ON e.id = d.encounter_id WHERE e.kind = 'dosing'
    UNION ALL
    SELECT e.client_id, COALESCE(e.actual_start, e.scheduled_start) AS t, e.id, e.course_id FROM encounters e
      WHERE e.kind = 'dosing' AND e.status = 'completed'
      AND NOT EXISTS (SELECT 1 FROM dosing_sessions x WHERE x.encounter_id = e.id)
  ) dose
) r
WHERE r.recency = 1 AND NOT EXISTS (SELECT 1 FROM encounters s WHERE s.client_id = r.client_id
  AND s.kind IN ('integration', 'individual_therapy') AND s.status NOT IN ('cancelled', 'no_show')
  AND COALESCE(s.actual_start, s.scheduled_start) > r.t);
