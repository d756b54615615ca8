-- Read and list entries leave the per-client audit index: they are filed by
-- client in a derived index beside the database (src/audit_reads.rs), so an
-- audited read no longer dirties a random index page in every commit.
DROP INDEX audit_client;
CREATE INDEX audit_client ON audit_log (client_id, id) WHERE client_id IS NOT NULL AND action NOT IN ('read', 'list');
