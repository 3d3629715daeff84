-- Webhooks (events/webhooks; docs/events/webhooks.md): what the database
-- refuses whoever writes.
--
-- * An attempt and an endpoint's change history are a record of what was
--   sent and who did what: never edited, never deleted.
-- * A delivery is marked delivered only by an attempt that was answered 2xx:
--   its last attempt (number = attempts) must be one. Its count of attempts
--   never goes down, so the record and the count agree.

CREATE OR REPLACE FUNCTION ledger_webhook_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: row % is kept as written', TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE OR REPLACE FUNCTION ledger_webhook_delivery_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.attempts < OLD.attempts THEN
        RAISE EXCEPTION 'delivery %: its attempts (%) cannot go back to %', NEW.id, OLD.attempts, NEW.attempts
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status = 'delivered' AND (TG_OP = 'INSERT' OR OLD.status <> 'delivered' OR OLD.attempts <> NEW.attempts)
       AND NOT EXISTS (SELECT 1 FROM webhooks_attempt a
                        WHERE a.delivery_id = NEW.id AND a.number = NEW.attempts AND a.ok) THEN
        RAISE EXCEPTION 'delivery % is delivered only by an attempt answered 2xx, and its attempt % was not',
            NEW.id, NEW.attempts
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS webhook_attempt_append_only ON webhooks_attempt;
CREATE TRIGGER webhook_attempt_append_only BEFORE UPDATE OR DELETE ON webhooks_attempt
    FOR EACH ROW EXECUTE FUNCTION ledger_webhook_append_only();
DROP TRIGGER IF EXISTS webhook_change_append_only ON webhooks_endpointchange;
CREATE TRIGGER webhook_change_append_only BEFORE UPDATE OR DELETE ON webhooks_endpointchange
    FOR EACH ROW EXECUTE FUNCTION ledger_webhook_append_only();
DROP TRIGGER IF EXISTS webhook_delivery_guard ON webhooks_delivery;
CREATE TRIGGER webhook_delivery_guard BEFORE INSERT OR UPDATE ON webhooks_delivery
    FOR EACH ROW EXECUTE FUNCTION ledger_webhook_delivery_guard();
