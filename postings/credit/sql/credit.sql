-- Bills, accruals and allocations of the credit product (issue 21, section 2;
-- postings.credit), for the database: what the services write is checked
-- here again, so a statement typed by hand cannot make a bill say something
-- the ledger does not, or book an accrual twice or beside its posting.
--
-- * A bill is never changed or deleted once issued; it covers only days
--   that take no more postings (cut: before the entity's open day), and its
--   closing is what the line's entries dated up to its period's end add up to.
-- * An accrual is its posting: a debit of exactly its amount on its line,
--   in its kind's business type; its amount is base x rate rounded half-up
--   to the currency's minor units. One per line, day and kind (a unique key).
-- * An allocation is one credit entry of its line, of exactly its amount.
-- * Accruals and allocations are never changed or deleted.

CREATE OR REPLACE FUNCTION ledger_credit_row_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: % % is never changed or deleted', TG_ARGV[0], TG_TABLE_NAME, OLD.id
          USING ERRCODE = 'check_violation', CONSTRAINT = TG_ARGV[0];
END $$;

CREATE OR REPLACE TRIGGER bill_immutable BEFORE UPDATE OR DELETE ON postings_bill
    FOR EACH ROW EXECUTE FUNCTION ledger_credit_row_fixed('bill_immutable');
CREATE OR REPLACE TRIGGER credit_accrual_append_only BEFORE UPDATE OR DELETE ON postings_creditaccrual
    FOR EACH ROW EXECUTE FUNCTION ledger_credit_row_fixed('credit_accrual_append_only');
CREATE OR REPLACE TRIGGER credit_allocation_append_only BEFORE UPDATE OR DELETE ON postings_creditallocation
    FOR EACH ROW EXECUTE FUNCTION ledger_credit_row_fixed('credit_allocation_append_only');

CREATE OR REPLACE FUNCTION ledger_bill_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    open_day date;
    owed numeric;
BEGIN
    SELECT c.open_date INTO open_day
      FROM postings_accountingcalendar c JOIN accounts_account a ON a.entity_id = c.entity_id
     WHERE a.id = NEW.account_id;
    IF open_day IS NULL OR NEW.period_end >= open_day THEN
        RAISE EXCEPTION 'bill_covers_cut_days: bill of account % ends % but % is still open', NEW.account_id,
              NEW.period_end, open_day
              USING ERRCODE = 'check_violation', CONSTRAINT = 'bill_covers_cut_days';
    END IF;
    SELECT coalesce(sum(CASE WHEN e.direction = 'D' THEN e.amount ELSE -e.amount END), 0) INTO owed
      FROM postings_entry e
     WHERE e.account_id = NEW.account_id AND e.accounting_date <= NEW.period_end AND e.account_seq IS NOT NULL;
    IF owed <> NEW.closing THEN
        RAISE EXCEPTION 'bill_is_the_ledger: bill of account % closes at % but its entries to % add up to %',
              NEW.account_id, NEW.closing, NEW.period_end, owed
              USING ERRCODE = 'check_violation', CONSTRAINT = 'bill_is_the_ledger';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER bill_check BEFORE INSERT ON postings_bill
    FOR EACH ROW EXECUTE FUNCTION ledger_bill_check();

CREATE OR REPLACE FUNCTION ledger_credit_accrual_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.amount <> round(NEW.base * NEW.rate, NEW.places) THEN
        RAISE EXCEPTION 'credit_accrual_rounded: % x % is not % at % places', NEW.base, NEW.rate, NEW.amount,
              NEW.places
              USING ERRCODE = 'check_violation', CONSTRAINT = 'credit_accrual_rounded';
    END IF;
    IF NOT EXISTS (SELECT FROM postings_entry e
                    WHERE e.posting_id = NEW.posting_id AND e.account_id = NEW.account_id AND e.direction = 'D'
                      AND e.amount = NEW.amount AND e.business_type = 'credit_' || NEW.kind) THEN
        RAISE EXCEPTION 'credit_accrual_is_its_posting: posting % has no credit_% debit of % on account %',
              NEW.posting_id, NEW.kind, NEW.amount, NEW.account_id
              USING ERRCODE = 'check_violation', CONSTRAINT = 'credit_accrual_is_its_posting';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER credit_accrual_check BEFORE INSERT ON postings_creditaccrual
    FOR EACH ROW EXECUTE FUNCTION ledger_credit_accrual_check();

CREATE OR REPLACE FUNCTION ledger_credit_allocation_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM postings_entry e
                    WHERE e.posting_id = NEW.posting_id AND e.account_id = NEW.account_id AND e.direction = 'C'
                      AND e.account_seq = NEW.account_seq AND e.amount = NEW.amount) THEN
        RAISE EXCEPTION 'credit_allocation_is_its_credit: posting % has no credit of % as entry % of account %',
              NEW.posting_id, NEW.amount, NEW.account_seq, NEW.account_id
              USING ERRCODE = 'check_violation', CONSTRAINT = 'credit_allocation_is_its_credit';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER credit_allocation_check BEFORE INSERT ON postings_creditallocation
    FOR EACH ROW EXECUTE FUNCTION ledger_credit_allocation_check();
