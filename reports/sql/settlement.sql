-- What the database refuses on settlement's tables (issue 20 section 3;
-- docs/operations.md, "What the database refuses"). An entry is covered by
-- one settlement at most (the unique key of reports_settledentry); here:
-- a covered entry is one the settlement may cover, a settlement's figures
-- are what its covered entries add up to, and nothing is changed or deleted.
-- ledger_refuse_change() is postings/sql/guards.sql's. Running the file
-- twice is harmless.

DROP TRIGGER IF EXISTS merchant_settlement_append_only ON reports_merchantsettlement;
CREATE TRIGGER merchant_settlement_append_only BEFORE UPDATE OR DELETE ON reports_merchantsettlement
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS channel_settlement_append_only ON reports_channelsettlement;
CREATE TRIGGER channel_settlement_append_only BEFORE UPDATE OR DELETE ON reports_channelsettlement
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS reserve_balance_append_only ON reports_reservebalance;
CREATE TRIGGER reserve_balance_append_only BEFORE UPDATE OR DELETE ON reports_reservebalance
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');
DROP TRIGGER IF EXISTS settled_entry_append_only ON reports_settledentry;
CREATE TRIGGER settled_entry_append_only BEFORE UPDATE OR DELETE ON reports_settledentry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('update or delete');

-- A settlement is stamped with its transaction's start, so a covered entry
-- can tell whether its settlement is being written now: entries are added to
-- a settlement only in the transaction that writes it (whose figures the
-- check at COMMIT below compares with them), never to an earlier one.
CREATE OR REPLACE FUNCTION settlement_stamped() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.created_at := transaction_timestamp();
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS merchant_settlement_stamped ON reports_merchantsettlement;
CREATE TRIGGER merchant_settlement_stamped BEFORE INSERT ON reports_merchantsettlement
    FOR EACH ROW EXECUTE FUNCTION settlement_stamped();
DROP TRIGGER IF EXISTS channel_settlement_stamped ON reports_channelsettlement;
CREATE TRIGGER channel_settlement_stamped BEFORE INSERT ON reports_channelsettlement
    FOR EACH ROW EXECUTE FUNCTION settlement_stamped();

-- A merchant settlement covers entries of its pending account, a channel
-- settlement entries of its channel's clearing accounts; never a leg of a
-- settlement posting (that would settle the settlement itself).
CREATE OR REPLACE FUNCTION settled_entry_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    e record;
BEGIN
    SELECT account_id, business_type INTO e FROM postings_entry WHERE serial_no = NEW.entry_id;
    IF e.business_type IN ('settlement', 'channel_settlement') THEN
        RAISE EXCEPTION 'entry % is a leg of a settlement posting; it cannot be settled', NEW.entry_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM reports_merchantsettlement WHERE id = NEW.merchant_settlement_id
                                                             AND created_at = transaction_timestamp())
       AND NOT EXISTS (SELECT 1 FROM reports_channelsettlement WHERE id = NEW.channel_settlement_id
                                                                AND created_at = transaction_timestamp()) THEN
        RAISE EXCEPTION 'entry %: entries are added to a settlement only as it is written', NEW.entry_id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.merchant_settlement_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM reports_merchantsettlement
         WHERE id = NEW.merchant_settlement_id AND pending_account_id = e.account_id) THEN
        RAISE EXCEPTION 'entry % is not on the pending account of merchant settlement %', NEW.entry_id,
            NEW.merchant_settlement_id USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.channel_settlement_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM reports_channelsettlement s
          JOIN reports_channel_clearing_accounts c ON c.channel_id = s.channel_id
         WHERE s.id = NEW.channel_settlement_id AND c.account_id = e.account_id) THEN
        RAISE EXCEPTION 'entry % is not on a clearing account of the channel of settlement %', NEW.entry_id,
            NEW.channel_settlement_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS settled_entry_check ON reports_settledentry;
