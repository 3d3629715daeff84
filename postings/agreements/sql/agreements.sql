-- What the database refuses about agreement debits (代扣, issue 21 section 1),
-- whoever writes: a posting of business type agreement_debit commits only
-- when a debit attempt of an agreement names it, and that agreement, when
-- the attempt was written, was active, covered the posting's day
-- (valid_from .. valid_to), had the payer on every debit leg and the payee on
-- every credit leg, and had room for it within its maximum per debit and,
-- summed with every other debit of the period, per period. An agreement's terms never change; its status moves
-- only along its history (sign, suspend, resume, revoke, expire), which is
-- append-only like the attempts. Plain triggers: no runtime role can switch
-- them off. The refusals open with the API's code (no_agreement,
-- agreement_limit_exceeded) so an operator reads them as the caller would.

-- The first day of the limit's period that p_day falls in (weeks start on
-- Monday). postings.agreements.selectors.period_start says the same in Python.
CREATE OR REPLACE FUNCTION ledger_agreement_period_start(p_period text, p_day date)
RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p_period
        WHEN 'day' THEN p_day
        WHEN 'week' THEN date_trunc('week', p_day)::date
        WHEN 'month' THEN date_trunc('month', p_day)::date
    END
$$;

-- At COMMIT, each agreement_debit posting (the trigger's WHEN: other
-- postings queue nothing) is named by a debit attempt of an agreement, whose
-- own check (below) ran when it was written. A red-ink correction (红冲 +
-- 蓝字) books its red and blue postings in the original's business type; the
-- correction covers them (corrections.sql).
CREATE OR REPLACE FUNCTION ledger_agreement_debit_linked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.reverses_id IS NOT NULL
       OR EXISTS (SELECT 1 FROM postings_correction c WHERE c.blue_posting_id = NEW.serial_no)
       OR EXISTS (SELECT 1 FROM agreements_debitattempt a WHERE a.posting_id = NEW.serial_no) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'no_agreement: posting % is an agreement debit that no agreement''s debit attempt names',
        NEW.serial_no USING ERRCODE = 'check_violation', CONSTRAINT = 'agreement_debit_covered';
END $$;

-- Each attempt that took money, when it is written (after its posting, in
-- the posting's transaction): the agreement covered the posting then. It
-- was active; the posting's day lay within its validity; every debit leg was
-- on its payer and every credit leg on its payee, in its currency; the
-- posting settled the attempt's hold, placed on the payer (hold -> settle);
-- the attempt states the posting's amount, day and period; and the amount
-- was within the maximum per debit and, with every other debit of the
-- period, per period. The agreement's row is locked first (FOR NO KEY
-- UPDATE, as the debit service locks it), so two debits of one agreement
-- are checked one after the other, and under READ COMMITTED the period's sum
-- (a new snapshot per statement) counts the one that committed first;
-- REPEATABLE READ could miss it, so it is refused.
CREATE OR REPLACE FUNCTION ledger_agreement_attempt_covered() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p record;
    ag record;
    strays integer;
    debits numeric;
    in_period numeric;
BEGIN
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'agreement debits are not written under REPEATABLE READ: the period''s sum could miss a concurrent debit'
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT * INTO ag FROM agreements_agreement g WHERE g.id = NEW.agreement_id FOR NO KEY UPDATE;
    SELECT * INTO p FROM postings_posting x WHERE x.serial_no = NEW.posting_id;
    IF p.business_type <> 'agreement_debit' THEN
        RAISE EXCEPTION 'debit attempt %: posting % is a %, not an agreement debit', NEW.id, p.serial_no,
            p.business_type USING ERRCODE = 'check_violation', CONSTRAINT = 'agreement_debit_covered';
    END IF;
    IF ag.status <> 'active' THEN
        RAISE EXCEPTION 'no_agreement: posting % debits under agreement %, which is %', p.serial_no, ag.id, ag.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'agreement_debit_covered';
    END IF;
    IF p.accounting_date < ag.valid_from OR p.accounting_date > ag.valid_to THEN
        RAISE EXCEPTION 'no_agreement: posting % is dated %, outside agreement %''s validity % .. %',
            p.serial_no, p.accounting_date, ag.id, ag.valid_from, coalesce(ag.valid_to::text, '')
            USING ERRCODE = 'check_violation', CONSTRAINT = 'agreement_debit_covered';
    END IF;
    SELECT count(*) FILTER (WHERE (e.direction = 'D' AND e.account_id <> ag.payer_account_id)
                               OR (e.direction = 'C' AND e.account_id <> ag.payee_account_id)
                               OR e.currency <> ag.currency),
           sum(e.amount) FILTER (WHERE e.direction = 'D')
      INTO strays, debits
      FROM postings_entry e WHERE e.posting_id = p.serial_no;
    IF strays > 0 THEN
        RAISE EXCEPTION 'no_agreement: posting % moves money between other accounts than agreement %''s payer and payee',
            p.serial_no, ag.id USING ERRCODE = 'check_violation', CONSTRAINT = 'agreement_debit_covered';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM postings_holdevent ev JOIN postings_hold h ON h.id = ev.hold_id
                    WHERE ev.hold_id = NEW.hold_id AND ev.kind = 'settle' AND ev.posting_id = p.serial_no
                      AND h.account_id = ag.payer_account_id) THEN
        RAISE EXCEPTION 'debit attempt %: posting % does not settle its hold % on agreement %''s payer',
            NEW.id, p.serial_no, NEW.hold_id, ag.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'agreement_debit_covered';
    END IF;
    IF debits IS DISTINCT FROM NEW.amount_taken OR NEW.accounting_date IS DISTINCT FROM p.accounting_date
       OR NEW.period_start IS DISTINCT FROM ledger_agreement_period_start(ag.limit_period, p.accounting_date) THEN
        RAISE EXCEPTION 'debit attempt % says % taken on % (period from %), but its posting % debits % on %',
            NEW.id, NEW.amount_taken, NEW.accounting_date, NEW.period_start, p.serial_no, debits, p.accounting_date
            USING ERRCODE = 'check_violation', CONSTRAINT = 'agreement_debit_covered';
    END IF;
    IF debits > ag.max_per_debit THEN
        RAISE EXCEPTION 'agreement_limit_exceeded: posting % debits %, agreement % allows % per debit',
            p.serial_no, debits, ag.id, ag.max_per_debit
            USING ERRCODE = 'check_violation', CONSTRAINT = 'agreement_debit_covered';
    END IF;
    SELECT coalesce(sum(a.amount_taken), 0) INTO in_period FROM agreements_debitattempt a
     WHERE a.agreement_id = ag.id AND a.period_start = NEW.period_start AND a.posting_id IS NOT NULL;
    IF in_period > ag.max_per_period THEN
        RAISE EXCEPTION 'agreement_limit_exceeded: agreement % would take % in the % from %, it allows %',
            ag.id, in_period, ag.limit_period, NEW.period_start, ag.max_per_period
            USING ERRCODE = 'check_violation', CONSTRAINT = 'agreement_debit_covered';
    END IF;
    RETURN NULL;
