-- A closed period accepts no postings (issue 22, section 2), whoever writes.
-- The check reads the entity's calendar row, which every posting has just
-- read FOR KEY SHARE (its open day), so it costs one indexed read of a hot
-- row per statement, not a search of the periods: the period close keeps the
-- last closed day on that row (closed_through; reports/sql/periods.sql).
-- Per statement over a transition table, so a batch pays once.
CREATE OR REPLACE FUNCTION ledger_posting_outside_closed_periods() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.serial_no, n.accounting_date, c.closed_through INTO bad
      FROM new_postings n
      JOIN postings_accountingcalendar c ON c.entity_id = n.entity_id
     WHERE n.accounting_date <= c.closed_through
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'posting % is dated %, in a closed period (closed through %)',
            bad.serial_no, bad.accounting_date, bad.closed_through
            USING ERRCODE = 'check_violation', CONSTRAINT = 'posting_outside_closed_periods';
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS posting_outside_closed_periods ON postings_posting;
CREATE TRIGGER posting_outside_closed_periods AFTER INSERT ON postings_posting
    REFERENCING NEW TABLE AS new_postings FOR EACH STATEMENT
    EXECUTE FUNCTION ledger_posting_outside_closed_periods();

-- The watermark never goes back: a closed period stays closed (a correction
-- is booked on the open day). Only when the column changes, so the day cut's
-- UPDATE of the open day pays nothing.
CREATE OR REPLACE FUNCTION ledger_closed_through_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.closed_through IS NOT NULL AND (NEW.closed_through IS NULL OR NEW.closed_through < OLD.closed_through) THEN
        RAISE EXCEPTION 'entity % is closed through %; a closed period is never reopened (to %)',
            OLD.entity_id, OLD.closed_through, NEW.closed_through
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS calendar_closed_through_forward_only ON postings_accountingcalendar;
CREATE TRIGGER calendar_closed_through_forward_only BEFORE UPDATE OF closed_through ON postings_accountingcalendar
    FOR EACH ROW WHEN (OLD.closed_through IS DISTINCT FROM NEW.closed_through)
    EXECUTE FUNCTION ledger_closed_through_forward_only();
