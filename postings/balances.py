"""The one writer of an account's balance, frozen amount and entry sequence
(issue 17, section 3).

Every write of ``accounts_account.balance``, ``frozen`` or ``entry_seq`` is
one call of the database function ``ledger_balances_write``
(postings/sql/balances.sql): ledger_post and ledger_post_batch call it in the
database, and Python calls it through this module only, for the full path's
postings and batches (postings.services), a hold's frozen amount
(placed, settled, released) and the flush of buffered accounts
(postings.services.buffers). The caller holds the accounts' row locks and passes the
accounts as it wants them written, every one of the three values, so the
write is the same whoever asks; the accounts' CHECK constraints judge it.

The sign rule that may refuse a new balance or frozen amount is
posting_rules.sql's (``ledger_balance_refusal``); ``frozen_write`` asks it
in the same statement as it writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from accounts.models import Account

# The call, as a fragment of a larger statement (postings.services writes a
# posting, its entries and its balances in one statement): four array
# parameters, the ids, balances, frozen amounts and entry sequences.
WRITE_CALL = "ledger_balances_write(%s::bigint[], %s::numeric[], %s::numeric[], %s::bigint[])"

_FROZEN_WRITE_SQL = f"""
    WITH refused AS (
        SELECT ledger_balance_refusal(a.category, a.allow_negative, %s::numeric, %s::numeric, a.credit_limit,
                                      a.balance + a.frozen, NULL) AS code
          FROM accounts_account a WHERE a.id = %s
    ), written AS (
        SELECT {WRITE_CALL} AS n WHERE (SELECT code FROM refused) IS NULL
    )
    SELECT (SELECT code FROM refused), (SELECT n FROM written)
"""


def write_arrays(accounts: Sequence[Account]) -> list[list]:
    """The parameters of WRITE_CALL for these accounts."""
    return [
        [a.pk for a in accounts],
        [a.balance for a in accounts],
        [a.frozen for a in accounts],
        [a.entry_seq for a in accounts],
    ]


def balances_write(accounts: Sequence[Account], *, cursor=None) -> None:
    """Write the locked accounts' balance, frozen amount and entry sequence
    as they are in memory: one statement. ``cursor``: the caller's, e.g. one
    that prepares statements (postings.services.db._hot_cursor)."""
    if not accounts:
        return
    if cursor is not None:
        cursor.execute(f"SELECT {WRITE_CALL}", write_arrays(accounts), prepare=True)
        return
    with connection.cursor() as own:
        own.execute(f"SELECT {WRITE_CALL}", write_arrays(accounts))


def frozen_write(account: Account) -> str | None:
    """Write the locked account's new frozen amount (``account.frozen``),
    unless the sign rule refuses it: then write nothing and return its code."""
    params = [account.balance, account.frozen, account.pk, *write_arrays([account])]
    with connection.cursor() as cursor:
        cursor.execute(_FROZEN_WRITE_SQL, params)
        return cursor.fetchone()[0]
