-- A statement's void requests and decisions are its history: never deleted.
DROP TRIGGER IF EXISTS statement_void_never_deleted ON reports_statementvoid;
CREATE TRIGGER statement_void_never_deleted BEFORE DELETE ON reports_statementvoid
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('delete');
