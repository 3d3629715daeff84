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
-- One home: a row trigger on postings_entry computes it wherever an entry
-- is written (ledger_post, ledger_post_batch, the full path, a raw INSERT)
-- and when a pending buffered entry gets its place in the chain (the
-- flush's UPDATE). What a writer supplies is always overwritten, so a hash
-- is never wrong because a caller said so. A pending entry
-- (account_seq NULL) has no place yet, hence no hash.
--
-- Cost on the posting path: one probe of the (account_id, account_seq)
-- unique index (entry_unique_account_seq) per applied entry, for the
-- previous entry's hash, and one sha256 of about 150 bytes.

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

-- BEFORE INSERT, and BEFORE UPDATE (whose only allowed form, by
-- entry_applied_once which fires first, is the flush applying a pending
-- entry). An entry whose previous one is not there (yet) is left without a
-- hash rather than hashed on a guess: at the end of the statement the chain
-- guard (ledger_entries_check, guards.sql) refuses it, as a gap when the
-- previous entry is still missing, as an entry without a hash when the
-- statement wrote its previous entry after it. A previous entry without a
-- hash can only have been written with the triggers switched off: it is
-- chained on as a first entry would be, and the verifier names it.
CREATE OR REPLACE FUNCTION ledger_entry_hash() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous bytea;
BEGIN
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

-- The flush's application of a batch of pending entries of one account, in
-- sequence order: each entry's hash needs the previous one's, so the rows
-- are updated one by one in that order (one UPDATE of the whole batch would
-- visit them in whatever order its join produced). Returns how many were
-- applied (fewer than given: some were applied meanwhile).
CREATE OR REPLACE FUNCTION ledger_entries_apply(
    p_serials bigint[], p_seqs bigint[], p_befores numeric[], p_afters numeric[], p_frozen numeric
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    applied integer := 0;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_serials, 1), 0) LOOP
        UPDATE postings_entry
           SET account_seq = p_seqs[i], balance_before = p_befores[i], balance_after = p_afters[i],
               frozen_before = p_frozen, frozen_after = p_frozen
         WHERE serial_no = p_serials[i] AND account_seq IS NULL;
        IF FOUND THEN
            applied := applied + 1;
        END IF;
    END LOOP;
    RETURN applied;
END $$;

DROP TRIGGER IF EXISTS entry_hash_chained ON postings_entry;
CREATE TRIGGER entry_hash_chained BEFORE INSERT OR UPDATE ON postings_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_hash();
