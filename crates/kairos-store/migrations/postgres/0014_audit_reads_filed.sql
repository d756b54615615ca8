-- SQLite files read and list audit entries by client in a derived index
-- (see the SQLite migration of the same number); PostgreSQL keeps its plain
-- per-client index, so nothing changes here.
SELECT 1;
