-- The event outbox (issue 23, section 1; docs/operations.md, "Events").
--
-- Every change another system cares about writes one row of events_event in
-- the transaction that makes it. The rows of postings, holds, withdrawals and
-- accounts are written here, by plain triggers on those tables, so every way
-- of writing them leaves its event: ledger_post and ledger_post_batch (no
-- Python at all), the full path, the flush, a statement typed by hand. Each
-- posting is one event row (its entries inside the payload), written when
-- the statement that inserts its entries ends.
--
-- Numbering. A row gets its id from a sequence when it is written; that is
-- not the order readers may use: a transaction can draw id 7, another id 8
-- and commit first, and a reader that took 8 would never see 7. Nor is the
-- writing transaction's xid (pg_current_xact_id) an order to use: a
-- transaction can get its xid before it waits for an account's lock, so a
-- later posting of that account could sort before the one it waited for.
-- The ids are drawn after the changed rows are locked (the triggers run
-- after the rows are written), so a later change of the same account, hold
-- or withdrawal, which waited for the lock, draws a higher id: id order
-- keeps each aggregate's order. What remains is to know when every id up to
-- some bound has committed or rolled back. ledger_events_sequence() does it
-- without making writers wait for anything: it reads the last id drawn (L),
-- then takes a snapshot (S). Every transaction that drew an id <= L had its
-- xid before (ledger_event_xid below makes sure), so at S it was either over
-- or in S's list of transactions in progress. When a later call finds all
-- of those over, every event <= L is committed and visible, or rolled back
-- and never will be: it numbers the committed ones after the last number it
-- gave, in id order, 1, 2, 3 ... with no gap. Readers (the API, the relay)
-- read only numbered events (seq NOT NULL), so a number once seen is never
-- preceded later by a lower one. The cost: a long transaction that was in
-- progress at S holds the numbering back until it ends (events are late,
-- never lost or out of order). One sequencer at a time (an advisory lock
-- it tries, never waits for); writers take no lock for it.

-- The writer's xid is assigned before its event's id is drawn (see above).
-- A trigger's transaction has written a row already; an event recorded from
-- Python (accounts.kernel.events) might not have.
CREATE OR REPLACE FUNCTION ledger_event_xid() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_current_xact_id();
END $$;

-- The next version of an aggregate's events, under the lock of its row in
-- events_aggregateversion: consecutive, whatever is archived later.
CREATE OR REPLACE FUNCTION ledger_event_version(p_aggregate_type text, p_aggregate_id bigint)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v integer;
BEGIN
    INSERT INTO events_aggregateversion AS a (aggregate_type, aggregate_id, version)
    VALUES (p_aggregate_type, p_aggregate_id, 1)
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = a.version + 1
    RETURNING a.version INTO v;
    RETURN v;
END $$;

