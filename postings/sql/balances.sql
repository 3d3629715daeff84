-- The one statement that writes an account's balance, frozen amount and
-- entry sequence (issue 17, section 3). ledger_post and ledger_post_batch
-- call it; so does postings.balances, the one Python module that writes
-- them (postings, holds, the flush of buffered accounts). The caller holds
-- the accounts' row locks and gives every value, the ones it does not change
-- as it read them under the lock; the accounts' CHECK constraints judge the
-- result (the sign rule's codes are posting_rules.sql's).
-- PL/pgSQL rather than SQL: its plan is kept per session (an SQL function
-- that cannot be inlined is planned again at every call).
CREATE OR REPLACE FUNCTION ledger_balances_write(
    p_ids bigint[], p_balances numeric[], p_frozens numeric[], p_entry_seqs bigint[]
) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    written integer;
BEGIN
    UPDATE accounts_account AS a
       SET balance = v.balance, frozen = v.frozen, entry_seq = v.entry_seq, updated_at = now()
      FROM unnest(p_ids, p_balances, p_frozens, p_entry_seqs) AS v(id, balance, frozen, entry_seq)
     WHERE a.id = v.id;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END $$;
