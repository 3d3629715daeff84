-- What the database refuses on vouchers (issue 22, section 1;
-- docs/operations.md, "What the database refuses"). Plain triggers, none of
-- which a setting switches off; running the file twice is harmless.

-- Every voucher balances, per currency: its debit lines add up to its credit
-- lines, and it has at least two lines. Checked at COMMIT (deferred), once
-- per voucher written or touched, so a voucher's lines may be written in
-- any order and statements within the transaction.
CREATE OR REPLACE FUNCTION voucher_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lines integer;
    off record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM reports_voucher v WHERE v.id = NEW.id) THEN
        RETURN NULL;  -- a draft deleted later in the transaction
    END IF;
    SELECT COUNT(*) INTO lines FROM reports_voucherline l WHERE l.voucher_id = NEW.id;
    IF lines < 2 THEN
        RAISE EXCEPTION 'voucher % has % line(s); a voucher has at least two', NEW.id, lines
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT l.currency,
           SUM(CASE WHEN l.direction = 'D' THEN l.amount ELSE 0 END) AS debit,
           SUM(CASE WHEN l.direction = 'C' THEN l.amount ELSE 0 END) AS credit
      INTO off
      FROM reports_voucherline l
     WHERE l.voucher_id = NEW.id
     GROUP BY l.currency
    HAVING SUM(CASE WHEN l.direction = 'D' THEN l.amount ELSE -l.amount END) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'voucher % does not balance in %: debit % <> credit %', NEW.id, off.currency, off.debit,
            off.credit USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS voucher_balanced ON reports_voucher;
CREATE CONSTRAINT TRIGGER voucher_balanced AFTER INSERT OR UPDATE ON reports_voucher
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION voucher_check_balanced();

-- A voucher once exported is never changed or deleted. The one change it
-- may see: exported -> acknowledged, recording the GL's voucher number (and
-- who, when, from what); an acknowledged voucher changes no more. A draft
-- may be rebuilt (its lines replaced), exported or deleted.
CREATE OR REPLACE FUNCTION voucher_frozen_once_exported() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ack_fields text[] := ARRAY['status', 'gl_voucher_no', 'acknowledged_at', 'acknowledged_by', 'acknowledged_from'];
BEGIN
    IF OLD.status = 'draft' THEN
        IF TG_OP = 'UPDATE' AND NEW.status NOT IN ('draft', 'exported') THEN
            RAISE EXCEPTION 'voucher %: a draft is exported before it is acknowledged', OLD.id
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.status = 'exported' AND NEW.status = 'acknowledged'
       AND NEW.gl_voucher_no <> ''
       AND to_jsonb(NEW) - ack_fields = to_jsonb(OLD) - ack_fields THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'Cannot % voucher % (%): an exported voucher is never changed; a correction is red ink',
        lower(TG_OP), OLD.id, OLD.status USING ERRCODE = 'restrict_violation';
END $$;
DROP TRIGGER IF EXISTS voucher_frozen ON reports_voucher;
CREATE TRIGGER voucher_frozen BEFORE UPDATE OR DELETE ON reports_voucher
    FOR EACH ROW EXECUTE FUNCTION voucher_frozen_once_exported();

-- Lines: only a draft's lines are written; and a line written touches its
-- voucher (a no-op update), so that the voucher's balance is checked again
-- at COMMIT. Per statement: one probe and one touch per voucher, not per line.
CREATE OR REPLACE FUNCTION voucher_lines_of_drafts_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    frozen bigint;
BEGIN
    SELECT v.id INTO frozen
      FROM reports_voucher v
     WHERE v.status <> 'draft'
       AND v.id IN (SELECT voucher_id FROM touched_lines)
     LIMIT 1;
    IF frozen IS NOT NULL THEN
        RAISE EXCEPTION 'Cannot % lines of voucher %: an exported voucher is never changed', lower(TG_OP), frozen
            USING ERRCODE = 'restrict_violation';
    END IF;
    UPDATE reports_voucher v SET id = v.id WHERE v.id IN (SELECT DISTINCT voucher_id FROM touched_lines);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS voucher_lines_inserted ON reports_voucherline;
CREATE TRIGGER voucher_lines_inserted AFTER INSERT ON reports_voucherline
    REFERENCING NEW TABLE AS touched_lines FOR EACH STATEMENT EXECUTE FUNCTION voucher_lines_of_drafts_only();
DROP TRIGGER IF EXISTS voucher_lines_updated_from ON reports_voucherline;
CREATE TRIGGER voucher_lines_updated_from AFTER UPDATE ON reports_voucherline
    REFERENCING OLD TABLE AS touched_lines FOR EACH STATEMENT EXECUTE FUNCTION voucher_lines_of_drafts_only();
DROP TRIGGER IF EXISTS voucher_lines_updated_to ON reports_voucherline;
CREATE TRIGGER voucher_lines_updated_to AFTER UPDATE ON reports_voucherline
    REFERENCING NEW TABLE AS touched_lines FOR EACH STATEMENT EXECUTE FUNCTION voucher_lines_of_drafts_only();
DROP TRIGGER IF EXISTS voucher_lines_deleted ON reports_voucherline;
CREATE TRIGGER voucher_lines_deleted AFTER DELETE ON reports_voucherline
    REFERENCING OLD TABLE AS touched_lines FOR EACH STATEMENT EXECUTE FUNCTION voucher_lines_of_drafts_only();

-- An export is the record of a file sent to the GL, and an acknowledgement
-- file the record of its answer: never changed, never deleted.
DROP TRIGGER IF EXISTS voucher_export_append_only ON reports_voucherexport;
CREATE TRIGGER voucher_export_append_only BEFORE UPDATE OR DELETE ON reports_voucherexport
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS voucher_export_vouchers_append_only ON reports_voucherexport_vouchers;
CREATE TRIGGER voucher_export_vouchers_append_only BEFORE UPDATE OR DELETE ON reports_voucherexport_vouchers
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS voucher_ack_import_append_only ON reports_voucherackimport;
CREATE TRIGGER voucher_ack_import_append_only BEFORE UPDATE OR DELETE ON reports_voucherackimport
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