END $$;

-- NULL, or what is wrong with instruction p_instruction: what it has taken
-- is the sum of its attempts.
CREATE OR REPLACE FUNCTION ledger_agreement_instruction_drift(p_instruction bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    i record;
    summed numeric;
BEGIN
    SELECT * INTO i FROM agreements_debitinstruction WHERE id = p_instruction;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(sum(a.amount_taken), 0) INTO summed FROM agreements_debitattempt a
     WHERE a.instruction_id = p_instruction;
    IF summed <> i.taken THEN
        RETURN format('instruction %s says %s taken, its attempts took %s', i.id, i.taken, summed);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ledger_agreement_instruction_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    this_id bigint;
    problem text;
BEGIN
    IF TG_TABLE_NAME = 'agreements_debitinstruction' THEN
        this_id := NEW.id;
    ELSE
        this_id := NEW.instruction_id;
    END IF;
    problem := ledger_agreement_instruction_drift(this_id);
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'instruction_follows_its_attempts: %', problem USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

-- What was agreed never changes; only the status (and updated_at) does, and
-- a revoked or expired agreement not at all.
CREATE OR REPLACE FUNCTION ledger_agreement_terms_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('revoked', 'expired')
       OR (NEW.id, NEW.agreement_no, NEW.source_system, NEW.request_no, NEW.fingerprint, NEW.entity_id, NEW.currency,
           NEW.payer_account_id, NEW.payee_account_id, NEW.purpose, NEW.max_per_debit, NEW.max_per_period,
           NEW.limit_period, NEW.frequency, NEW.schedule_day, NEW.scheduled_amount, NEW.allow_partial,
           NEW.retry_every_days, NEW.max_retries, NEW.valid_from, NEW.valid_to, NEW.signed_by, NEW.created_at)
          IS DISTINCT FROM
          (OLD.id, OLD.agreement_no, OLD.source_system, OLD.request_no, OLD.fingerprint, OLD.entity_id, OLD.currency,
           OLD.payer_account_id, OLD.payee_account_id, OLD.purpose, OLD.max_per_debit, OLD.max_per_period,
           OLD.limit_period, OLD.frequency, OLD.schedule_day, OLD.scheduled_amount, OLD.allow_partial,
           OLD.retry_every_days, OLD.max_retries, OLD.valid_from, OLD.valid_to, OLD.signed_by, OLD.created_at)
    THEN
        RAISE EXCEPTION 'agreement % is fixed: only an active or suspended agreement''s status changes, by its history',
            OLD.id USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

-- Each history row is a step the agreement may take from the status it has,
-- with a reason for a suspension or a revocation.
CREATE OR REPLACE FUNCTION ledger_agreement_event_step() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current_status text;
BEGIN
    SELECT g.status INTO current_status FROM agreements_agreement g WHERE g.id = NEW.agreement_id FOR NO KEY UPDATE;
    IF NEW.kind = 'sign' THEN
        IF NEW.from_status <> '' OR NEW.to_status <> 'active'
           OR EXISTS (SELECT 1 FROM agreements_agreementevent e WHERE e.agreement_id = NEW.agreement_id) THEN
            RAISE EXCEPTION 'agreement %: signing is its first step, to active', NEW.agreement_id
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.from_status IS DISTINCT FROM current_status OR NOT (
           (NEW.kind = 'suspend' AND current_status = 'active' AND NEW.to_status = 'suspended')
        OR (NEW.kind = 'resume' AND current_status = 'suspended' AND NEW.to_status = 'active')
        OR (NEW.kind = 'revoke' AND current_status IN ('active', 'suspended') AND NEW.to_status = 'revoked')
        OR (NEW.kind = 'expire' AND current_status IN ('active', 'suspended') AND NEW.to_status = 'expired')) THEN
        RAISE EXCEPTION 'agreement %: % from % to % on an agreement that is %', NEW.agreement_id, NEW.kind,
            NEW.from_status, NEW.to_status, current_status USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.kind IN ('suspend', 'revoke') AND btrim(NEW.reason) = '' THEN
        RAISE EXCEPTION 'agreement %: a % needs a reason', NEW.agreement_id, NEW.kind USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

-- At COMMIT: the agreement's status is where its last history row left it
-- (so no status changes without its row, who and why).
CREATE OR REPLACE FUNCTION ledger_agreement_follows_its_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    this_id bigint;
    st text;
    last_to text;
BEGIN
    IF TG_TABLE_NAME = 'agreements_agreement' THEN
        this_id := NEW.id;
    ELSE
        this_id := NEW.agreement_id;
    END IF;
    SELECT g.status INTO st FROM agreements_agreement g WHERE g.id = this_id;
    SELECT e.to_status INTO last_to FROM agreements_agreementevent e
     WHERE e.agreement_id = this_id ORDER BY e.id DESC LIMIT 1;
    IF last_to IS DISTINCT FROM st THEN
        RAISE EXCEPTION 'agreement_follows_its_events: agreement % is %, its last history row leaves it %',
            this_id, st, coalesce(last_to, '(no history)') USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS agreement_debit_linked ON postings_posting;
CREATE CONSTRAINT TRIGGER agreement_debit_linked AFTER INSERT ON postings_posting
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.business_type = 'agreement_debit')
    EXECUTE FUNCTION ledger_agreement_debit_linked();
