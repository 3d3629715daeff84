-- The rules a posting must satisfy, stated once (issue 17, section 2).
--
-- Every path that writes a posting asks these functions and nothing else:
-- ledger_post and ledger_post_batch (the one call) call them in their own
-- statements; the service's full path (postings.services) gets the leg
-- refusals from the statement that locks the accounts and the balance
-- refusals from the statement that writes the posting (or checks a batch),
-- so a rule costs no round trip of its own. They answer with a stable code
-- (NULL: allowed), which the service turns into its LedgerError
-- (postings.services, _refusal). A new rule or a changed one is an edit here
-- and a migration that loads this file (postings/sql/__init__.py).
--
-- Both are plain SQL, IMMUTABLE: the planner inlines them into the query
-- that calls them.

-- One leg on one account, in the order the service reports them:
--   cross_entity            the account is in another entity than the posting's (its first leg's);
--   currency_mismatch       the account is in another currency than the posting's;
--   account_closed          the account is closed;
--   account_blocked         the account's status refuses the leg's direction (a debit that settles a
--                           hold placed before a debit block is allowed: the money was committed);
--   buffered_debit_refused  a buffered (hot) account's leg that lowers its balance, unless the account
--                           may go negative (the flush applies it later, without a balance check).
-- A NULL direction (not one the caller could state) passes the direction rules.
CREATE OR REPLACE FUNCTION ledger_leg_refusal(
    p_posting_entity_id bigint, p_posting_currency text,
    p_entity_id bigint, p_currency text, p_status text, p_posting_mode text, p_category text,
    p_allow_negative boolean, p_direction text, p_settling_hold boolean
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_entity_id <> p_posting_entity_id THEN 'cross_entity'
        WHEN p_currency <> p_posting_currency THEN 'currency_mismatch'
        WHEN p_status = 'closed' THEN 'account_closed'
        WHEN p_direction = 'D' AND p_status IN ('debit_blocked', 'blocked') AND NOT p_settling_hold
            THEN 'account_blocked'
        WHEN p_direction = 'C' AND p_status IN ('credit_blocked', 'blocked') THEN 'account_blocked'
        WHEN p_posting_mode = 'buffered' AND NOT p_allow_negative
             AND p_direction <> CASE WHEN p_category = 'asset' THEN 'D' ELSE 'C' END
            THEN 'buffered_debit_refused'
    END
$$;

-- An account's balance and frozen amount after a posting (or a hold): the
-- sign rule, as the accounts' CHECK account_available_not_negative states it
-- for the database (that CHECK stays, the backstop of any write):
--   repaid_beyond_owed   a credit line (asset) below zero;
--   insufficient_funds   less available than zero: limit - used - frozen for a credit line,
--                        balance - frozen for the others.
-- An account that may go negative is never refused.
CREATE OR REPLACE FUNCTION ledger_balance_refusal(
    p_category text, p_allow_negative boolean, p_balance numeric, p_frozen numeric, p_credit_limit numeric
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_allow_negative THEN NULL
        WHEN p_category = 'asset' AND p_balance < 0 THEN 'repaid_beyond_owed'
        WHEN p_category = 'asset' AND p_credit_limit - p_balance - p_frozen < 0 THEN 'insufficient_funds'
        WHEN p_category <> 'asset' AND p_balance - p_frozen < 0 THEN 'insufficient_funds'
    END
$$;
