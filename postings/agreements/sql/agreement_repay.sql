-- The member's choice of what a credit repayment agreement takes on the due
-- date (full or minimum) is one of the agreement's terms: it never changes
-- once signed (agreements.sql's terms trigger predates the column).
CREATE OR REPLACE FUNCTION ledger_agreement_repay_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.repay IS DISTINCT FROM OLD.repay THEN
        RAISE EXCEPTION 'agreement %: what it repays (%) is fixed when signed', OLD.id, OLD.repay
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS agreement_repay_fixed ON agreements_agreement;
CREATE TRIGGER agreement_repay_fixed BEFORE UPDATE OF repay ON agreements_agreement
    FOR EACH ROW EXECUTE FUNCTION ledger_agreement_repay_fixed();
