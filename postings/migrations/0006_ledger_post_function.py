"""ledger_post(): a lone posting in one call (postings.services, "One call").

The function only writes a posting that every rule of the service allows; for
anything else it raises check_violation on the pseudo-constraint
``ledger_post_full_path`` and writes nothing, and the service takes its full
path, which decides and reports. Changing the rules of _validate_legs,
_check_status or _check_bufferable means changing this function too (a new
migration with CREATE OR REPLACE); tests/postings/test_one_call.py runs the
same postings both ways and compares them."""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION ledger_post(
    p_source text, p_request_no text, p_fingerprint text, p_business_type text, p_currency text, p_memo text,
    p_external_ref text, p_posted_by text, p_account_nos text[], p_directions text[], p_amounts numeric[],
    p_too_coarse text[],
    OUT o_serial_no bigint, OUT o_accounting_date date, OUT o_created_at timestamptz, OUT o_entity_id bigint,
    OUT o_currency text
) LANGUAGE plpgsql AS $$
DECLARE
    a record;
    accounts refcursor;
    ids bigint[] := '{}'; nos text[] := '{}'; cats text[] := '{}'; modes text[] := '{}'; statuses text[] := '{}';
    negs boolean[] := '{}'; bals numeric[] := '{}'; frozens numeric[] := '{}'; seqs bigint[] := '{}';
    touched boolean[];
    e_acc bigint[] := '{}'; e_seq bigint[] := '{}'; e_before numeric[] := '{}'; e_after numeric[] := '{}';
    e_frozen numeric[] := '{}';
    k int; normal text; prior numeric;
BEGIN
    -- As postings.services._LOCK_SQL: real-time accounts locked in id order
    -- (the rows the lock returns are the latest versions); then, only if a
    -- leg's account was not among them, buffered ones read without a lock.
    FOR pass IN 1 .. 2 LOOP
        IF pass = 1 THEN
            OPEN accounts FOR
                SELECT x.id, x.account_no, x.category, x.posting_mode, x.status, x.allow_negative, x.balance,
                       x.frozen, x.entry_seq, x.currency, x.entity_id
                  FROM accounts_account x
                 WHERE x.account_no = ANY(p_account_nos) AND x.posting_mode = 'realtime'
                 ORDER BY x.id
                   FOR NO KEY UPDATE;
        ELSIF p_account_nos <@ nos THEN
            EXIT;
        ELSE
            OPEN accounts FOR
                SELECT x.id, x.account_no, x.category, x.posting_mode, x.status, x.allow_negative, x.balance,
                       x.frozen, x.entry_seq, x.currency, x.entity_id
                  FROM accounts_account x
                 WHERE x.account_no = ANY(p_account_nos) AND x.posting_mode <> 'realtime';
        END IF;
        LOOP
            FETCH accounts INTO a;
            EXIT WHEN NOT FOUND;
            o_currency := coalesce(p_currency, o_currency, a.currency);  -- none asked: the accounts' own
            IF a.currency <> o_currency OR (o_entity_id IS NOT NULL AND a.entity_id <> o_entity_id) THEN
                RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'currency or entity';
            END IF;
            o_entity_id := a.entity_id;
            ids := ids || a.id; nos := nos || a.account_no::text; cats := cats || a.category::text;
            modes := modes || a.posting_mode::text; statuses := statuses || a.status::text;
            negs := negs || a.allow_negative; bals := bals || a.balance; frozens := frozens || a.frozen;
            seqs := seqs || a.entry_seq;
        END LOOP;
        CLOSE accounts;
    END LOOP;
    IF NOT p_account_nos <@ nos THEN
        RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'unknown account';
    END IF;
    -- The amounts have more decimal places than the currency has.
    IF o_currency = ANY(p_too_coarse) THEN
        RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'decimal places';
    END IF;
    -- The day cut waits for this transaction (postings.calendar).
    SELECT c.open_date INTO o_accounting_date FROM postings_accountingcalendar c
     WHERE c.entity_id = o_entity_id FOR KEY SHARE;
    IF o_accounting_date IS NULL THEN
        RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'no calendar';
    END IF;

    touched := array_fill(false, ARRAY[array_length(ids, 1)]);
    FOR i IN 1 .. array_length(p_account_nos, 1) LOOP
        k := array_position(nos, p_account_nos[i]);
        IF statuses[k] = 'closed'
           OR (p_directions[i] = 'D' AND statuses[k] IN ('debit_blocked', 'blocked'))
           OR (p_directions[i] = 'C' AND statuses[k] IN ('credit_blocked', 'blocked')) THEN
            RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'status';
        END IF;
        normal := CASE WHEN cats[k] = 'asset' THEN 'D' ELSE 'C' END;
        IF modes[k] = 'buffered' THEN
            -- Pending: the flush gives it its place in the chain (postings.buffers).
            IF p_directions[i] <> normal AND NOT negs[k] THEN
                RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'buffered debit';
            END IF;
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
            RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'posting mode';
        END IF;
    END LOOP;

    o_created_at := now();
    INSERT INTO postings_posting (source_system, request_no, fingerprint, business_type, entity_id, currency,
                                  accounting_date, corrects_date, memo, external_ref, posted_by, reverses_id,
                                  created_at)
    VALUES (p_source, p_request_no, p_fingerprint, p_business_type, o_entity_id, o_currency, o_accounting_date,
            NULL, p_memo, p_external_ref, p_posted_by, NULL, o_created_at)
    RETURNING serial_no INTO o_serial_no;
    INSERT INTO postings_entry (posting_id, account_id, account_seq, direction, amount, currency, balance_before,
                                balance_after, frozen_before, frozen_after, business_type, accounting_date,
                                created_at)
    SELECT o_serial_no, v.account_id, v.account_seq, v.direction, v.amount, o_currency, v.balance_before,
           v.balance_after, v.frozen, v.frozen, p_business_type, o_accounting_date, o_created_at
      FROM unnest(e_acc, e_seq, p_directions, p_amounts, e_before, e_after, e_frozen)
           AS v(account_id, account_seq, direction, amount, balance_before, balance_after, frozen);
    -- The sign rule is the accounts' CHECK (account_available_not_negative):
    -- a shortfall raises it here, and the service reports it.
    FOR k IN 1 .. array_length(ids, 1) LOOP
        IF touched[k] THEN
            UPDATE accounts_account SET balance = bals[k], entry_seq = seqs[k], updated_at = o_created_at
             WHERE id = ids[k];
        END IF;
    END LOOP;
END $$;
"""

DROP = (
    "DROP FUNCTION IF EXISTS ledger_post(text, text, text, text, text, text, text, text, text[], text[], "
    "numeric[], text[])"
)


def forwards(apps, schema_editor):
    schema_editor.execute(FUNCTION)


def backwards(apps, schema_editor):
    schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("postings", "0005_fewer_posting_indexes")]

    operations = [migrations.RunPython(forwards, backwards)]
