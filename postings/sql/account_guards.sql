-- What an account's balance and frozen amount, and a hold's remaining amount
-- and status, must agree with (issue 18, section 1): checked by PostgreSQL at
-- COMMIT for every row a transaction changed, whoever wrote it, and by the end
-- of day for every account and hold (reports/eod/checks.py), through the same
-- three functions. Each returns NULL, or what is wrong in words.
--
-- * ledger_balance_drift: the balance is the balance after of the account's
--   latest applied entry, the one numbered entry_seq (0 and no applied entry
--   before the first). Pending entries (a buffered account's legs before the
--   flush: account_seq NULL) are not in the balance yet.
-- * ledger_frozen_drift: the frozen amount is the sum of what the account's
--   active holds have remaining. Not the latest entry's frozen_after: placing
--   and releasing a hold change frozen without an entry, so an entry's
--   frozen_before/after only say what frozen was when it was posted.
-- * ledger_hold_drift: a hold moves only with its events. One freeze event
--   first, of the hold's amount; remaining = amount - settled - released and
--   expired (a release or expire event carries the amount it handed back);
--   the status agrees with the events: held (only freeze and partial
--   releases: a partial release leaves a hold held), partially_settled (some
--   settlement, something left), settled / released / expired (nothing left,
--   and that is the last event's kind).
--
-- The triggers are deferred constraint triggers: a service writes the account,
-- the hold and its event in several statements of one transaction, and the
-- rows agree when it commits. Each check reads the rows as they are then, not
-- the version its UPDATE wrote: a transaction may update a row several times.
-- Plain SQL, not django-pgtrigger: any role may SET pgtrigger.ignore, which
-- switches a pgtrigger trigger off; only a table's owner or a superuser can
-- switch these off (docs/operations.md, "What a superuser can still do").
--
-- The active statuses ('held', 'partially_settled') are postings.models'
-- ACTIVE_HOLD_STATUSES, as in the hold_active_account_idx index the frozen
-- check reads.

CREATE OR REPLACE FUNCTION ledger_balance_drift(p_account bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    acct record;
    latest record;
BEGIN
    SELECT a.balance, a.entry_seq INTO acct FROM accounts_account a WHERE a.id = p_account;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF acct.entry_seq < 0 THEN
        RETURN format('entry_seq %s is negative', acct.entry_seq);
    END IF;
    -- One probe of entry_unique_account_seq, from the top: the latest applied
    -- entry, if it is entry_seq or later (pending entries have no account_seq).
    SELECT e.account_seq, e.balance_after INTO latest
      FROM postings_entry e
     WHERE e.account_id = p_account AND e.account_seq >= acct.entry_seq
     ORDER BY e.account_seq DESC
     LIMIT 1;
    IF NOT FOUND THEN
        IF acct.entry_seq = 0 THEN
            IF acct.balance <> 0 THEN
                RETURN format('balance %s without an applied entry', acct.balance);
            END IF;
            RETURN NULL;
        END IF;
        RETURN format('entry_seq %s but no applied entry %s', acct.entry_seq, acct.entry_seq);
    END IF;
    IF latest.account_seq <> acct.entry_seq THEN
        RETURN format('entry_seq %s but entry %s is applied', acct.entry_seq, latest.account_seq);
    END IF;
    IF latest.balance_after <> acct.balance THEN
        RETURN format('balance %s != balance after %s of entry %s', acct.balance, latest.balance_after,
                      latest.account_seq);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ledger_frozen_drift(p_account bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    frozen numeric;
    held numeric;
BEGIN
    SELECT a.frozen INTO frozen FROM accounts_account a WHERE a.id = p_account;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(sum(h.remaining), 0.0000) INTO held
      FROM postings_hold h
     WHERE h.account_id = p_account AND h.status IN ('held', 'partially_settled');
    IF frozen <> held THEN
        RETURN format('frozen %s != %s remaining on active holds', frozen, held);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ledger_hold_drift(p_hold bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    h record;
    ev record;
    expected numeric;
    agrees boolean;
BEGIN
    SELECT x.amount, x.remaining, x.status INTO h FROM postings_hold x WHERE x.id = p_hold;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT count(*) FILTER (WHERE e.kind = 'freeze') AS freezes,
           coalesce(sum(e.amount) FILTER (WHERE e.kind = 'freeze'), 0.0000) AS frozen,
           count(*) FILTER (WHERE e.kind = 'settle') AS settles,
           coalesce(sum(e.amount) FILTER (WHERE e.kind = 'settle'), 0.0000) AS settled,
           coalesce(sum(e.amount) FILTER (WHERE e.kind IN ('release', 'expire')), 0.0000) AS released,
           (array_agg(e.kind ORDER BY e.id))[1] AS first_kind,
           (array_agg(e.kind ORDER BY e.id DESC))[1] AS last_kind
      INTO ev
      FROM postings_holdevent e
     WHERE e.hold_id = p_hold;
    IF ev.freezes <> 1 OR ev.first_kind <> 'freeze' OR ev.frozen <> h.amount THEN
        RETURN format('amount %s but %s freeze events of %s, the first event %s', h.amount, ev.freezes, ev.frozen,
                      coalesce(ev.first_kind, 'none'));
    END IF;
    expected := h.amount - ev.settled - ev.released;
    IF h.remaining <> expected THEN
        RETURN format('remaining %s != amount %s - settled %s - released %s', h.remaining, h.amount, ev.settled,
                      ev.released);
    END IF;
    agrees := CASE h.status
        WHEN 'held' THEN ev.settles = 0 AND h.remaining > 0 AND ev.last_kind IN ('freeze', 'release')
        WHEN 'partially_settled' THEN ev.settles > 0 AND h.remaining > 0 AND ev.last_kind IN ('settle', 'release')
        WHEN 'settled' THEN h.remaining = 0 AND ev.last_kind = 'settle'
        WHEN 'released' THEN h.remaining = 0 AND ev.last_kind = 'release'
        WHEN 'expired' THEN h.remaining = 0 AND ev.last_kind = 'expire'
        ELSE false
    END;
    IF NOT agrees THEN
        RETURN format('status %s but %s settlements, remaining %s and the last event %s', h.status, ev.settles,
                      h.remaining, ev.last_kind);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ledger_account_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    problem text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        problem := ledger_balance_drift(NEW.id);
    ELSIF OLD.balance IS DISTINCT FROM NEW.balance OR OLD.entry_seq IS DISTINCT FROM NEW.entry_seq THEN
        problem := ledger_balance_drift(NEW.id);
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'account_balance_is_last_entry: account %: %', NEW.account_no, problem
              USING ERRCODE = 'check_violation', CONSTRAINT = 'account_balance_is_last_entry';
    END IF;
    IF TG_OP = 'INSERT' THEN
        problem := ledger_frozen_drift(NEW.id);
    ELSIF OLD.frozen IS DISTINCT FROM NEW.frozen THEN
        problem := ledger_frozen_drift(NEW.id);
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'account_frozen_is_active_holds: account %: %', NEW.account_no, problem
              USING ERRCODE = 'check_violation', CONSTRAINT = 'account_frozen_is_active_holds';
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ledger_hold_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    problem text := ledger_hold_drift(NEW.id);
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'hold_follows_its_events: hold %: %', NEW.id, problem
              USING ERRCODE = 'check_violation', CONSTRAINT = 'hold_follows_its_events';
    END IF;
    problem := ledger_frozen_drift(NEW.account_id);
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'account_frozen_is_active_holds: hold %: %', NEW.id, problem
              USING ERRCODE = 'check_violation', CONSTRAINT = 'account_frozen_is_active_holds';
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ledger_hold_event_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    problem text := ledger_hold_drift(NEW.hold_id);
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'hold_follows_its_events: hold %: %', NEW.hold_id, problem
              USING ERRCODE = 'check_violation', CONSTRAINT = 'hold_follows_its_events';
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ledger_hold_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hold_amount_and_account_fixed: hold % keeps amount % on account %', OLD.id, OLD.amount,
          OLD.account_id
          USING ERRCODE = 'check_violation', CONSTRAINT = 'hold_amount_and_account_fixed';
END $$;

-- Constraint triggers have no CREATE OR REPLACE: dropped and created again,
-- so that loading this file twice is harmless.
DROP TRIGGER IF EXISTS account_guard_insert ON accounts_account;
CREATE CONSTRAINT TRIGGER account_guard_insert AFTER INSERT ON accounts_account
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_account_guard();

-- An UPDATE that leaves the three alone queues nothing (a renamed account, a
-- status change); ledger_balances_write always sets all three.
DROP TRIGGER IF EXISTS account_guard_update ON accounts_account;
CREATE CONSTRAINT TRIGGER account_guard_update AFTER UPDATE OF balance, entry_seq, frozen ON accounts_account
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.balance IS DISTINCT FROM NEW.balance OR OLD.entry_seq IS DISTINCT FROM NEW.entry_seq
          OR OLD.frozen IS DISTINCT FROM NEW.frozen)
    EXECUTE FUNCTION ledger_account_guard();

DROP TRIGGER IF EXISTS hold_guard_insert ON postings_hold;
CREATE CONSTRAINT TRIGGER hold_guard_insert AFTER INSERT ON postings_hold
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_hold_guard();

DROP TRIGGER IF EXISTS hold_guard_update ON postings_hold;
CREATE CONSTRAINT TRIGGER hold_guard_update AFTER UPDATE ON postings_hold
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.remaining IS DISTINCT FROM NEW.remaining OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION ledger_hold_guard();

-- An event added alone (a release nobody made) leaves its hold behind it.
DROP TRIGGER IF EXISTS hold_event_guard_insert ON postings_holdevent;
CREATE CONSTRAINT TRIGGER hold_event_guard_insert AFTER INSERT ON postings_holdevent
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_hold_event_guard();

CREATE OR REPLACE TRIGGER hold_amount_and_account_fixed BEFORE UPDATE OF amount, account_id ON postings_hold
    FOR EACH ROW WHEN (OLD.amount IS DISTINCT FROM NEW.amount OR OLD.account_id IS DISTINCT FROM NEW.account_id)
    EXECUTE FUNCTION ledger_hold_fixed();
