-- ledger_post(): a lone posting in one call (postings.services, "One call").
--
-- Writes the posting, its entries and the real-time accounts' balances under
-- the locks the full path takes, or refuses it with a coded refusal
-- (SQLSTATE LR001, MESSAGE the code, DETAIL a JSON object of what the
-- service's message needs), which the service raises as its LedgerError. The
-- rules are posting_rules.sql's, asked in the order the full path asks them.
-- What this function cannot decide it hands to the service's full path by
-- raising check_violation on the pseudo-constraint ledger_post_full_path
-- (MESSAGE the reason, counted and logged by the service): amounts with more
-- decimal places than the currency has (which leg is wrong is the full path's
-- message), an entity without a calendar (its first posting opens it).
-- p_rule_version: the version of the posting rule whose legs these are
-- (NULL: legs given by the caller), written on the posting as it was read
-- with the legs (postings.services.rules), so a posting says what it was booked under.
-- p_trade_no, p_metadata: the caller's trade number and metadata (NULL or
-- left out: none, '{}'), checked by accounts.kernel.metadata and the table's CHECKs.
CREATE OR REPLACE FUNCTION ledger_post(
    p_source text, p_request_no text, p_fingerprint text, p_business_type text, p_currency text, p_memo text,
    p_external_ref text, p_posted_by text, p_account_nos text[], p_directions text[], p_amounts numeric[],
    p_too_coarse text[], p_rule_version int, p_trade_no text DEFAULT NULL, p_metadata jsonb DEFAULT '{}',
    OUT o_serial_no bigint, OUT o_accounting_date date, OUT o_created_at timestamptz, OUT o_entity_id bigint,
    OUT o_currency text
) LANGUAGE plpgsql AS $$
DECLARE
    a record;
    accounts refcursor;
    ids bigint[] := '{}'; nos text[] := '{}'; cats text[] := '{}'; modes text[] := '{}'; statuses text[] := '{}';
    negs boolean[] := '{}'; bals numeric[] := '{}'; frozens numeric[] := '{}'; seqs bigint[] := '{}';
    currencies text[] := '{}'; entities bigint[] := '{}'; limits numeric[] := '{}';
    touched boolean[]; checked boolean[]; bals0 numeric[];
    e_acc bigint[] := '{}'; e_seq bigint[] := '{}'; e_before numeric[] := '{}'; e_after numeric[] := '{}';
    e_frozen numeric[] := '{}';
    w_ids bigint[] := '{}'; w_bals numeric[] := '{}'; w_frozens numeric[] := '{}'; w_seqs bigint[] := '{}';
    k int; k0 int; normal text; prior numeric; refusal text;