CREATE TRIGGER settled_entry_check BEFORE INSERT ON reports_settledentry
    FOR EACH ROW EXECUTE FUNCTION settled_entry_check();

-- NULL, or what is wrong with a settlement's figures against the entries it
-- covers and its posting, in words. Asked at COMMIT (the service writes the
-- settlement, then its entries) and by the end of day.
CREATE OR REPLACE FUNCTION ledger_settlement_drift(kind text, settlement_id bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s record;
    covered record;
    moved numeric;
BEGIN
    IF kind = 'merchant' THEN
        SELECT * INTO s FROM reports_merchantsettlement WHERE id = settlement_id;
        SELECT COUNT(*) AS n,
               COALESCE(SUM(CASE WHEN e.direction = 'C' THEN e.amount ELSE -e.amount END), 0) AS net
          INTO covered
          FROM reports_settledentry se JOIN postings_entry e ON e.serial_no = se.entry_id
         WHERE se.merchant_settlement_id = settlement_id;
        IF covered.n <> s.entry_count OR covered.net <> s.amount THEN
            RETURN format('merchant settlement %s moved %s over %s entries; its entries add up to %s over %s',
                          settlement_id, s.amount, s.entry_count, covered.net, covered.n);
        END IF;
        SELECT COALESCE(SUM(CASE WHEN direction = 'D' THEN amount ELSE -amount END), 0) INTO moved
          FROM postings_entry WHERE posting_id = s.posting_id AND account_id = s.pending_account_id;
        IF moved <> s.amount THEN
            RETURN format('merchant settlement %s: its posting takes %s from the pending account, not %s',
                          settlement_id, moved, s.amount);
        END IF;
        RETURN NULL;
    END IF;
    SELECT * INTO s FROM reports_channelsettlement WHERE id = settlement_id;
    SELECT COUNT(*) AS n,
           COALESCE(SUM(CASE WHEN e.direction = 'D' THEN e.amount ELSE 0 END), 0) AS gross_in,
           COALESCE(SUM(CASE WHEN e.direction = 'C' THEN e.amount ELSE 0 END), 0) AS gross_out,
           COALESCE(SUM(se.fee), 0) AS fee
      INTO covered
      FROM reports_settledentry se JOIN postings_entry e ON e.serial_no = se.entry_id
     WHERE se.channel_settlement_id = settlement_id;
    IF covered.n <> s.entry_count OR covered.gross_in <> s.gross_in OR covered.gross_out <> s.gross_out
       OR covered.fee <> s.fee THEN
        RETURN format('channel settlement %s says %s entries, in %s, out %s, fee %s; its entries add up to '
                      '%s, %s, %s, %s', settlement_id, s.entry_count, s.gross_in, s.gross_out, s.fee,
                      covered.n, covered.gross_in, covered.gross_out, covered.fee);
    END IF;
    SELECT COALESCE(SUM(CASE WHEN e.direction = 'C' THEN e.amount ELSE -e.amount END), 0) INTO moved
      FROM postings_entry e
      JOIN reports_channel_clearing_accounts c ON c.account_id = e.account_id AND c.channel_id = s.channel_id
     WHERE e.posting_id = s.posting_id;
    IF moved <> s.net THEN
        RETURN format('channel settlement %s: its posting moves %s off the clearing accounts, not the net %s',
                      settlement_id, moved, s.net);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION settlement_figures_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    problem text;
BEGIN
    problem := ledger_settlement_drift(TG_ARGV[0], NEW.id);
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'settlement_figures: %', problem USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS merchant_settlement_figures ON reports_merchantsettlement;
CREATE CONSTRAINT TRIGGER merchant_settlement_figures AFTER INSERT ON reports_merchantsettlement
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION settlement_figures_check('merchant');
DROP TRIGGER IF EXISTS channel_settlement_figures ON reports_channelsettlement;
CREATE CONSTRAINT TRIGGER channel_settlement_figures AFTER INSERT ON reports_channelsettlement
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION settlement_figures_check('channel');
