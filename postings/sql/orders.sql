-- What the database refuses about guarantee orders (担保交易, issue 20 section 2),
-- whoever writes: an order's escrow balance is what its events leave (paid in
-- less refunded and confirmed), never negative and zero once it closes; each
-- event that moves money has a posting with that amount on the order's escrow
-- account; a disputed order moves no money until it is resolved; events are
-- never changed, orders never deleted and what was ordered never changes.
-- Plain triggers (not django-pgtrigger's): no runtime role can switch them off.
-- The CHECK constraints on the model (balance within 0..amount, a closed order
-- holds nothing) stand even under session_replication_role = replica.

-- NULL, or what is wrong with order p_order, in words. The COMMIT triggers
-- below and the end of day's escrow check (reports/eod/checks.py) both ask it.
CREATE OR REPLACE FUNCTION ledger_order_drift(p_order bigint) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    o record;
    n_pay integer;
    paid numeric;
    moved_out numeric;
    refunded numeric;
    first_ev record;
    last_ev record;
    bad record;
    via_legs numeric;
BEGIN
    SELECT * INTO o FROM postings_guaranteeorder WHERE id = p_order;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT count(*) FILTER (WHERE ev.kind = 'pay'),
           COALESCE(SUM(ev.amount) FILTER (WHERE ev.kind = 'pay'), 0),
           COALESCE(SUM(ev.amount) FILTER (WHERE ev.kind IN ('refund', 'confirm', 'auto_confirm')), 0),
           COALESCE(SUM(ev.amount) FILTER (WHERE ev.kind = 'refund'), 0)
      INTO n_pay, paid, moved_out, refunded
      FROM postings_orderevent ev WHERE ev.order_id = p_order;
    SELECT ev.kind, ev.posting_id INTO first_ev FROM postings_orderevent ev
     WHERE ev.order_id = p_order ORDER BY ev.id LIMIT 1;
    IF n_pay <> 1 OR paid <> o.amount OR first_ev.kind IS DISTINCT FROM 'pay'
       OR first_ev.posting_id IS DISTINCT FROM o.pay_posting_id THEN
        RETURN format('order %s: its first event is one pay-in of %s by posting %s; found %s pay-in(s) of %s',
                      o.id, o.amount, o.pay_posting_id, n_pay, paid);
    END IF;
    IF o.balance <> paid - moved_out THEN
        RETURN format('order %s: escrow balance %s, but its events leave %s (paid %s, out %s)',
                      o.id, o.balance, paid - moved_out, paid, moved_out);
    END IF;
    SELECT ev.to_status INTO last_ev FROM postings_orderevent ev
     WHERE ev.order_id = p_order ORDER BY ev.id DESC LIMIT 1;
    IF last_ev.to_status IS DISTINCT FROM o.status THEN
        RETURN format('order %s: status %s, but its last event leaves it %s', o.id, o.status, last_ev.to_status);
    END IF;
    IF o.status IN ('confirmed', 'refunded') AND o.balance <> 0 THEN
        RETURN format('order %s is %s but holds %s in escrow', o.id, o.status, o.balance);
    END IF;
    SELECT ev.id, ev.kind, ev.amount, ev.posting_id INTO bad FROM postings_orderevent ev
     WHERE ev.order_id = p_order AND ev.posting_id IS NOT NULL
       AND NOT EXISTS (
            SELECT 1 FROM postings_entry e
             WHERE e.posting_id = ev.posting_id AND e.account_id = o.escrow_account_id AND e.amount = ev.amount
               AND e.direction = CASE WHEN ev.kind = 'pay' THEN 'C' ELSE 'D' END)
     ORDER BY ev.id LIMIT 1;
    IF FOUND THEN
        RETURN format('order %s: its %s event %s of %s has no entry of that amount on escrow account %s in posting %s',
                      o.id, bad.kind, bad.id, bad.amount, o.escrow_account_id, bad.posting_id);
    END IF;
    -- A refund of an order's payment taken past the order (a refund of the
    -- posting, not of the order) would empty the escrow behind its back.
    SELECT COALESCE(SUM(l.amount), 0) INTO via_legs
      FROM postings_orderevent ev
      JOIN postings_entry e ON e.posting_id = ev.posting_id AND e.account_id = o.escrow_account_id
      JOIN postings_refundleg l ON l.original_entry_id = e.serial_no
     WHERE ev.order_id = p_order;
    IF via_legs <> refunded THEN
        RETURN format('order %s: its refund events come to %s, but refunds of its postings take %s from escrow',
                      o.id, refunded, via_legs);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ledger_order_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    order_id bigint;
    problem text;
BEGIN
    IF TG_TABLE_NAME = 'postings_guaranteeorder' THEN
        order_id := NEW.id;
    ELSE
        order_id := NEW.order_id;
    END IF;
    problem := ledger_order_drift(order_id);
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'order_follows_its_events: %', problem USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

-- A refund leg on an entry of an order's posting: the order must still agree.
CREATE OR REPLACE FUNCTION ledger_order_refund_leg_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ev record;
    problem text;
BEGIN
    FOR ev IN
        SELECT DISTINCT oe.order_id FROM postings_entry e
          JOIN postings_orderevent oe ON oe.posting_id = e.posting_id
         WHERE e.serial_no = NEW.original_entry_id
    LOOP
        problem := ledger_order_drift(ev.order_id);
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION 'order_follows_its_events: %', problem USING ERRCODE = 'check_violation';
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

