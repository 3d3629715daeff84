-- What the database refuses on channel reconciliation's tables (issue 18,
-- section 1; docs/operations.md, "What the database refuses"): statements
-- and their lines as imported, differences and their history. Plain
-- triggers, none of which a setting switches off; ledger_refuse_change() is
-- postings/sql/guards.sql's. Dropped and created again: running the file
-- twice is harmless.

DROP TRIGGER IF EXISTS channel_never_deleted ON reports_channel;
CREATE TRIGGER channel_never_deleted BEFORE DELETE ON reports_channel
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('delete');
-- A statement is never changed, with one exception: it is voided once
-- (voided_at set, nothing else), after a second person approved the void
-- (reports_statementvoid). Its lines stay as they were, out of matching.
CREATE OR REPLACE FUNCTION statement_import_only_voided() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.voided_at IS NULL AND NEW.voided_at IS NOT NULL
       AND to_jsonb(NEW) - 'voided_at' = to_jsonb(OLD) - 'voided_at' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'Cannot % rows from % table (%): a statement is only ever voided', lower(TG_OP),
        TG_TABLE_NAME, TG_NAME USING ERRCODE = 'restrict_violation';
END $$;
DROP TRIGGER IF EXISTS statement_import_append_only ON reports_statementimport;
CREATE TRIGGER statement_import_append_only BEFORE UPDATE OR DELETE ON reports_statementimport
    FOR EACH ROW EXECUTE FUNCTION statement_import_only_voided();
DROP TRIGGER IF EXISTS statement_line_append_only ON reports_statementline;
CREATE TRIGGER statement_line_append_only BEFORE UPDATE OR DELETE ON reports_statementline
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS recon_run_never_deleted ON reports_reconrun;
CREATE TRIGGER recon_run_never_deleted BEFORE DELETE ON reports_reconrun
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('delete');
DROP TRIGGER IF EXISTS difference_never_deleted ON reports_difference;
CREATE TRIGGER difference_never_deleted BEFORE DELETE ON reports_difference
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('delete');
DROP TRIGGER IF EXISTS difference_event_append_only ON reports_differenceevent;
CREATE TRIGGER difference_event_append_only BEFORE UPDATE OR DELETE ON reports_differenceevent
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS difference_proposal_never_deleted ON reports_differenceproposal;
CREATE TRIGGER difference_proposal_never_deleted BEFORE DELETE ON reports_differenceproposal
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('delete');