DROP TRIGGER IF EXISTS agreement_attempt_covered ON agreements_debitattempt;
CREATE TRIGGER agreement_attempt_covered AFTER INSERT ON agreements_debitattempt
    FOR EACH ROW WHEN (NEW.posting_id IS NOT NULL) EXECUTE FUNCTION ledger_agreement_attempt_covered();
DROP TRIGGER IF EXISTS agreement_attempt_append_only ON agreements_debitattempt;
CREATE TRIGGER agreement_attempt_append_only BEFORE UPDATE OR DELETE ON agreements_debitattempt
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS agreement_instruction_guard ON agreements_debitinstruction;
CREATE CONSTRAINT TRIGGER agreement_instruction_guard AFTER INSERT OR UPDATE ON agreements_debitinstruction
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_agreement_instruction_guard();
DROP TRIGGER IF EXISTS agreement_attempt_instruction_guard ON agreements_debitattempt;
CREATE CONSTRAINT TRIGGER agreement_attempt_instruction_guard AFTER INSERT ON agreements_debitattempt
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.instruction_id IS NOT NULL)
    EXECUTE FUNCTION ledger_agreement_instruction_guard();
DROP TRIGGER IF EXISTS agreement_instruction_never_deleted ON agreements_debitinstruction;
CREATE TRIGGER agreement_instruction_never_deleted BEFORE DELETE ON agreements_debitinstruction
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('delete');
DROP TRIGGER IF EXISTS agreement_terms_fixed ON agreements_agreement;
CREATE TRIGGER agreement_terms_fixed BEFORE UPDATE ON agreements_agreement
    FOR EACH ROW EXECUTE FUNCTION ledger_agreement_terms_fixed();
DROP TRIGGER IF EXISTS agreement_never_deleted ON agreements_agreement;
CREATE TRIGGER agreement_never_deleted BEFORE DELETE ON agreements_agreement
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('delete');
DROP TRIGGER IF EXISTS agreement_follows_its_events ON agreements_agreement;
CREATE CONSTRAINT TRIGGER agreement_follows_its_events AFTER INSERT OR UPDATE ON agreements_agreement
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_agreement_follows_its_events();
DROP TRIGGER IF EXISTS agreement_event_follows ON agreements_agreementevent;
CREATE CONSTRAINT TRIGGER agreement_event_follows AFTER INSERT ON agreements_agreementevent
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_agreement_follows_its_events();
DROP TRIGGER IF EXISTS agreement_event_step ON agreements_agreementevent;
CREATE TRIGGER agreement_event_step BEFORE INSERT ON agreements_agreementevent
    FOR EACH ROW EXECUTE FUNCTION ledger_agreement_event_step();
DROP TRIGGER IF EXISTS agreement_event_append_only ON agreements_agreementevent;
CREATE TRIGGER agreement_event_append_only BEFORE UPDATE OR DELETE ON agreements_agreementevent
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
