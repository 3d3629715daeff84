"""ledger_post_batch(): a batch of postings in one call (postings.services,
"One call").

As ledger_post does for one posting, the function writes a batch only when
every item is plainly allowed, and then all of it: the items in order, each
seeing the balances the items before it left; legs on buffered (hot)
accounts as pending entries. For anything else (an account unknown, closed,
blocked for the direction or in another currency or entity, a shortfall at
the end of an item, decimal places the currency does not have, a buffered leg
that lowers a balance that may not go negative, an entity without a
calendar) it raises check_violation on ``ledger_post_full_path`` and writes
nothing; the batch then takes the full path, which posts or refuses each item
on its own. Changing the rules of _validate_legs, _check_status,
_check_bufferable or _check_sign_rule means changing this function too;
tests/postings/test_one_call.py posts the same batches both ways and compares
them."""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION ledger_post_batch(
    p_source text, p_posted_by text, p_request_nos text[], p_fingerprints text[], p_business_types text[],
    p_currencies text[], p_memos text[], p_external_refs text[], p_too_coarse text[],
    p_leg_items int[], p_account_nos text[], p_directions text[], p_amounts numeric[]
) RETURNS TABLE (o_request_no text, o_serial_no bigint, o_accounting_date date, o_entity_id bigint,
                 o_currency text, o_created_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    accts accounts_account[];
    bufs accounts_account[];
    wanted int;
    allowed boolean;
    l_leg bigint[]; l_item int[]; l_account bigint[]; l_seq bigint[]; l_before numeric[]; l_after numeric[]; l_frozen numeric[];
    l_currency text[]; l_entity bigint[];
    d_entity bigint[]; d_day date[];
    r_request text[]; r_serial bigint[]; r_day date[]; r_entity bigint[]; r_currency text[];
    created timestamptz := now();
BEGIN
    -- As postings.services._LOCK_SQL: the real-time accounts locked in id
    -- order (the rows the lock returns are the latest versions).
    SELECT array_agg(s.x ORDER BY (s.x).id) INTO accts
      FROM (SELECT a FROM accounts_account a
             WHERE a.account_no = ANY(p_account_nos) AND a.posting_mode = 'realtime'
             ORDER BY a.id
               FOR NO KEY UPDATE) AS s(x);
    SELECT count(DISTINCT n) INTO wanted FROM unnest(p_account_nos) AS n;
    IF wanted > coalesce(cardinality(accts), 0) THEN
        -- Buffered (hot) accounts, read without a lock: their legs are pending.
        SELECT array_agg(a) INTO bufs FROM accounts_account a
         WHERE a.account_no = ANY(p_account_nos) AND a.posting_mode <> 'realtime';
        accts := coalesce(accts, '{}') || coalesce(bufs, '{}');
    END IF;
    IF wanted <> coalesce(cardinality(accts), 0) THEN
        RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'unknown account';
    END IF;

    -- Each leg in order: the account's balance after it and its sequence
    -- number run on from the legs before it, in this item and earlier ones.
    -- A buffered account's legs get neither: the flush gives them their place
    -- in the chain (postings.buffers).
    WITH legs AS (
        SELECT l.ord, l.item, l.direction, l.amount, a.id, a.posting_mode, a.category, a.status, a.allow_negative,
               a.frozen,
               a.credit_limit, a.currency, a.entity_id, a.balance, a.entry_seq,
               CASE WHEN (l.direction = 'D') = (a.category = 'asset') THEN l.amount ELSE -l.amount END AS delta,
               coalesce(nullif(p_currencies[l.item], ''), first_value(a.currency) OVER by_item) AS item_currency,
               first_value(a.entity_id) OVER by_item AS item_entity
          FROM unnest(p_leg_items, p_account_nos, p_directions, p_amounts) WITH ORDINALITY
               AS l(item, account_no, direction, amount, ord)
          JOIN unnest(accts) AS a ON a.account_no = l.account_no
        WINDOW by_item AS (PARTITION BY l.item ORDER BY l.ord)
    ), run AS (
        SELECT legs.*, legs.balance + sum(legs.delta) OVER by_account AS after,
               legs.entry_seq + row_number() OVER by_account AS seq,
               lead(legs.item) OVER by_account IS DISTINCT FROM legs.item AS item_done
          FROM legs
        WINDOW by_account AS (PARTITION BY legs.id ORDER BY legs.ord)
    )
    SELECT bool_and(
               r.currency = r.item_currency AND r.entity_id = r.item_entity
               AND NOT coalesce(r.item_currency = ANY(string_to_array(p_too_coarse[r.item], ',')), false)
               AND r.status <> 'closed'
               AND NOT (r.direction = 'D' AND r.status IN ('debit_blocked', 'blocked'))
               AND NOT (r.direction = 'C' AND r.status IN ('credit_blocked', 'blocked'))
               -- The sign rule (the accounts' CHECK) when an item is done with the account.
               AND (r.posting_mode <> 'realtime' OR NOT r.item_done OR r.allow_negative
                    OR (r.category = 'asset' AND r.after >= 0 AND r.after <= r.credit_limit - r.frozen)
                    OR (r.category <> 'asset' AND r.after >= r.frozen))
               -- A buffered leg may only raise the balance, unless the account may go negative.
               AND (r.posting_mode = 'realtime'
                    OR (r.posting_mode = 'buffered' AND (r.delta > 0 OR r.allow_negative)))),
           -- In whatever order the rows come, the same in every array; each
           -- leg keeps its place in the batch (l_leg).
           array_agg(r.ord), array_agg(r.item), array_agg(r.id),
           array_agg(CASE WHEN r.posting_mode = 'realtime' THEN r.seq END),
           array_agg(CASE WHEN r.posting_mode = 'realtime' THEN r.after - r.delta END),
           array_agg(CASE WHEN r.posting_mode = 'realtime' THEN r.after END),
           array_agg(CASE WHEN r.posting_mode = 'realtime' THEN r.frozen END),
           array_agg(r.item_currency), array_agg(r.item_entity)
      INTO allowed, l_leg, l_item, l_account, l_seq, l_before, l_after, l_frozen, l_currency, l_entity
      FROM run r;
    IF NOT allowed THEN
        RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'not plainly allowed';
    END IF;

    -- The day cut waits for this transaction (postings.calendar).
    SELECT array_agg(c.entity_id), array_agg(c.open_date) INTO d_entity, d_day
      FROM (SELECT c.entity_id, c.open_date FROM postings_accountingcalendar c
             WHERE c.entity_id = ANY(l_entity)
               FOR KEY SHARE) AS c;
    IF coalesce(cardinality(d_entity), 0) <> (SELECT count(DISTINCT e) FROM unnest(l_entity) AS e) THEN
        RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'no calendar';
    END IF;

    -- The postings in item order, so serial numbers follow the batch.
    WITH items AS (
        SELECT DISTINCT ON (l.item) l.item, l.currency, l.entity_id
          FROM unnest(l_item, l_currency, l_entity) AS l(item, currency, entity_id)
         ORDER BY l.item
    ), written AS (
        INSERT INTO postings_posting (source_system, request_no, fingerprint, business_type, entity_id, currency,
                                      accounting_date, corrects_date, memo, external_ref, posted_by, reverses_id,
                                      created_at)
        SELECT p_source, p_request_nos[i.item], p_fingerprints[i.item], p_business_types[i.item], i.entity_id,
               i.currency, d.day, NULL, p_memos[i.item], p_external_refs[i.item], p_posted_by, NULL, created
          FROM items i
          JOIN unnest(d_entity, d_day) AS d(entity_id, day) ON d.entity_id = i.entity_id
         ORDER BY i.item
        RETURNING serial_no, request_no, accounting_date, entity_id, currency
    )
    SELECT array_agg(w.request_no), array_agg(w.serial_no), array_agg(w.accounting_date), array_agg(w.entity_id),
           array_agg(w.currency)
      INTO r_request, r_serial, r_day, r_entity, r_currency
      FROM written w;

    INSERT INTO postings_entry (posting_id, account_id, account_seq, direction, amount, currency, balance_before,
                                balance_after, frozen_before, frozen_after, business_type, accounting_date,
                                created_at)
    SELECT r_serial[k], l.account_id, l.seq, p_directions[l.leg], p_amounts[l.leg], r_currency[k], l.before,
           l.after, l.frozen, l.frozen, p_business_types[l.item], r_day[k], created
      FROM unnest(l_leg, l_item, l_account, l_seq, l_before, l_after, l_frozen)
           AS l(leg, item, account_id, seq, before, after, frozen)
     CROSS JOIN LATERAL array_position(r_request, p_request_nos[l.item]) AS k
     ORDER BY l.leg;

    -- Each account once, at its last leg.
    UPDATE accounts_account x SET balance = f.after, entry_seq = f.seq, updated_at = created
      FROM (SELECT DISTINCT ON (l.account_id) l.account_id, l.after, l.seq
              FROM unnest(l_leg, l_account, l_after, l_seq) AS l(leg, account_id, after, seq)
             WHERE l.seq IS NOT NULL
             ORDER BY l.account_id, l.leg DESC) AS f
     WHERE x.id = f.account_id;

    RETURN QUERY SELECT w.*, created FROM unnest(r_request, r_serial, r_day, r_entity, r_currency) AS w;
END $$;
"""

DROP = (
    "DROP FUNCTION IF EXISTS ledger_post_batch(text, text, text[], text[], text[], text[], text[], text[], "
    "text[], int[], text[], text[], numeric[])"
)


def forwards(apps, schema_editor):
    schema_editor.execute(FUNCTION)


def backwards(apps, schema_editor):
    schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("postings", "0007_balance_check_per_statement")]

    operations = [migrations.RunPython(forwards, backwards)]
