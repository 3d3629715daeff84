-- Accounting periods (reports/periods): what the database keeps, whoever
-- writes. A closed period never changes nor disappears; closing a month moves
-- the entity's calendar closed_through to its last day (which refuses every
-- posting dated on or before it: postings/sql/closed_periods.sql), and
-- nothing else may move closed_through forward.
CREATE OR REPLACE FUNCTION period_closed_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'closed' THEN
        RAISE EXCEPTION 'period % of entity % is closed and never changes', OLD.start_date, OLD.entity_id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION period_close_moves_calendar() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'closed' AND NEW.kind = 'month' THEN
        UPDATE postings_accountingcalendar
           SET closed_through = GREATEST(COALESCE(closed_through, NEW.end_date), NEW.end_date)
         WHERE entity_id = NEW.entity_id;
    END IF;
    RETURN NULL;
END $$;

-- closed_through moves only to the last day of a closed month of the entity.
CREATE OR REPLACE FUNCTION period_closed_through_is_a_closed_month() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.closed_through IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM reports_accountingperiod p
         WHERE p.entity_id = NEW.entity_id AND p.kind = 'month' AND p.status = 'closed'
           AND p.end_date = NEW.closed_through) THEN
        RAISE EXCEPTION 'closed_through % of entity % is not the last day of a closed month',
            NEW.closed_through, NEW.entity_id USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS period_closed_final ON reports_accountingperiod;
CREATE TRIGGER period_closed_final BEFORE UPDATE OR DELETE ON reports_accountingperiod
    FOR EACH ROW EXECUTE FUNCTION period_closed_is_final();
DROP TRIGGER IF EXISTS period_close_moves_calendar ON reports_accountingperiod;
CREATE TRIGGER period_close_moves_calendar AFTER UPDATE OF status ON reports_accountingperiod
    FOR EACH ROW WHEN (NEW.status = 'closed') EXECUTE FUNCTION period_close_moves_calendar();
DROP TRIGGER IF EXISTS calendar_closed_through_is_a_closed_month ON postings_accountingcalendar;
CREATE TRIGGER calendar_closed_through_is_a_closed_month BEFORE UPDATE OF closed_through ON postings_accountingcalendar
    FOR EACH ROW WHEN (OLD.closed_through IS DISTINCT FROM NEW.closed_through)
    EXECUTE FUNCTION period_closed_through_is_a_closed_month();

-- A closing posting belongs to its period for good.
DROP TRIGGER IF EXISTS period_closing_posting_append_only ON reports_periodclosingposting;
CREATE TRIGGER period_closing_posting_append_only BEFORE UPDATE OR DELETE ON reports_periodclosingposting
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