-- One event of an aggregate that has a version row (everything but a
-- posting). Returns the event's id.
CREATE OR REPLACE FUNCTION ledger_event_emit(
    p_type text, p_entity_id bigint, p_aggregate_type text, p_aggregate_id bigint, p_payload jsonb
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
BEGIN
    PERFORM ledger_event_xid();
    INSERT INTO events_event (type, type_version, occurred_at, entity_id, aggregate_type, aggregate_id,
                              aggregate_version, payload)
    VALUES (p_type, 1, now(), p_entity_id, p_aggregate_type, p_aggregate_id,
            ledger_event_version(p_aggregate_type, p_aggregate_id), p_payload)
    RETURNING id INTO new_id;
    RETURN new_id;
END $$;

-- posting.booked (or posting.reversed: the original posting's second
-- version), one per posting whose entries the statement inserted, with its
-- entries. Entries of one posting are always inserted by one statement
-- (postings.services), and that statement's guard checked they balance.
CREATE OR REPLACE FUNCTION ledger_posting_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_event_xid();
    -- The statement's entries grouped once (a batch's thousand postings read
    -- them once, not once per posting).
    INSERT INTO events_event (type, type_version, occurred_at, entity_id, aggregate_type, aggregate_id,
                              aggregate_version, payload)
    SELECT CASE WHEN p.reverses_id IS NULL THEN 'posting.booked' ELSE 'posting.reversed' END, 1, p.created_at,
           p.entity_id, 'posting', coalesce(p.reverses_id, p.serial_no),
           CASE WHEN p.reverses_id IS NULL THEN 1 ELSE 2 END,
           jsonb_build_object(
               'serial_no', p.serial_no, 'source_system', p.source_system, 'request_no', p.request_no,
               'business_type', p.business_type, 'currency', p.currency,
               'accounting_date', p.accounting_date, 'corrects_date', p.corrects_date, 'memo', p.memo,
               'external_ref', p.external_ref, 'trade_no', p.trade_no, 'metadata', p.metadata,
               'posted_by', p.posted_by, 'reverses', p.reverses_id, 'created_at', p.created_at,
               'entries', g.entries)
      FROM (SELECT n.posting_id,
                   jsonb_agg(jsonb_build_object(
                       'serial_no', n.serial_no, 'account_no', a.account_no, 'account_seq', n.account_seq,
                       'direction', n.direction, 'amount', n.amount::text,
                       'balance_before', n.balance_before::text, 'balance_after', n.balance_after::text,
                       'frozen_before', n.frozen_before::text, 'frozen_after', n.frozen_after::text,
                       'pending', n.account_seq IS NULL) ORDER BY n.serial_no) AS entries
              FROM new_entries n JOIN accounts_account a ON a.id = n.account_id
             GROUP BY n.posting_id) AS g
      JOIN postings_posting p ON p.serial_no = g.posting_id
     ORDER BY p.serial_no;
    RETURN NULL;
END $$;

-- entries.applied: the flush gave pending (buffered) entries their place in
-- the account's chain; one event per account the statement applied.
CREATE OR REPLACE FUNCTION ledger_entries_applied_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_event_emit(
        'entries.applied', a.entity_id, 'account', a.id,
        jsonb_build_object('account_no', a.account_no, 'currency', a.currency, 'entries', g.entries))
      FROM (SELECT n.account_id,
                   jsonb_agg(jsonb_build_object(
                       'serial_no', n.serial_no, 'posting', n.posting_id, 'account_seq', n.account_seq,
                       'direction', n.direction, 'amount', n.amount::text,
                       'balance_before', n.balance_before::text, 'balance_after', n.balance_after::text)
                       ORDER BY n.account_seq) AS entries
              FROM new_entries n
             WHERE n.account_seq IS NOT NULL
             GROUP BY n.account_id) AS g
      JOIN accounts_account a ON a.id = g.account_id
     ORDER BY a.id;
    RETURN NULL;
END $$;

-- hold.placed / settled / released / expired, one per hold event.
CREATE OR REPLACE FUNCTION ledger_hold_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    h record;
BEGIN
    SELECT x.id, x.amount, x.account_id, x.expires_at, x.reason, x.source_system, x.request_no, x.trade_no,
           x.metadata, a.account_no, a.currency, a.entity_id
      INTO h
      FROM postings_hold x JOIN accounts_account a ON a.id = x.account_id
     WHERE x.id = NEW.hold_id;
    PERFORM ledger_event_emit(
        CASE NEW.kind WHEN 'freeze' THEN 'hold.placed' WHEN 'settle' THEN 'hold.settled'
                      WHEN 'release' THEN 'hold.released' ELSE 'hold.expired' END,
        h.entity_id, 'hold', NEW.hold_id,
        jsonb_build_object(
            'hold_id', NEW.hold_id, 'account_no', h.account_no, 'currency', h.currency,
            'hold_amount', h.amount::text, 'amount', NEW.amount::text,
            -- What is left after this event: the hold's amount less every
            -- settlement, release and expiry so far (this one included).
            'remaining', (h.amount - coalesce((SELECT sum(e.amount) FROM postings_holdevent e
                                                WHERE e.hold_id = NEW.hold_id AND e.kind <> 'freeze'
                                                  AND e.id <= NEW.id), 0))::text,
            'frozen_before', NEW.frozen_before::text, 'frozen_after', NEW.frozen_after::text,
            'posting', NEW.posting_id, 'reason', h.reason, 'expires_at', h.expires_at,
            'hold_source_system', h.source_system, 'hold_request_no', h.request_no,
            'trade_no', h.trade_no, 'metadata', h.metadata,
            'source_system', NEW.source_system, 'request_no', NEW.request_no, 'actor', NEW.actor,
            'created_at', NEW.created_at));
    RETURN NULL;
