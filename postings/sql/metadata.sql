-- ledger_metadata_refusal(): what the CHECK constraints of postings, holds
-- and withdrawals refuse in a metadata object, the rules of
-- accounts.kernel.metadata stated again for rows written without Python
-- (the constants must stay in step; tests/postings/test_references.py forges
-- rows at each limit). NULL when the object is fine, else which rule it breaks.
-- A flat object; at most 50 keys, each 1-64 of [A-Za-z0-9_.-]; each value a
-- string of at most 500 characters; keys and values at most 4096 bytes.
CREATE OR REPLACE FUNCTION ledger_metadata_refusal(p jsonb) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN jsonb_typeof(p) <> 'object' THEN 'not_an_object'
        WHEN (SELECT count(*) FROM jsonb_object_keys(p)) > 50 THEN 'too_many_keys'
        WHEN EXISTS (SELECT FROM jsonb_object_keys(p) AS k WHERE k !~ '^[A-Za-z0-9_.-]{1,64}$') THEN 'key'
        WHEN EXISTS (SELECT FROM jsonb_each(p) AS e
                      WHERE jsonb_typeof(e.value) <> 'string' OR char_length(e.value #>> '{}') > 500) THEN 'value'
        WHEN (SELECT sum(octet_length(e.key) + octet_length(e.value #>> '{}')) FROM jsonb_each(p) AS e) > 4096
            THEN 'too_large'
    END
$$;
