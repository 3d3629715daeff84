-- A credit line's limit (issue 21, section 2), for the database.
--
-- The limit may stand below what a line uses: lowered there on purpose (the
-- line then takes no new purchase), or passed by accrued interest and
-- penalty. So it is no CHECK of the account row any more: what must never
-- happen is a write that raises the use (balance + frozen) of a line above
-- its limit, other than an accrual. The posting functions refuse that with a
-- coded refusal (ledger_balance_refusal, posting_rules.sql); this deferred
-- trigger refuses it for any write at all, a statement typed by hand
-- included, reading the entries the transaction applied to the line:
--   * a debit entry that is not an accrual (ledger_accrues_beyond_limit)
--     leaving the use above the limit and higher than before it;
--   * frozen raised while the use is above the limit (a hold placed).
-- It fires only for a row that ends above its limit, so a posting within
-- the limit pays nothing for it.
CREATE OR REPLACE FUNCTION ledger_credit_limit_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    a record;
    raised record;
BEGIN
    -- The row as the transaction leaves it (it may have written it again since).
    SELECT x.account_no, x.balance, x.frozen, x.credit_limit, x.entry_seq INTO a
      FROM accounts_account x WHERE x.id = NEW.id;
    IF a.balance + a.frozen <= a.credit_limit THEN
        RETURN NULL;
    END IF;
    IF a.frozen > OLD.frozen THEN
        RAISE EXCEPTION 'account_within_credit_limit: account %: a hold raised frozen to % with % used against a limit of %',
              a.account_no, a.frozen, a.balance, a.credit_limit
              USING ERRCODE = 'check_violation', CONSTRAINT = 'account_within_credit_limit';
    END IF;
    SELECT e.account_seq, e.business_type, e.balance_after INTO raised
      FROM postings_entry e
     WHERE e.account_id = NEW.id AND e.account_seq > OLD.entry_seq AND e.account_seq <= a.entry_seq
       AND e.direction = 'D' AND NOT ledger_accrues_beyond_limit(e.business_type)
       AND e.balance_after + e.frozen_after > a.credit_limit
       AND e.balance_after + e.frozen_after > e.balance_before + e.frozen_before
     ORDER BY e.account_seq
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'account_within_credit_limit: account %: entry % (%) took the use to % against a limit of %',
              a.account_no, raised.account_seq, raised.business_type, raised.balance_after, a.credit_limit
              USING ERRCODE = 'check_violation', CONSTRAINT = 'account_within_credit_limit';
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS account_within_credit_limit ON accounts_account;
CREATE CONSTRAINT TRIGGER account_within_credit_limit AFTER UPDATE OF balance, frozen ON accounts_account
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.category = 'asset' AND NOT NEW.allow_negative AND NEW.balance + NEW.frozen > NEW.credit_limit)
    EXECUTE FUNCTION ledger_credit_limit_guard();

-- A limit's history is never rewritten.
CREATE OR REPLACE FUNCTION ledger_credit_limit_change_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credit_limit_change_append_only: the history of credit limits is never changed'
          USING ERRCODE = 'check_violation', CONSTRAINT = 'credit_limit_change_append_only';
END $$;

CREATE OR REPLACE TRIGGER credit_limit_change_append_only BEFORE UPDATE OR DELETE ON accounts_creditlimitchange
    FOR EACH ROW EXECUTE FUNCTION ledger_credit_limit_change_fixed();