END $$;

-- account.status_changed and account.limit_changed. The trigger fires only
-- for an UPDATE that names status or credit_limit, so a posting's balance
-- write (ledger_balances_write) never runs it.
CREATE OR REPLACE FUNCTION ledger_account_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IS DISTINCT FROM NEW.status THEN
        PERFORM ledger_event_emit('account.status_changed', NEW.entity_id, 'account', NEW.id,
                                  jsonb_build_object('account_no', NEW.account_no, 'from_status', OLD.status,
                                                     'to_status', NEW.status, 'changed_at', now()));
    END IF;
    IF OLD.credit_limit IS DISTINCT FROM NEW.credit_limit THEN
        PERFORM ledger_event_emit('account.limit_changed', NEW.entity_id, 'account', NEW.id,
                                  jsonb_build_object('account_no', NEW.account_no, 'currency', NEW.currency,
                                                     'from_limit', OLD.credit_limit::text,
                                                     'to_limit', NEW.credit_limit::text, 'changed_at', now()));
    END IF;
    RETURN NULL;
END $$;

-- withdrawal.status_changed, one per history row (withdrawals/sql/guards.sql
-- holds every status change to one).
CREATE OR REPLACE FUNCTION ledger_withdrawal_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    w record;
BEGIN
    SELECT x.id, x.entity_id, x.source_system, x.request_no, x.currency, x.amount, x.fee, x.hold_id,
           x.settlement_id, x.card_masked, x.trade_no, x.metadata, a.account_no, m.member_no
      INTO w
      FROM withdrawals_withdrawal x
      JOIN accounts_account a ON a.id = x.account_id
      JOIN accounts_member m ON m.id = x.member_id
     WHERE x.id = NEW.withdrawal_id;
    PERFORM ledger_event_emit(
        'withdrawal.status_changed', w.entity_id, 'withdrawal', NEW.withdrawal_id,
        jsonb_build_object(
            'withdrawal_id', NEW.withdrawal_id, 'source_system', w.source_system, 'request_no', w.request_no,
            'member_no', w.member_no, 'account_no', w.account_no, 'currency', w.currency,
            'amount', w.amount::text, 'fee', w.fee::text, 'hold_id', w.hold_id, 'card_masked', w.card_masked,
            'trade_no', w.trade_no, 'metadata', w.metadata,
            'from_status', nullif(NEW.from_status, ''), 'to_status', NEW.to_status, 'actor', NEW.actor,
            'reason', NEW.reason, 'bank_ref', NEW.bank_ref, 'instruction_id', NEW.instruction_id,
            'at', NEW.at));
    RETURN NULL;
END $$;

-- Numbering (see the top of this file). Returns how many events it numbered.
CREATE OR REPLACE FUNCTION ledger_events_sequence() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    st events_sequencerstate;
    ready boolean;
    numbered bigint := 0;
    bound bigint;
