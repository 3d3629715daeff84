-- What the database refuses on the ledger's tables, whoever writes (issue
-- 18, section 1; docs/operations.md, "What the database refuses"). Plain
-- triggers: nothing here asks a setting whether to run (django-pgtrigger's
-- triggers asked pgtrigger.ignore, which any role may set). Switching one
-- off takes the owner role (ALTER TABLE ... DISABLE TRIGGER), which no
-- runtime connection has (manage.py ledger_runtime_role).
-- Each trigger is dropped and created again, so running the file twice is
-- harmless (a constraint trigger has no CREATE OR REPLACE).

-- Append-only and never-deleted rows, on every app's tables. TG_ARGV[0]
-- says what is refused ('update or delete', 'delete').
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'Cannot % rows from % table (%)', TG_ARGV[0], TG_TABLE_NAME, TG_NAME
        USING ERRCODE = 'restrict_violation';
END $$;

-- A posting has at least two entries, at COMMIT.
CREATE OR REPLACE FUNCTION ledger_posting_has_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT COUNT(*) FROM postings_entry e WHERE e.posting_id = NEW.serial_no) < 2 THEN
        RAISE EXCEPTION 'posting % has fewer than two entries', NEW.serial_no
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

-- The one UPDATE an entry may see: a pending buffered leg gets its place in
-- the account's chain. Everything the caller posted stays as it was.
CREATE OR REPLACE FUNCTION ledger_entry_applied_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.account_seq IS NOT NULL
       OR NEW.account_seq IS NULL
       OR (NEW.serial_no, NEW.posting_id, NEW.account_id, NEW.direction, NEW.amount, NEW.currency,
           NEW.business_type, NEW.accounting_date, NEW.created_at)
          IS DISTINCT FROM
          (OLD.serial_no, OLD.posting_id, OLD.account_id, OLD.direction, OLD.amount, OLD.currency,
           OLD.business_type, OLD.accounting_date, OLD.created_at)
    THEN
        RAISE EXCEPTION 'entry % is append-only: only a pending buffered entry may be applied, once',
            OLD.serial_no USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

-- When a statement that inserts or applies entries ends, over its rows (a
-- transition table), one query per check instead of a check per row: a
-- batch of 100 postings costs two queries, not 400.
--
-- On INSERT, every posting the rows belong to balances per currency (all
-- of its entries, so a leg added later is checked with the others). Then,
-- on INSERT and on the flush's UPDATE, each row's place in its account:
-- * pending (account_seq NULL) only on a buffered account, whose flush
--   applies it; on any other account nothing ever would;
-- * inserted applied only on an account that is not buffered: a buffered
--   account's entries are numbered by its flush alone;
-- * applied: it continues the account's chain. The entry before it (seq - 1,
--   by the (account, account_seq) unique index; entries of the same
--   statement included, so several legs of one account in one posting, or a
--   flush batch, chain on each other) exists and left the balance it starts
--   from (the first starts from 0), and it moves the balance by its amount on
--   the account's normal side (debit for assets, credit for the rest);
--   and it has its hash (entry_hash.sql), which it lacks only when the
--   statement wrote the entry before it afterwards. An applied pending entry
--   brings its hash with the UPDATE (ledger_entries_apply): here, when every
--   row of the statement is visible, it must be the digest of its content
--   and the previous entry's hash, as the row trigger computes on insert.
-- With the unique index, seq - 1 existing means the sequence has no gap.
CREATE OR REPLACE FUNCTION ledger_entries_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT n.posting_id, s.currency, s.debits, s.credits
          INTO bad
          FROM (SELECT DISTINCT posting_id FROM new_entries) AS n
         CROSS JOIN LATERAL (
               SELECT e.currency,
                      SUM(CASE WHEN e.direction = 'D' THEN e.amount ELSE 0 END) AS debits,
                      SUM(CASE WHEN e.direction = 'C' THEN e.amount ELSE 0 END) AS credits
                 FROM postings_entry e
                WHERE e.posting_id = n.posting_id
                GROUP BY e.currency) AS s
         WHERE s.debits <> s.credits
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'unbalanced posting %: % debits % <> credits %',
                bad.posting_id, bad.currency, bad.debits, bad.credits
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;

    SELECT n.serial_no, n.account_seq, n.balance_before, n.balance_after, a.account_no, a.posting_mode,
           CASE WHEN n.account_seq = 1 THEN 0 ELSE p.balance_after END AS start,
           n.balance_before + CASE WHEN n.direction = (CASE WHEN a.category = 'asset' THEN 'D' ELSE 'C' END)
                                   THEN n.amount ELSE -n.amount END AS moved
      INTO bad
      FROM new_entries n
      JOIN accounts_account a ON a.id = n.account_id
      LEFT JOIN postings_entry p ON p.account_id = n.account_id AND p.account_seq = n.account_seq - 1
     WHERE CASE WHEN n.account_seq IS NULL THEN a.posting_mode <> 'buffered'
                WHEN TG_OP = 'INSERT' AND a.posting_mode = 'buffered' THEN true
                ELSE n.account_seq < 1
                     OR n.balance_before IS DISTINCT FROM (CASE WHEN n.account_seq = 1 THEN 0 ELSE p.balance_after END)
                     OR n.balance_after <> n.balance_before
                                           + CASE WHEN n.direction = (CASE WHEN a.category = 'asset' THEN 'D' ELSE 'C' END)
                                                  THEN n.amount ELSE -n.amount END
                     OR n.entry_hash IS NULL
                     OR (TG_OP = 'UPDATE'
                         AND n.entry_hash IS DISTINCT FROM ledger_entry_digest(
                                 n, CASE WHEN n.account_seq = 1 OR p.entry_hash IS NULL
                                         THEN '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
                                         ELSE p.entry_hash END))
           END
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    ELSIF bad.account_seq IS NULL THEN
        -- Named, with the account in DETAIL: a posting that read the account
        -- as buffered just before a switch to real-time committed lands here,
        -- and the posting service tries it again (postings.services.idempotency).
        RAISE EXCEPTION 'entry % is pending on account %, which is not buffered', bad.serial_no, bad.account_no
            USING ERRCODE = 'check_violation', CONSTRAINT = 'entry_follows_posting_mode', DETAIL = bad.account_no;
    ELSIF TG_OP = 'INSERT' AND bad.posting_mode = 'buffered' THEN
        RAISE EXCEPTION 'entry % is applied, but account % is buffered: its entries are written pending',
            bad.serial_no, bad.account_no
            USING ERRCODE = 'check_violation', CONSTRAINT = 'entry_follows_posting_mode', DETAIL = bad.account_no;
    ELSIF bad.start IS NULL THEN
        RAISE EXCEPTION 'entry % on account % (seq %) does not continue the account''s chain: no entry % before it',
            bad.serial_no, bad.account_no, bad.account_seq, bad.account_seq - 1 USING ERRCODE = 'check_violation';
    ELSIF bad.balance_before <> bad.start THEN
        RAISE EXCEPTION 'entry % on account % (seq %) does not continue the account''s chain: balance before % <> %',
            bad.serial_no, bad.account_no, bad.account_seq, bad.balance_before, bad.start
            USING ERRCODE = 'check_violation';
    ELSIF bad.balance_after <> bad.moved THEN
        RAISE EXCEPTION 'entry % on account % (seq %) does not continue the account''s chain: balance after % <> %',
            bad.serial_no, bad.account_no, bad.account_seq, bad.balance_after, bad.moved
            USING ERRCODE = 'check_violation';
    ELSIF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'entry % on account % (seq %) does not continue the account''s chain: applied with a missing or wrong hash (not sha256 of its content and the previous entry''s hash)',
            bad.serial_no, bad.account_no, bad.account_seq USING ERRCODE = 'check_violation';
    ELSE
        RAISE EXCEPTION 'entry % on account % (seq %) does not continue the account''s chain: written before entry % it follows, it has no hash',
            bad.serial_no, bad.account_no, bad.account_seq, bad.account_seq - 1 USING ERRCODE = 'check_violation';
    END IF;