BEGIN
    -- As postings.services._LOCK_SQL: real-time accounts locked in id order
    -- (the rows the lock returns are the latest versions); then, only if a
    -- leg's account was not among them, buffered ones read without a lock.
    FOR pass IN 1 .. 2 LOOP
        IF pass = 1 THEN
            OPEN accounts FOR
                SELECT x.id, x.account_no, x.category, x.posting_mode, x.status, x.allow_negative, x.balance,
                       x.frozen, x.entry_seq, x.currency, x.entity_id, x.credit_limit
                  FROM accounts_account x
                 WHERE x.account_no = ANY(p_account_nos) AND x.posting_mode = 'realtime'
                 ORDER BY x.id
                   FOR NO KEY UPDATE;
        ELSIF p_account_nos <@ nos THEN
            EXIT;
        ELSE
            OPEN accounts FOR
                SELECT x.id, x.account_no, x.category, x.posting_mode, x.status, x.allow_negative, x.balance,
                       x.frozen, x.entry_seq, x.currency, x.entity_id, x.credit_limit
                  FROM accounts_account x
                 WHERE x.account_no = ANY(p_account_nos) AND x.posting_mode <> 'realtime';
        END IF;
        LOOP
            FETCH accounts INTO a;
            EXIT WHEN NOT FOUND;
            ids := ids || a.id; nos := nos || a.account_no::text; cats := cats || a.category::text;
            modes := modes || a.posting_mode::text; statuses := statuses || a.status::text;
            negs := negs || a.allow_negative; bals := bals || a.balance; frozens := frozens || a.frozen;
            seqs := seqs || a.entry_seq; currencies := currencies || a.currency::text;
            entities := entities || a.entity_id; limits := limits || a.credit_limit;
        END LOOP;
        CLOSE accounts;
    END LOOP;
    IF NOT p_account_nos <@ nos THEN
        RAISE EXCEPTION USING ERRCODE = 'LR001', MESSAGE = 'unknown_account', DETAIL = json_build_object(
            'account_no', (SELECT string_agg(m, ',' ORDER BY m)
                             FROM (SELECT DISTINCT n COLLATE "C" FROM unnest(p_account_nos) AS n
                                    WHERE NOT n = ANY(nos)) AS missing(m)));
    END IF;
    -- The posting's entity and currency: its first leg's account's (or the currency asked).
    k0 := array_position(nos, p_account_nos[1]);
    o_entity_id := entities[k0];
    o_currency := coalesce(p_currency, currencies[k0]);
    -- The amounts have more decimal places than the currency has.
    IF o_currency = ANY(p_too_coarse) THEN
        RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'decimal_places';
    END IF;
    -- The day cut waits for this transaction (postings.calendar).
    SELECT c.open_date INTO o_accounting_date FROM postings_accountingcalendar c
     WHERE c.entity_id = o_entity_id FOR KEY SHARE;
    IF o_accounting_date IS NULL THEN
        RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'no_calendar';
    END IF;

    touched := array_fill(false, ARRAY[array_length(ids, 1)]);
    bals0 := bals;  -- as locked: the sign rule compares what a credit line uses before and after
    FOR i IN 1 .. array_length(p_account_nos, 1) LOOP
        k := array_position(nos, p_account_nos[i]);
        refusal := ledger_leg_refusal(o_entity_id, o_currency, entities[k], currencies[k], statuses[k], modes[k],
                                      cats[k], negs[k], p_directions[i], false);
        IF refusal IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'LR001', MESSAGE = refusal, DETAIL = json_build_object(
                'leg', i - 1, 'account_no', nos[k], 'status', statuses[k], 'direction', p_directions[i],
                'account_currency', currencies[k], 'currency', o_currency, 'first_account_no', nos[k0]);
        END IF;
        normal := CASE WHEN cats[k] = 'asset' THEN 'D' ELSE 'C' END;
        IF modes[k] = 'buffered' THEN
            -- Pending: the flush gives it its place in the chain (postings.buffers).
            e_acc := e_acc || ids[k]; e_seq := e_seq || NULL::bigint; e_before := e_before || NULL::numeric;
            e_after := e_after || NULL::numeric; e_frozen := e_frozen || NULL::numeric;
        ELSIF modes[k] = 'realtime' THEN
            prior := bals[k];
            bals[k] := bals[k] + CASE WHEN p_directions[i] = normal THEN p_amounts[i] ELSE -p_amounts[i] END;
            seqs[k] := seqs[k] + 1;
            touched[k] := true;
            e_acc := e_acc || ids[k]; e_seq := e_seq || seqs[k]; e_before := e_before || prior;
            e_after := e_after || bals[k]; e_frozen := e_frozen || frozens[k];
        ELSE
            RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'posting_mode';
        END IF;
    END LOOP;
    -- The sign rule, on each real-time account in the order the legs first name it.
    checked := array_fill(false, ARRAY[array_length(ids, 1)]);
    FOR i IN 1 .. array_length(p_account_nos, 1) LOOP
        k := array_position(nos, p_account_nos[i]);
        CONTINUE WHEN NOT touched[k] OR checked[k];
        checked[k] := true;
        w_ids := w_ids || ids[k]; w_bals := w_bals || bals[k]; w_frozens := w_frozens || frozens[k];
        w_seqs := w_seqs || seqs[k];
        refusal := ledger_balance_refusal(cats[k], negs[k], bals[k], frozens[k], limits[k], bals0[k] + frozens[k],
                                          p_business_type);
        IF refusal IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'LR001', MESSAGE = refusal, DETAIL = json_build_object(
                'account_no', nos[k], 'category', cats[k], 'account_currency', currencies[k],
                'available', CASE WHEN cats[k] = 'asset' THEN limits[k] - bals[k] - frozens[k]
                                  ELSE bals[k] - frozens[k] END);
        END IF;
    END LOOP;

    o_created_at := now();
    INSERT INTO postings_posting (source_system, request_no, fingerprint, business_type, entity_id, currency,
                                  accounting_date, corrects_date, memo, external_ref, posted_by, reverses_id,
                                  rule_version, trade_no, metadata, created_at)
    VALUES (p_source, p_request_no, p_fingerprint, p_business_type, o_entity_id, o_currency, o_accounting_date,
            NULL, p_memo, p_external_ref, p_posted_by, NULL, p_rule_version, p_trade_no,
            coalesce(p_metadata, '{}'), o_created_at)
    RETURNING serial_no INTO o_serial_no;
    INSERT INTO postings_entry (posting_id, account_id, account_seq, direction, amount, currency, balance_before,
                                balance_after, frozen_before, frozen_after, business_type, accounting_date,
                                created_at)
    SELECT o_serial_no, v.account_id, v.account_seq, v.direction, v.amount, o_currency, v.balance_before,
           v.balance_after, v.frozen, v.frozen, p_business_type, o_accounting_date, o_created_at
      FROM unnest(e_acc, e_seq, p_directions, p_amounts, e_before, e_after, e_frozen)
           AS v(account_id, account_seq, direction, amount, balance_before, balance_after, frozen);
    -- The balances: balances.sql, the one writer.
    PERFORM ledger_balances_write(w_ids, w_bals, w_frozens, w_seqs);
END $$;
