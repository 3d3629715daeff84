-- What the database refuses on withdrawals, whoever writes (issue 18,
-- section 1; docs/operations.md, "What the database refuses"). Plain
-- triggers, none of which a setting switches off; ledger_refuse_change()
-- is postings/sql/guards.sql's. Each trigger is dropped and created again,
-- so running the file twice is harmless.

-- What a member asked for is fixed at the request: the amount, the fee, the
-- card, whose money and which hold. A paid withdrawal's settlement, once
-- recorded, stays. A row is inserted requested: any other status is reached
-- through transitions, each with its history row (below).
CREATE OR REPLACE FUNCTION withdrawal_fixed_at_request() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'requested' THEN
            RAISE EXCEPTION 'withdrawal % is inserted %: a withdrawal starts requested', NEW.id, NEW.status
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END IF;
    SELECT string_agg(f.name, ', ') INTO changed
      FROM (VALUES ('source_system', NEW.source_system IS DISTINCT FROM OLD.source_system),
                   ('request_no', NEW.request_no IS DISTINCT FROM OLD.request_no),
                   ('fingerprint', NEW.fingerprint IS DISTINCT FROM OLD.fingerprint),
                   ('account_id', NEW.account_id IS DISTINCT FROM OLD.account_id),
                   ('member_id', NEW.member_id IS DISTINCT FROM OLD.member_id),
                   ('entity_id', NEW.entity_id IS DISTINCT FROM OLD.entity_id),
                   ('currency', NEW.currency IS DISTINCT FROM OLD.currency),
                   ('amount', NEW.amount IS DISTINCT FROM OLD.amount),
                   ('fee', NEW.fee IS DISTINCT FROM OLD.fee),
                   ('fee_rule_id', NEW.fee_rule_id IS DISTINCT FROM OLD.fee_rule_id),
                   ('fee_rule_version', NEW.fee_rule_version IS DISTINCT FROM OLD.fee_rule_version),
                   ('card_holder', NEW.card_holder IS DISTINCT FROM OLD.card_holder),
                   ('card_bank', NEW.card_bank IS DISTINCT FROM OLD.card_bank),
                   ('card_number', NEW.card_number IS DISTINCT FROM OLD.card_number),
                   ('card_masked', NEW.card_masked IS DISTINCT FROM OLD.card_masked),
                   ('hold_id', NEW.hold_id IS DISTINCT FROM OLD.hold_id),
                   ('created_by_id', NEW.created_by_id IS DISTINCT FROM OLD.created_by_id),
                   ('created_at', NEW.created_at IS DISTINCT FROM OLD.created_at),
                   ('settlement_id', OLD.settlement_id IS NOT NULL
                                     AND NEW.settlement_id IS DISTINCT FROM OLD.settlement_id)) AS f(name, differs)
     WHERE f.differs;
    IF changed IS NOT NULL THEN
        RAISE EXCEPTION 'withdrawal %: % fixed at request, never edited', OLD.id, changed
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

-- At COMMIT, a withdrawal whose status changed (or that was inserted) has
-- the history of it: a WithdrawalEvent from the old status to the new one,
-- and its newest event ends at the status it has now. transition() writes
-- the UPDATE and then the event; either order commits. Several moves in one
-- transaction are each checked against the history as it is at COMMIT.
CREATE OR REPLACE FUNCTION withdrawal_status_has_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    now_status text;
    newest text;
    v_from text := CASE WHEN TG_OP = 'INSERT' THEN '' ELSE OLD.status END;
BEGIN
    SELECT w.status INTO now_status FROM withdrawals_withdrawal w WHERE w.id = NEW.id;
    SELECT e.to_status INTO newest FROM withdrawals_withdrawalevent e
     WHERE e.withdrawal_id = NEW.id ORDER BY e.id DESC LIMIT 1;
    IF newest IS DISTINCT FROM now_status
       OR NOT EXISTS (SELECT FROM withdrawals_withdrawalevent e
                       WHERE e.withdrawal_id = NEW.id AND e.from_status = v_from
                         AND e.to_status = NEW.status) THEN
        RAISE EXCEPTION 'withdrawal %: % -> % without its history row (its newest event ends at %)',
            NEW.id, coalesce(nullif(v_from, ''), 'new'), NEW.status, coalesce(newest, 'none')
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

-- A payout instruction names what the bank was asked to pay (which
-- withdrawal, through which bank, which attempt, under which number, sent
-- by whom) and, once it answers, what it answered: neither is edited.
CREATE OR REPLACE FUNCTION payout_instruction_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.instruction_no, NEW.withdrawal_id, NEW.bank_id, NEW.attempt, NEW.sent_by)
       IS DISTINCT FROM (OLD.instruction_no, OLD.withdrawal_id, OLD.bank_id, OLD.attempt, OLD.sent_by)
       OR (OLD.status <> 'sent' AND NEW.status IS DISTINCT FROM OLD.status) THEN
        RAISE EXCEPTION 'payout instruction %: what was sent and the bank''s answer are never edited',
            OLD.instruction_no USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS withdrawal_fixed_at_request ON withdrawals_withdrawal;
CREATE TRIGGER withdrawal_fixed_at_request BEFORE INSERT OR UPDATE ON withdrawals_withdrawal
    FOR EACH ROW EXECUTE FUNCTION withdrawal_fixed_at_request();
DROP TRIGGER IF EXISTS withdrawal_never_deleted ON withdrawals_withdrawal;
CREATE TRIGGER withdrawal_never_deleted BEFORE DELETE ON withdrawals_withdrawal
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('delete');
DROP TRIGGER IF EXISTS withdrawal_requested_with_history ON withdrawals_withdrawal;
CREATE CONSTRAINT TRIGGER withdrawal_requested_with_history AFTER INSERT ON withdrawals_withdrawal
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION withdrawal_status_has_history();
DROP TRIGGER IF EXISTS withdrawal_status_has_history ON withdrawals_withdrawal;
CREATE CONSTRAINT TRIGGER withdrawal_status_has_history AFTER UPDATE OF status ON withdrawals_withdrawal
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION withdrawal_status_has_history();

DROP TRIGGER IF EXISTS withdrawal_event_append_only ON withdrawals_withdrawalevent;
CREATE TRIGGER withdrawal_event_append_only BEFORE UPDATE OR DELETE ON withdrawals_withdrawalevent
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS approval_append_only ON withdrawals_approval;
CREATE TRIGGER approval_append_only BEFORE UPDATE OR DELETE ON withdrawals_approval
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');

DROP TRIGGER IF EXISTS payout_instruction_fixed ON withdrawals_payoutinstruction;
CREATE TRIGGER payout_instruction_fixed BEFORE UPDATE ON withdrawals_payoutinstruction
    FOR EACH ROW EXECUTE FUNCTION payout_instruction_fixed();
DROP TRIGGER IF EXISTS payout_instruction_never_deleted ON withdrawals_payoutinstruction;
CREATE TRIGGER payout_instruction_never_deleted BEFORE DELETE ON withdrawals_payoutinstruction
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('delete');
