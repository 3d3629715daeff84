-- What the database refuses on opening-balance imports (issue 22, section 4;
-- docs/opening.md): an import, the accounts it opened and its opening
-- postings are the record of what the company brought with it, so none is
-- ever changed or deleted, whoever writes. A wrong opening is corrected by
-- postings of the open day, like any other mistake. ledger_refuse_change()
-- is postings/sql/guards.sql's. Dropped and created again: running the file
-- twice is harmless.

DROP TRIGGER IF EXISTS opening_import_append_only ON reports_openingimport;
CREATE TRIGGER opening_import_append_only BEFORE UPDATE OR DELETE ON reports_openingimport
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS opening_account_append_only ON reports_openingaccount;
CREATE TRIGGER opening_account_append_only BEFORE UPDATE OR DELETE ON reports_openingaccount
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS opening_posting_append_only ON reports_openingposting;
CREATE TRIGGER opening_posting_append_only BEFORE UPDATE OR DELETE ON reports_openingposting
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