BEGIN
    -- 0x45565453: "EVTS". Another sequencer is at work: nothing to do here.
    IF NOT pg_try_advisory_xact_lock(1163285587) THEN
        RETURN 0;
    END IF;
    -- The advisory lock above is what makes this call the only sequencer.
    SELECT * INTO st FROM events_sequencerstate ORDER BY id LIMIT 1;
    IF NOT FOUND THEN
        INSERT INTO events_sequencerstate (last_seq, done_id, next_bound, next_snapshot, updated_at)
        VALUES (0, 0, NULL, '', now()) RETURNING * INTO st;
    END IF;
    IF st.next_bound IS NOT NULL THEN
        -- Over, in this statement's snapshot: committed or rolled back.
        -- Snapshots list the transactions of every database of the server;
        -- one whose backend is connected to another database writes no
        -- event here and is not waited for (a backend's database never
        -- changes; one this role may not see is waited for).
        SELECT coalesce(bool_and(pg_visible_in_snapshot(x, pg_current_snapshot())), true) INTO ready
          FROM pg_snapshot_xip(st.next_snapshot::pg_snapshot) AS x
         WHERE (x::text::bigint & 4294967295) NOT IN (
                   SELECT a.backend_xid::text::bigint FROM pg_stat_activity a
                    WHERE a.backend_xid IS NOT NULL AND a.datname IS DISTINCT FROM current_database());
        IF ready THEN
            -- A later statement, a later snapshot: those transactions are over in it too.
            WITH todo AS (
                SELECT e.id, st.last_seq + row_number() OVER (ORDER BY e.id) AS seq
                  FROM events_event e
                 WHERE e.id > st.done_id AND e.id <= st.next_bound AND e.seq IS NULL
            )
            UPDATE events_event e SET seq = todo.seq FROM todo WHERE e.id = todo.id;
            GET DIAGNOSTICS numbered = ROW_COUNT;
            st.last_seq := st.last_seq + numbered;
            st.done_id := st.next_bound;
            st.next_bound := NULL;
        END IF;
    END IF;
    IF st.next_bound IS NULL THEN
        -- First the last id drawn, then (a later statement) the snapshot.
        SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('events_event', 'id')::regclass), 0)
          INTO bound;
        IF bound > st.done_id THEN
            st.next_bound := bound;
            SELECT pg_current_snapshot()::text INTO st.next_snapshot;
        END IF;
    END IF;
    -- Written only when something moved: an idle relay calls this often.
    UPDATE events_sequencerstate
       SET last_seq = st.last_seq, done_id = st.done_id, next_bound = st.next_bound,
           next_snapshot = coalesce(st.next_snapshot, ''), updated_at = now()
     WHERE id = st.id
       AND (last_seq, done_id, next_bound, next_snapshot)
           IS DISTINCT FROM (st.last_seq, st.done_id, st.next_bound, coalesce(st.next_snapshot, ''));
    RETURN numbered;
END $$;

-- An event is never edited: the sequencer gives it its number once. It is
-- deleted only numbered and older than a week (the retention job archives
-- it first, events.services.events_archive; the retention is never shorter).
CREATE OR REPLACE FUNCTION ledger_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.seq IS NULL OR OLD.occurred_at > now() - interval '7 days' THEN
            RAISE EXCEPTION 'event % is kept: only numbered events older than 7 days are archived', OLD.id
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.seq IS NOT NULL OR NEW.seq IS NULL
       OR (NEW.id, NEW.type, NEW.type_version, NEW.occurred_at, NEW.entity_id, NEW.aggregate_type,
           NEW.aggregate_id, NEW.aggregate_version, NEW.payload)
          IS DISTINCT FROM
          (OLD.id, OLD.type, OLD.type_version, OLD.occurred_at, OLD.entity_id, OLD.aggregate_type,
           OLD.aggregate_id, OLD.aggregate_version, OLD.payload)
    THEN
        RAISE EXCEPTION 'event % is append-only: only its sequence number is given, once', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS event_append_only ON events_event;
CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON events_event
    FOR EACH ROW EXECUTE FUNCTION ledger_event_guard();

DROP TRIGGER IF EXISTS posting_events ON postings_entry;
CREATE TRIGGER posting_events AFTER INSERT ON postings_entry
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_posting_events();
DROP TRIGGER IF EXISTS entries_applied_events ON postings_entry;
CREATE TRIGGER entries_applied_events AFTER UPDATE ON postings_entry
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_applied_events();
DROP TRIGGER IF EXISTS hold_events ON postings_holdevent;
CREATE TRIGGER hold_events AFTER INSERT ON postings_holdevent
    FOR EACH ROW EXECUTE FUNCTION ledger_hold_events();
DROP TRIGGER IF EXISTS account_events ON accounts_account;
CREATE TRIGGER account_events AFTER UPDATE OF status, credit_limit ON accounts_account
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.credit_limit IS DISTINCT FROM NEW.credit_limit)
    EXECUTE FUNCTION ledger_account_events();
DROP TRIGGER IF EXISTS withdrawal_events ON withdrawals_withdrawalevent;
CREATE TRIGGER withdrawal_events AFTER INSERT ON withdrawals_withdrawalevent
    FOR EACH ROW EXECUTE FUNCTION ledger_withdrawal_events();
