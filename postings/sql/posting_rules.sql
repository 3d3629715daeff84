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

-- Business types that may take a credit line beyond its limit: the daily
-- interest and penalty (罚息) accrued on what is overdue (postings.credit) are
-- owed whatever the limit, and refusing them would only hide what the member owes.
CREATE OR REPLACE FUNCTION ledger_accrues_beyond_limit(p_business_type text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(p_business_type IN ('credit_interest', 'credit_penalty'), false)
$$;

-- An account's balance and frozen amount after a posting (or a hold): the
-- sign rule. For a credit line (asset) "used" is balance + frozen:
--   repaid_beyond_owed   a credit line below zero;
--   insufficient_funds   less available than zero: for a credit line, used above the limit after a
--                        posting or hold that raised it (p_used_before: balance + frozen before it),
--                        except by an accrual (ledger_accrues_beyond_limit); for the others,
--                        balance - frozen below zero.
-- A credit line may stand above its limit: the limit was lowered below what is used (issue 21: allowed,
-- and it stops new purchases), or interest accrued. What lowers it (a repayment, a refund, a hold's
-- settlement, which moves frozen into the balance) is then never refused for the limit. The accounts'
-- CHECK account_available_not_negative keeps the rest of the rule for the database, and the deferred
-- trigger account_within_credit_limit (credit_limit.sql) the limit, for any write.
-- An account that may go negative is never refused.
DROP FUNCTION IF EXISTS ledger_balance_refusal(text, boolean, numeric, numeric, numeric);
CREATE OR REPLACE FUNCTION ledger_balance_refusal(
    p_category text, p_allow_negative boolean, p_balance numeric, p_frozen numeric, p_credit_limit numeric,
    p_used_before numeric, p_business_type text
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_allow_negative THEN NULL
        WHEN p_category = 'asset' AND p_balance < 0 THEN 'repaid_beyond_owed'
        WHEN p_category = 'asset' AND p_credit_limit - p_balance - p_frozen < 0
             AND p_balance + p_frozen > coalesce(p_used_before, 0)
             AND NOT ledger_accrues_beyond_limit(p_business_type)
            THEN 'insufficient_funds'
        WHEN p_category <> 'asset' AND p_balance - p_frozen < 0 THEN 'insufficient_funds'
    END
$$;
