-- The chart's encounters (a client's next and last visits) read from one
-- index (an index-only scan where the visibility map allows): every column
-- the chart returns is in it. Same index as on SQLite (docs/benchmarks.md).
DROP INDEX encounters_client;
CREATE INDEX encounters_client ON encounters (client_id, scheduled_start, id)
    INCLUDE (status, kind, course_id, site_id, room_id, staff_id, scheduled_end, actual_start, actual_end,
             created_at, updated_at);