-- Each event is a step the order may take from the status it has: money
-- leaves only a paid order (a disputed one is frozen until resolved), a
-- dispute and its resolution say why.
CREATE OR REPLACE FUNCTION ledger_order_event_step() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current_status text;
BEGIN
    SELECT o.status INTO current_status FROM postings_guaranteeorder o WHERE o.id = NEW.order_id FOR NO KEY UPDATE;
    IF NEW.kind = 'pay' THEN
        IF NEW.from_status <> '' OR NEW.to_status <> 'paid' THEN
            RAISE EXCEPTION 'order %: a pay-in opens the order as paid', NEW.order_id USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.from_status IS DISTINCT FROM current_status THEN
        RAISE EXCEPTION 'order %: a % step from % on an order that is %', NEW.order_id, NEW.kind, NEW.from_status,
            current_status USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.kind IN ('refund', 'confirm', 'auto_confirm') AND current_status <> 'paid' THEN
        RAISE EXCEPTION 'order_disputed: order % is %; no money moves until it is resolved', NEW.order_id,
            current_status USING ERRCODE = 'check_violation';
    END IF;
    IF NOT ((NEW.kind = 'refund' AND NEW.to_status IN ('paid', 'refunded'))
            OR (NEW.kind IN ('confirm', 'auto_confirm') AND NEW.to_status = 'confirmed')
            OR (NEW.kind = 'dispute' AND current_status = 'paid' AND NEW.to_status = 'disputed')
            OR (NEW.kind = 'resolve' AND current_status = 'disputed' AND NEW.to_status = 'paid')) THEN
        RAISE EXCEPTION 'order %: % from % to % is not a step an order takes', NEW.order_id, NEW.kind,
            current_status, NEW.to_status USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.kind IN ('dispute', 'resolve') AND btrim(NEW.reason) = '' THEN
        RAISE EXCEPTION 'order %: a % needs a reason', NEW.order_id, NEW.kind USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

-- What was ordered never changes; a closed order never changes at all.
CREATE OR REPLACE FUNCTION ledger_order_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('confirmed', 'refunded')
       OR (NEW.id, NEW.order_no, NEW.entity_id, NEW.currency, NEW.buyer_account_id, NEW.merchant_account_id,
           NEW.escrow_account_id, NEW.amount, NEW.commission, NEW.coupon, NEW.pay_posting_id, NEW.confirm_by,
           NEW.source_system, NEW.request_no, NEW.fingerprint, NEW.created_by, NEW.created_at)
          IS DISTINCT FROM
          (OLD.id, OLD.order_no, OLD.entity_id, OLD.currency, OLD.buyer_account_id, OLD.merchant_account_id,
           OLD.escrow_account_id, OLD.amount, OLD.commission, OLD.coupon, OLD.pay_posting_id, OLD.confirm_by,
           OLD.source_system, OLD.request_no, OLD.fingerprint, OLD.created_by, OLD.created_at)
    THEN
        RAISE EXCEPTION 'order % is fixed: only an open order''s balance and status change, by its events', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

-- An order's postings are undone through the order (a refund), never by a
-- reversal, which would move its escrow without it.
CREATE OR REPLACE FUNCTION ledger_order_posting_not_reversed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM postings_orderevent ev WHERE ev.posting_id = NEW.reverses_id) THEN
        RAISE EXCEPTION 'posting % belongs to a guarantee order; it is refunded through the order, not reversed',
            NEW.reverses_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS order_guard ON postings_guaranteeorder;
CREATE CONSTRAINT TRIGGER order_guard AFTER INSERT OR UPDATE ON postings_guaranteeorder
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_order_guard();
DROP TRIGGER IF EXISTS order_event_guard ON postings_orderevent;
CREATE CONSTRAINT TRIGGER order_event_guard AFTER INSERT ON postings_orderevent
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_order_guard();
DROP TRIGGER IF EXISTS order_refund_leg_guard ON postings_refundleg;
CREATE CONSTRAINT TRIGGER order_refund_leg_guard AFTER INSERT ON postings_refundleg
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_order_refund_leg_guard();
DROP TRIGGER IF EXISTS order_event_step ON postings_orderevent;
CREATE TRIGGER order_event_step BEFORE INSERT ON postings_orderevent
    FOR EACH ROW EXECUTE FUNCTION ledger_order_event_step();
DROP TRIGGER IF EXISTS order_event_append_only ON postings_orderevent;
CREATE TRIGGER order_event_append_only BEFORE UPDATE OR DELETE ON postings_orderevent
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS order_fixed ON postings_guaranteeorder;
CREATE TRIGGER order_fixed BEFORE UPDATE ON postings_guaranteeorder
    FOR EACH ROW EXECUTE FUNCTION ledger_order_fixed();
DROP TRIGGER IF EXISTS order_never_deleted ON postings_guaranteeorder;
CREATE TRIGGER order_never_deleted BEFORE DELETE ON postings_guaranteeorder
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('delete');
DROP TRIGGER IF EXISTS order_posting_not_reversed ON postings_posting;
CREATE TRIGGER order_posting_not_reversed BEFORE INSERT ON postings_posting
    FOR EACH ROW WHEN (NEW.reverses_id IS NOT NULL) EXECUTE FUNCTION ledger_order_posting_not_reversed();
