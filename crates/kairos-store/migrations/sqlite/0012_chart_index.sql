-- The chart's encounters (a client's next and last visits) read from one
-- index: every column the chart returns is in it, so a chart read touches a
-- few index pages instead of one table page per encounter (a client's
-- encounters are spread over the table in booking order). Measured on the
-- 100,000-client demo: 21 % less server CPU per chart read (docs/benchmarks.md).
DROP INDEX encounters_client;
CREATE INDEX encounters_client ON encounters (client_id, scheduled_start, id, status, kind, course_id, site_id,
    room_id, staff_id, scheduled_end, actual_start, actual_end, created_at, updated_at);
