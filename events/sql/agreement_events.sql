-- The outbox's events of agreements (代扣协议, issue 21 section 1), written by
-- plain triggers in the transaction of the change (see events.sql for the
-- numbering): agreement.status_changed for each history row (signed, from no
-- status to active; suspended, resumed, revoked, expired) and
-- agreement.debit_attempted for each debit attempt, taken, partly taken or
-- refused. Both are versions of the agreement's aggregate, in order.

CREATE OR REPLACE FUNCTION ledger_agreement_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    g record;
BEGIN
    SELECT x.id, x.entity_id, x.agreement_no, x.source_system, x.request_no, x.currency, x.purpose,
           p.account_no AS payer_account_no, q.account_no AS payee_account_no
      INTO g
      FROM agreements_agreement x
      JOIN accounts_account p ON p.id = x.payer_account_id
      JOIN accounts_account q ON q.id = x.payee_account_id
     WHERE x.id = NEW.agreement_id;
    IF TG_TABLE_NAME = 'agreements_agreementevent' THEN
        PERFORM ledger_event_emit(
            'agreement.status_changed', g.entity_id, 'agreement', g.id,
            jsonb_build_object(
                'agreement_id', g.id, 'agreement_no', g.agreement_no, 'source_system', g.source_system,
                'request_no', g.request_no, 'payer_account_no', g.payer_account_no,
                'payee_account_no', g.payee_account_no, 'purpose', g.purpose, 'currency', g.currency,
                'kind', NEW.kind, 'from_status', nullif(NEW.from_status, ''), 'to_status', NEW.to_status,
                'reason', NEW.reason, 'actor', NEW.actor, 'step_source_system', NEW.source_system,
                'step_request_no', NEW.request_no, 'at', NEW.created_at));
    ELSE
        PERFORM ledger_event_emit(
            'agreement.debit_attempted', g.entity_id, 'agreement', g.id,
            jsonb_build_object(
                'attempt_id', NEW.id, 'agreement_id', g.id, 'agreement_no', g.agreement_no,
                'payer_account_no', g.payer_account_no, 'payee_account_no', g.payee_account_no,
                'currency', g.currency, 'instruction_id', NEW.instruction_id, 'source_system', NEW.source_system,
                'request_no', NEW.request_no, 'purpose', NEW.purpose, 'amount_asked', NEW.amount_asked::text,
                'amount_taken', NEW.amount_taken::text, 'outcome', NEW.outcome, 'code', NEW.code,
                'message', NEW.message, 'hold', NEW.hold_id, 'posting', NEW.posting_id,
                'accounting_date', NEW.accounting_date, 'actor', NEW.actor, 'at', NEW.created_at));
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS agreement_status_events ON agreements_agreementevent;
CREATE TRIGGER agreement_status_events AFTER INSERT ON agreements_agreementevent
    FOR EACH ROW EXECUTE FUNCTION ledger_agreement_events();
DROP TRIGGER IF EXISTS agreement_attempt_events ON agreements_debitattempt;
CREATE TRIGGER agreement_attempt_events AFTER INSERT ON agreements_debitattempt
    FOR EACH ROW EXECUTE FUNCTION ledger_agreement_events();