END $$;

DROP TRIGGER IF EXISTS posting_append_only ON postings_posting;
CREATE TRIGGER posting_append_only BEFORE UPDATE OR DELETE ON postings_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS posting_has_entries ON postings_posting;
CREATE CONSTRAINT TRIGGER posting_has_entries AFTER INSERT ON postings_posting
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_posting_has_entries();

DROP TRIGGER IF EXISTS entry_append_only ON postings_entry;
CREATE TRIGGER entry_append_only BEFORE DELETE ON postings_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('delete');
DROP TRIGGER IF EXISTS entry_applied_once ON postings_entry;
CREATE TRIGGER entry_applied_once BEFORE UPDATE ON postings_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_applied_once();
DROP TRIGGER IF EXISTS entries_balanced_and_chained ON postings_entry;
CREATE TRIGGER entries_balanced_and_chained AFTER INSERT ON postings_entry
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_check();
DROP TRIGGER IF EXISTS entries_applied_in_chain ON postings_entry;
CREATE TRIGGER entries_applied_in_chain AFTER UPDATE ON postings_entry
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_check();

DROP TRIGGER IF EXISTS hold_never_deleted ON postings_hold;
CREATE TRIGGER hold_never_deleted BEFORE DELETE ON postings_hold
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('delete');
DROP TRIGGER IF EXISTS hold_event_append_only ON postings_holdevent;
CREATE TRIGGER hold_event_append_only BEFORE UPDATE OR DELETE ON postings_holdevent
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');

DROP TRIGGER IF EXISTS account_never_deleted ON accounts_account;
CREATE TRIGGER account_never_deleted BEFORE DELETE ON accounts_account
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('delete');
DROP TRIGGER IF EXISTS status_change_append_only ON accounts_accountstatuschange;
CREATE TRIGGER status_change_append_only BEFORE UPDATE OR DELETE ON accounts_accountstatuschange
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS posting_mode_change_append_only ON accounts_accountpostingmodechange;
CREATE TRIGGER posting_mode_change_append_only BEFORE UPDATE OR DELETE ON accounts_accountpostingmodechange
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
