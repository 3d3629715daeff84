-- The entries' hash chain (issue 22 section 5; docs/hash_chain.md says it
-- for an outsider who recomputes it): each applied entry carries
--
--     entry_hash = sha256(utf8(ledger_entry_content(entry)) || previous hash)
--
-- where the previous hash is that of the entry before it on its account
-- (account_seq - 1), and 32 zero bytes for an account's first entry. So an
-- entry's hash seals its content and, through the previous one, the whole
-- of its account's history: changing any entry changes the hash of every
-- entry after it, and the chain heads that the day's close certificate seals.
--
-- One home for the content and the digest (the two functions below). The
-- row trigger on postings_entry computes the hash wherever an entry is
-- inserted (ledger_post, ledger_post_batch, the full path, a raw INSERT),
-- overwriting what the writer supplied, so a hash is never wrong because a
-- caller said so. A pending entry (account_seq NULL) has no place yet, hence
-- no hash. When the flush gives a batch of pending entries their places,
-- ledger_entries_apply computes their hashes in sequence order with the same
-- functions and writes them in its one UPDATE; the chain guard
-- (ledger_entries_check, guards.sql) recomputes each at the end of that
-- statement and refuses any that is wrong or missing.
--
-- Cost on the posting path: one probe of the (account_id, account_seq)
-- unique index (entry_unique_account_seq) per inserted applied entry, for
-- the previous entry's hash, and one sha256 of about 150 bytes. At the flush:
-- one probe per batch and two sha256 per entry (computed, then checked).

-- The canonical content: fields joined with '|', amounts as the shortest
-- plain decimal (trim_scale: 100, 12.5, -0.01), the accounting date as
-- YYYY-MM-DD and created_at in UTC with microseconds, none of which depends
-- on the session's DateStyle or time zone.
CREATE OR REPLACE FUNCTION ledger_entry_content(e postings_entry) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT concat_ws('|', 'ledger-entry-v1', e.serial_no::text, e.posting_id::text, e.account_id::text,
                     e.account_seq::text, e.direction, trim_scale(e.amount)::text, e.currency,
                     trim_scale(e.balance_before)::text, trim_scale(e.balance_after)::text,
                     trim_scale(e.frozen_before)::text, trim_scale(e.frozen_after)::text, e.business_type,
                     to_char(e.accounting_date, 'YYYY-MM-DD'),
                     to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
$$;

CREATE OR REPLACE FUNCTION ledger_entry_digest(e postings_entry, previous bytea) RETURNS bytea LANGUAGE sql STABLE AS $$
    SELECT sha256(convert_to(ledger_entry_content(e), 'UTF8') || previous)
$$;

-- BEFORE INSERT, and BEFORE UPDATE. An entry whose previous one is not
-- there (yet) is left without a hash rather than hashed on a guess: at the
-- end of the statement the chain guard (ledger_entries_check, guards.sql)
-- refuses it, as a gap when the previous entry is still missing, as an entry
-- without a hash when the statement wrote its previous entry after it. A
-- previous entry without a hash can only have been written with the
-- triggers switched off: it is chained on as a first entry would be, and the
-- verifier names it.
--
-- An UPDATE applying a pending entry (the only one entry_applied_once, which
-- fires first, lets through) keeps the hash it supplies: a row cannot see a
-- previous entry applied by the same statement and not processed yet, so the
-- batch's hashes come with the UPDATE (ledger_entries_apply) and the chain
-- guard checks them once every row is written. An UPDATE of an applied entry
-- happens only with entry_applied_once off (the owner re-chaining entries,
-- migration 0027's backfill): it is hashed here, as an insert is.
CREATE OR REPLACE FUNCTION ledger_entry_hash() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous bytea;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.account_seq IS NULL THEN
        RETURN NEW;
    END IF;
    IF NEW.account_seq IS NULL THEN
        NEW.entry_hash := NULL;
        RETURN NEW;
    END IF;
    IF NEW.account_seq = 1 THEN
        previous := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    ELSE
        SELECT p.entry_hash INTO previous
          FROM postings_entry p
         WHERE p.account_id = NEW.account_id AND p.account_seq = NEW.account_seq - 1;
        IF NOT FOUND THEN
            NEW.entry_hash := NULL;
            RETURN NEW;
        END IF;
        previous := coalesce(previous, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    END IF;
    NEW.entry_hash := ledger_entry_digest(NEW, previous);
    RETURN NEW;
END $$;

-- The flush's application of a batch of pending entries (postings.services.
-- buffers), given in sequence order: their hashes are chained here, in that
-- order, from the hash of the entry before each run of consecutive seqs of
-- an account (read once for a flush's batch), then every row is written by
-- one UPDATE, so the statement triggers (the chain guard, the entries.applied
-- event) fire once per batch. Returns how many were applied (fewer than
-- given: some were applied meanwhile, and the caller rolls back).
CREATE OR REPLACE FUNCTION ledger_entries_apply(
    p_serials bigint[], p_seqs bigint[], p_befores numeric[], p_afters numeric[], p_frozen numeric
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r record;
    e postings_entry;
    previous bytea;
    last_account bigint;
    last_seq bigint;
    hashes bytea[] := '{}';
    applied integer;
BEGIN
    FOR r IN SELECT x AS entry, u.i
               FROM unnest(p_serials) WITH ORDINALITY AS u(serial_no, i)
               JOIN postings_entry x ON x.serial_no = u.serial_no
              ORDER BY u.i LOOP
        e := r.entry;
        e.account_seq := p_seqs[r.i];
        e.balance_before := p_befores[r.i];
        e.balance_after := p_afters[r.i];
        e.frozen_before := p_frozen;
        e.frozen_after := p_frozen;
        IF e.account_id IS DISTINCT FROM last_account OR e.account_seq IS DISTINCT FROM last_seq + 1 THEN
            IF e.account_seq = 1 THEN
                previous := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
            ELSE
                -- Not found: no hash (NULL) rather than one on a guess; the
                -- guard refuses the gap.
                SELECT p.entry_hash INTO previous
                  FROM postings_entry p
                 WHERE p.account_id = e.account_id AND p.account_seq = e.account_seq - 1;
                IF FOUND THEN
                    previous := coalesce(previous, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
                END IF;
            END IF;
        END IF;
        previous := ledger_entry_digest(e, previous);
        hashes[r.i] := previous;
        last_account := e.account_id;
        last_seq := e.account_seq;
    END LOOP;

    UPDATE postings_entry x
       SET account_seq = u.seq, balance_before = u.before, balance_after = u.after,
           frozen_before = p_frozen, frozen_after = p_frozen, entry_hash = u.hash
      FROM unnest(p_serials, p_seqs, p_befores, p_afters, hashes) AS u(serial_no, seq, before, after, hash)
     WHERE x.serial_no = u.serial_no AND x.account_seq IS NULL;
    GET DIAGNOSTICS applied = ROW_COUNT;
    RETURN applied;
END $$;

DROP TRIGGER IF EXISTS entry_hash_chained ON postings_entry;
CREATE TRIGGER entry_hash_chained BEFORE INSERT OR UPDATE ON postings_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_hash();
