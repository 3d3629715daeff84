-- Close certificates (日结单, reports/certificates): what the database keeps,
-- whoever writes (docs/operations.md, "What the database refuses").
--
-- A certificate is written as a draft and may be redrafted while it is one.
-- Its first signature seals it: from then on the one change it may see is
-- its co-signature (status signed -> cosigned, by whom, when), and a
-- co-signed certificate never changes. None is ever deleted. The CHECK
-- constraint certificate_signed_by_two_people keeps the two signers apart.
CREATE OR REPLACE FUNCTION certificate_sealed_once_signed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cosign_fields text[] := ARRAY['status', 'cosigned_by_id', 'cosigned_at'];
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'close certificate % is never deleted', OLD.id USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'draft' THEN
            RAISE EXCEPTION 'a close certificate is written as a draft and signed afterwards'
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.status = 'draft' AND NEW.status IN ('draft', 'signed') THEN
        RETURN NEW;
    END IF;
    IF OLD.status = 'signed' AND NEW.status = 'cosigned'
       AND to_jsonb(NEW) - cosign_fields = to_jsonb(OLD) - cosign_fields THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'close certificate % of % is %: it changes only by its co-signature, once',
        OLD.id, OLD.accounting_date, OLD.status USING ERRCODE = 'restrict_violation';
END $$;

DROP TRIGGER IF EXISTS certificate_sealed ON reports_closecertificate;
CREATE TRIGGER certificate_sealed BEFORE INSERT OR UPDATE OR DELETE ON reports_closecertificate
    FOR EACH ROW EXECUTE FUNCTION certificate_sealed_once_signed();
