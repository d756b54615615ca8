-- A biennial inventory (21 CFR 1304.11(c)) is one dated event across every
-- stock of a registration: one row here, and one count entry per stock
-- (cs_entries, count_type 'biennial') listed in cs_inventory_counts, all
-- written in one transaction. The registration's inventory status reads the
-- latest of these events (and its initial inventory), never one lot's count.
CREATE TABLE cs_inventories (
    id TEXT PRIMARY KEY,
    registration_id TEXT NOT NULL REFERENCES cs_registrations(id),
    -- The moment of the count, and whether at the opening or the close of
    -- business (1304.11(a)).
    taken_at BIGINT NOT NULL,
    business_time TEXT NOT NULL,
    taken_by TEXT NOT NULL REFERENCES staff(id),
    recorded_at BIGINT NOT NULL
);
CREATE INDEX cs_inventories_registration ON cs_inventories (registration_id, taken_at);
CREATE TABLE cs_inventory_counts (
    inventory_id TEXT NOT NULL REFERENCES cs_inventories(id),
    entry_id TEXT NOT NULL UNIQUE REFERENCES cs_entries(id),
    stock_id TEXT NOT NULL REFERENCES cs_stock(id),
    PRIMARY KEY (inventory_id, stock_id)
);
CREATE TRIGGER cs_inventories_guarded BEFORE UPDATE OR DELETE ON cs_inventories
FOR EACH ROW EXECUTE FUNCTION never_changes();
CREATE TRIGGER cs_inventory_counts_guarded BEFORE UPDATE OR DELETE ON cs_inventory_counts
FOR EACH ROW EXECUTE FUNCTION never_changes();
