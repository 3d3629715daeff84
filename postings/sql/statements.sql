-- What the database refuses on members' monthly statements (月度对账单;
-- issue 23, section 4; docs/operations.md, "What the database refuses").
-- A statement is a document the member was given: it is kept exactly as it
-- was made. Plain triggers, none of which a setting switches off; running the
-- file twice is harmless. One statement per account and month is the unique
-- constraint monthly_statement_once.

-- Its recorded SHA-256 is the PDF's, so a download can be checked against it.
CREATE OR REPLACE FUNCTION ledger_monthly_statement_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.sha256 IS DISTINCT FROM encode(sha256(NEW.pdf), 'hex') THEN
        RAISE EXCEPTION 'monthly statement of account % for %: sha256 % is not the PDF''s',
            NEW.account_id, NEW.month, NEW.sha256 USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS monthly_statement_check ON postings_monthlystatement;
CREATE TRIGGER monthly_statement_check BEFORE INSERT ON postings_monthlystatement
    FOR EACH ROW EXECUTE FUNCTION ledger_monthly_statement_check();

-- Never changed, never deleted.
CREATE OR REPLACE FUNCTION ledger_monthly_statement_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'monthly statement % (account %, %) is kept as it was made: % refused',
        OLD.id, OLD.account_id, OLD.month, TG_OP USING ERRCODE = 'integrity_constraint_violation';
END $$;

DROP TRIGGER IF EXISTS monthly_statement_kept ON postings_monthlystatement;
CREATE TRIGGER monthly_statement_kept BEFORE UPDATE OR DELETE ON postings_monthlystatement
    FOR EACH ROW EXECUTE FUNCTION ledger_monthly_statement_kept();
