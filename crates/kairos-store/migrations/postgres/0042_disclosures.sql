-- Disclosures of a client's record outside the clinic (45 CFR 164.528; ONC
-- 170.315(d)(11)): when, to whom, what, why, and how it was recorded (by
-- hand, or by the act that disclosed it: a REMS form submitted, a ledger
-- report handed to an inspector). Never changed.
CREATE TABLE disclosures (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    disclosed_at BIGINT NOT NULL,
    recipient TEXT NOT NULL,
    recipient_address TEXT,
    description TEXT NOT NULL,
    purpose TEXT NOT NULL,
    statement TEXT,
    -- 'recorded', 'rems_form' or 'ledger_report'.
    source TEXT NOT NULL,
    source_ref TEXT,
    recorded_by TEXT REFERENCES staff(id),
    recorded_at BIGINT NOT NULL
);
CREATE INDEX disclosures_client ON disclosures (client_id, disclosed_at);
CREATE FUNCTION disclosures_kept() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'a recorded disclosure never changes and is never deleted';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER disclosures_kept BEFORE UPDATE OR DELETE ON disclosures
FOR EACH ROW EXECUTE FUNCTION disclosures_kept();
