-- What the database refuses on red-ink corrections (红冲 + 蓝字; issue 22,
-- section 3; docs/operations.md, "What the database refuses"). Plain
-- triggers, none of which a setting switches off; running the file twice is
-- harmless. A second correction of one posting is refused by the unique
-- constraints (correction_one_live_per_posting, and the one reverses per
-- posting that a reversal shares).

-- A booked correction's red posting mirrors its original exactly: the same
-- business type, entity and currency, it reverses the original, and its
-- entries are the original's (account, amount, currency, business type) with
-- every direction swapped, no more, no fewer. Its blue posting is an ordinary
-- posting of the same business type, entity and currency. Checked at COMMIT,
-- when the entries of both are written.
CREATE OR REPLACE FUNCTION ledger_correction_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    orig record;
    red record;
    blue record;
BEGIN
    IF NEW.status <> 'booked' THEN
        RETURN NULL;
    END IF;
    SELECT * INTO orig FROM postings_posting WHERE serial_no = NEW.original_id;
    SELECT * INTO red FROM postings_posting WHERE serial_no = NEW.red_posting_id;
    SELECT * INTO blue FROM postings_posting WHERE serial_no = NEW.blue_posting_id;
    IF red.reverses_id IS DISTINCT FROM orig.serial_no
       OR red.business_type <> orig.business_type OR red.entity_id <> orig.entity_id OR red.currency <> orig.currency THEN
        RAISE EXCEPTION 'correction %: red posting % does not reverse posting % in its business type, entity and currency',
            NEW.id, red.serial_no, orig.serial_no USING ERRCODE = 'check_violation';
    END IF;
    IF blue.reverses_id IS NOT NULL OR blue.serial_no IN (orig.serial_no, red.serial_no)
       OR blue.business_type <> orig.business_type OR blue.entity_id <> orig.entity_id
       OR blue.currency <> orig.currency THEN
        RAISE EXCEPTION 'correction %: blue posting % is not a new posting of posting %''s business type, entity and currency',
            NEW.id, blue.serial_no, orig.serial_no USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (
        (SELECT account_id, CASE direction WHEN 'D' THEN 'C' ELSE 'D' END, amount, currency, business_type
           FROM postings_entry WHERE posting_id = orig.serial_no
         EXCEPT ALL
         SELECT account_id, direction, amount, currency, business_type FROM postings_entry WHERE posting_id = red.serial_no)
        UNION ALL
        (SELECT account_id, direction, amount, currency, business_type FROM postings_entry WHERE posting_id = red.serial_no
         EXCEPT ALL
         SELECT account_id, CASE direction WHEN 'D' THEN 'C' ELSE 'D' END, amount, currency, business_type
           FROM postings_entry WHERE posting_id = orig.serial_no)
    ) THEN
        RAISE EXCEPTION 'correction %: the entries of red posting % do not mirror those of posting %',
            NEW.id, red.serial_no, orig.serial_no USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS correction_mirrors ON postings_correction;
CREATE CONSTRAINT TRIGGER correction_mirrors AFTER INSERT OR UPDATE ON postings_correction
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_correction_check();

-- A posting that reverses another is a reversal (business type reversal) or
-- the red posting of a booked correction; nothing else may claim to undo a
-- posting (and so block its real correction). Checked at COMMIT.
CREATE OR REPLACE FUNCTION ledger_red_posting_in_correction() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM postings_correction c
                    WHERE c.red_posting_id = NEW.serial_no AND c.status = 'booked') THEN
        RAISE EXCEPTION 'posting % reverses posting % but is neither a reversal nor the red posting of a booked correction',
            NEW.serial_no, NEW.reverses_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS posting_red_in_correction ON postings_posting;
CREATE CONSTRAINT TRIGGER posting_red_in_correction AFTER INSERT ON postings_posting
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.reverses_id IS NOT NULL AND NEW.business_type <> 'reversal')
    EXECUTE FUNCTION ledger_red_posting_in_correction();

-- A proposal is decided once: proposed -> booked or rejected, changing
-- nothing it proposed; a decided correction never changes; none is deleted.
CREATE OR REPLACE FUNCTION ledger_correction_decided_once() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    decision text[] := ARRAY['status', 'red_posting_id', 'blue_posting_id', 'decided_by_id', 'decided_at',
                             'decision_note'];
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'proposed' AND NEW.status IN ('booked', 'rejected')
       AND to_jsonb(NEW) - decision = to_jsonb(OLD) - decision THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'Cannot % correction % (%): a correction is decided once and never changed',
        lower(TG_OP), OLD.id, OLD.status USING ERRCODE = 'restrict_violation';
END $$;
DROP TRIGGER IF EXISTS correction_decided_once ON postings_correction;
CREATE TRIGGER correction_decided_once BEFORE UPDATE OR DELETE ON postings_correction
    FOR EACH ROW EXECUTE FUNCTION ledger_correction_decided_once();

-- What undoes a posting is never itself undone: a red posting (or a
-- reversal) is neither reversed nor corrected; correct the original's blue
-- posting instead.
CREATE OR REPLACE FUNCTION ledger_undo_not_undone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM postings_posting p WHERE p.serial_no = NEW.reverses_id AND p.reverses_id IS NOT NULL) THEN
        RAISE EXCEPTION 'posting % itself reverses a posting; it is not reversed again', NEW.reverses_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS posting_undo_not_undone ON postings_posting;
CREATE TRIGGER posting_undo_not_undone BEFORE INSERT ON postings_posting
    FOR EACH ROW WHEN (NEW.reverses_id IS NOT NULL) EXECUTE FUNCTION ledger_undo_not_undone();
