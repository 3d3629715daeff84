-- What the database refuses about refunds (退款, issue 20 section 1), whoever
-- writes: no leg of a payment is ever refunded beyond what it moved, however
-- many refunds run at once; refund legs are never changed or deleted; a
-- refund is decided once and its request never changes.
-- Plain triggers (not django-pgtrigger's): no runtime role can switch them off.

-- Each refund leg inserted: the entry it refunds is a leg of the refund's
-- original posting, the refund is posted (legs are written with its
-- posting), and the legs refunding that entry add up to no more than the
-- entry's amount.
--
-- The sum is taken under a lock on the original posting's row (FOR NO KEY
-- UPDATE: the entries' foreign keys take KEY SHARE, so postings are not
-- held up). Two refunds of one payment: the second waits at the lock until
-- the first commits, and then, under READ COMMITTED, its sum (a new
-- snapshot per statement) counts the first one's legs. Under REPEATABLE
-- READ the snapshot would be older than the lock and could miss them, so
-- that level is refused here; SERIALIZABLE finds the conflict itself.
CREATE OR REPLACE FUNCTION ledger_refund_leg_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    e record;
    refunded numeric;
BEGIN
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'refund legs are not written under REPEATABLE READ: the refunded sum could miss a concurrent refund'
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT f.original_id, f.status, f.posting_id INTO r FROM postings_refund f WHERE f.id = NEW.refund_id;
    PERFORM 1 FROM postings_posting p WHERE p.serial_no = r.original_id FOR NO KEY UPDATE;
    SELECT x.posting_id, x.amount INTO e FROM postings_entry x WHERE x.serial_no = NEW.original_entry_id;
    IF e.posting_id IS DISTINCT FROM r.original_id THEN
        RAISE EXCEPTION 'refund leg of refund %: entry % is not a leg of the refunded posting %',
            NEW.refund_id, NEW.original_entry_id, r.original_id USING ERRCODE = 'check_violation';
    END IF;
    IF r.status <> 'posted' OR r.posting_id IS NULL THEN
        RAISE EXCEPTION 'refund leg of refund %: the refund is not posted; its legs are written with its posting',
            NEW.refund_id USING ERRCODE = 'check_violation';
    END IF;
    SELECT COALESCE(SUM(l.amount), 0) INTO refunded FROM postings_refundleg l
     WHERE l.original_entry_id = NEW.original_entry_id;
    IF refunded > e.amount THEN
        RAISE EXCEPTION 'refund_exceeds_original: entry % of posting % moved %, its refunds come to %',
            NEW.original_entry_id, r.original_id, e.amount, refunded USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

-- A refund changes once, while it awaits approval: to posted (with its
-- posting) or rejected, with who decided and when. What was asked never changes.
CREATE OR REPLACE FUNCTION ledger_refund_decided_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'pending_approval'
       OR (NEW.id, NEW.original_id, NEW.amount, NEW.currency, NEW.needs_approval, NEW.reason, NEW.source_system,
           NEW.request_no, NEW.fingerprint, NEW.requested_by, NEW.proposed_by_id, NEW.created_at)
          IS DISTINCT FROM
          (OLD.id, OLD.original_id, OLD.amount, OLD.currency, OLD.needs_approval, OLD.reason, OLD.source_system,
           OLD.request_no, OLD.fingerprint, OLD.requested_by, OLD.proposed_by_id, OLD.created_at)
    THEN
        RAISE EXCEPTION 'refund % is decided once: only a refund awaiting approval may be posted or rejected',
            OLD.id USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS refund_leg_within_original ON postings_refundleg;
CREATE TRIGGER refund_leg_within_original AFTER INSERT ON postings_refundleg
    FOR EACH ROW EXECUTE FUNCTION ledger_refund_leg_check();
DROP TRIGGER IF EXISTS refund_leg_append_only ON postings_refundleg;
CREATE TRIGGER refund_leg_append_only BEFORE UPDATE OR DELETE ON postings_refundleg
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS refund_decided_once ON postings_refund;
CREATE TRIGGER refund_decided_once BEFORE UPDATE ON postings_refund
    FOR EACH ROW EXECUTE FUNCTION ledger_refund_decided_once();
DROP TRIGGER IF EXISTS refund_never_deleted ON postings_refund;
CREATE TRIGGER refund_never_deleted BEFORE DELETE ON postings_refund
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('delete');
