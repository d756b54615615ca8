-- The client's name and address as of each ledger entry that names a client
-- (administrations and the waste that follows them), kept so that an entry
-- reads the same after the client moves (21 CFR 1304.22(c): the name and
-- address of the person, as of the entry). Written with the entry, in the
-- same transaction; never changed.
CREATE TABLE cs_entry_clients (
    entry_id TEXT PRIMARY KEY REFERENCES cs_entries(id),
    client_name TEXT NOT NULL,
    client_address TEXT
);
CREATE TRIGGER cs_entry_clients_immutable BEFORE UPDATE ON cs_entry_clients
BEGIN
    SELECT RAISE(ABORT, 'a ledger entry never changes; record a correction');
END;
CREATE TRIGGER cs_entry_clients_no_delete BEFORE DELETE ON cs_entry_clients
BEGIN
    SELECT RAISE(ABORT, 'a ledger entry is never deleted');
END;

-- Backfill: entries written before this migration take the client's name
-- and address from the live record as it stands when the migration runs
-- (the earlier values were not kept).
INSERT INTO cs_entry_clients (entry_id, client_name, client_address)
SELECT e.id, c.given_name || ' ' || c.family_name, c.address
FROM cs_entries e JOIN clients c ON c.id = e.client_id;
