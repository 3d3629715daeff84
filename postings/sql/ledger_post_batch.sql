-- ledger_post_batch(): a batch of postings in one call (postings.services, "One call").
--
-- The items in order, each seeing the balances the items before it left;
-- legs on buffered (hot) accounts as pending entries. It writes the longest
-- run of items from the start that the rules (posting_rules.sql) allow and
-- whose amounts have no more decimal places than their currency, and returns
-- their postings; that they are fewer than the items given tells the caller
-- which item it did not take: the next one, which the service posts or
-- refuses on its own by the full path, asking the same rules, and the items
-- after it go on in a new call (postings.services, _batch_post). An entity
-- without a calendar raises check_violation on ledger_post_full_path: the
-- whole call takes the full path. p_trade_nos and p_metadatas: each item's
-- trade number and metadata, by item as the other per-item arrays (NULL,
-- or the arrays left out: none, '{}').
CREATE OR REPLACE FUNCTION ledger_post_batch(
    p_source text, p_posted_by text, p_request_nos text[], p_fingerprints text[], p_business_types text[],
    p_currencies text[], p_memos text[], p_external_refs text[], p_too_coarse text[],
    p_leg_items int[], p_account_nos text[], p_directions text[], p_amounts numeric[],
    p_trade_nos text[] DEFAULT NULL, p_metadatas jsonb[] DEFAULT NULL
) RETURNS TABLE (o_request_no text, o_serial_no bigint, o_accounting_date date, o_entity_id bigint,
                 o_currency text, o_created_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    accts accounts_account[];
    bufs accounts_account[];
    wanted int;
    refused int;  -- the first item not taken, counting from 1
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
        SELECT min(l.item) INTO refused FROM unnest(p_leg_items, p_account_nos) AS l(item, account_no)
         WHERE l.account_no NOT IN (SELECT a.account_no FROM unnest(accts) AS a);
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
               sum(legs.delta) OVER (PARTITION BY legs.id, legs.item) AS item_delta,
               legs.entry_seq + row_number() OVER by_account AS seq,
               lead(legs.item) OVER by_account IS DISTINCT FROM legs.item AS item_done
          FROM legs
        WINDOW by_account AS (PARTITION BY legs.id ORDER BY legs.ord)
    )
    SELECT least(refused, min(r.item) FILTER (WHERE
               -- The rules (posting_rules.sql); the sign rule when an item is done with the account.
               ledger_leg_refusal(r.item_entity, r.item_currency, r.entity_id, r.currency, r.status, r.posting_mode,
                                  r.category, r.allow_negative, r.direction, false) IS NOT NULL
               OR coalesce(r.item_currency = ANY(string_to_array(p_too_coarse[r.item], ',')), false)
               OR (r.posting_mode = 'realtime' AND r.item_done
                   AND ledger_balance_refusal(r.category, r.allow_negative, r.after, r.frozen, r.credit_limit,
                                              r.after - r.item_delta + r.frozen, p_business_types[r.item])
                       IS NOT NULL))),
           -- In whatever order the rows come, the same in every array; each
           -- leg keeps its place in the batch (l_leg).
           array_agg(r.ord), array_agg(r.item), array_agg(r.id),
           array_agg(CASE WHEN r.posting_mode = 'realtime' THEN r.seq END),
           array_agg(CASE WHEN r.posting_mode = 'realtime' THEN r.after - r.delta END),
           array_agg(CASE WHEN r.posting_mode = 'realtime' THEN r.after END),
           array_agg(CASE WHEN r.posting_mode = 'realtime' THEN r.frozen END),
           array_agg(r.item_currency), array_agg(r.item_entity)
      INTO refused, l_leg, l_item, l_account, l_seq, l_before, l_after, l_frozen, l_currency, l_entity
      FROM run r;
    IF refused IS NOT NULL THEN
        SELECT array_agg(l.leg), array_agg(l.item), array_agg(l.account), array_agg(l.seq), array_agg(l.before),
               array_agg(l.after), array_agg(l.frozen), array_agg(l.currency), array_agg(l.entity)
          INTO l_leg, l_item, l_account, l_seq, l_before, l_after, l_frozen, l_currency, l_entity
          FROM unnest(l_leg, l_item, l_account, l_seq, l_before, l_after, l_frozen, l_currency, l_entity)
               AS l(leg, item, account, seq, before, after, frozen, currency, entity)
         WHERE l.item < refused;
        IF l_leg IS NULL THEN
            RETURN;
        END IF;
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
                                      trade_no, metadata, created_at)
        SELECT p_source, p_request_nos[i.item], p_fingerprints[i.item], p_business_types[i.item], i.entity_id,
               i.currency, d.day, NULL, p_memos[i.item], p_external_refs[i.item], p_posted_by, NULL,
               p_trade_nos[i.item], coalesce(p_metadatas[i.item], '{}'), created
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

    -- Each account once, at its last leg: balances.sql, the one writer.
    PERFORM ledger_balances_write(array_agg(f.account_id), array_agg(f.after), array_agg(f.frozen),
                                  array_agg(f.seq))
       FROM (SELECT DISTINCT ON (l.account_id) l.account_id, l.after, l.frozen, l.seq
               FROM unnest(l_leg, l_account, l_after, l_frozen, l_seq) AS l(leg, account_id, after, frozen, seq)
              WHERE l.seq IS NOT NULL
              ORDER BY l.account_id, l.leg DESC) AS f;

    RETURN QUERY SELECT w.*, created FROM unnest(r_request, r_serial, r_day, r_entity, r_currency) AS w;
END $$;
