"""The accounts of a posting locked in one statement, with their open day
and the leg rules' answers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection

from accounts.exceptions import UnknownAccount
from accounts.models import Account, Entity

from .db import _hot_cursor
from .drafts import _DIRECTIONS, _Draft

# The account columns come out of the locking CTE itself: after waiting for
# a lock, only the rows the lock returns are the latest versions (another
# read of accounts_account in the same statement would see the statement's
# snapshot, from before the wait). The same rows answer the leg rules
# (posting_rules.sql) for the legs of the postings to be written: one code or
# NULL per leg, in the order given, with each posting's entity and currency
# its first leg's account's (or the currency asked).
_LOCK_SQL = """
WITH locked AS (
    SELECT {account_columns} FROM accounts_account a
     WHERE a.account_no = ANY(%s::text[]) AND a.posting_mode = 'realtime'
     ORDER BY a.id
       FOR NO KEY UPDATE
), chosen AS (
    SELECT * FROM locked
     UNION ALL
    SELECT {account_columns} FROM accounts_account a
     WHERE a.account_no = ANY(%s::text[]) AND a.posting_mode <> 'realtime'
), calendar AS (
    SELECT c.entity_id, c.open_date FROM postings_accountingcalendar c
     WHERE c.entity_id IN (SELECT entity_id FROM chosen)
       FOR KEY SHARE
), asked AS (
    SELECT q.ord, ledger_leg_refusal(
               first_value(c.entity_id) OVER posting,
               coalesce(nullif(q.currency, ''), first_value(c.currency) OVER posting),
               c.entity_id, c.currency, c.status, c.posting_mode, c.category, c.allow_negative,
               nullif(q.direction, ''), q.settling_hold) AS code
      FROM unnest(%s::int[], %s::text[], %s::text[], %s::boolean[], %s::text[]) WITH ORDINALITY
           AS q(posting, account_no, direction, settling_hold, currency, ord)
      LEFT JOIN chosen c ON c.account_no = q.account_no
    WINDOW posting AS (PARTITION BY q.posting ORDER BY q.ord)
)
SELECT chosen.*, {entity_columns}, calendar.open_date, (SELECT array_agg(code ORDER BY ord) FROM asked)
  FROM chosen
  JOIN accounts_entity ent ON ent.id = chosen.entity_id
  LEFT JOIN calendar ON calendar.entity_id = chosen.entity_id
"""


def _lock_accounts(
    account_nos: Iterable[str], drafts: Sequence[_Draft] = ()
) -> tuple[dict[str, Account], list[list[str | None]]]:
    """The accounts of a posting, real-time ones locked ``FOR NO KEY UPDATE``
    in id order (the sort runs below the lock, so rows are locked in that
    order and two postings can never deadlock). Buffered (hot) accounts are
    read without a lock: their legs only append pending entries.

    One statement also takes the entities' calendar rows ``FOR KEY SHARE``
    after the accounts (postings.services.calendar: the day cut waits for this
    transaction) and hands each account its open day as
    ``account.open_date``, and answers the leg rules for the legs of each
    of ``drafts``: the second value, one list of codes (None: allowed) per
    draft. One round trip."""
    account_nos = set(account_nos)
    asks: list[list] = [[], [], [], [], []]
    for n, draft in enumerate(drafts):
        for i, leg in enumerate(draft.legs):
            key = str(getattr(leg.direction, "value", leg.direction)).strip().upper()
            for column, value in zip(
                asks, (n, str(leg.account_no), _DIRECTIONS.get(key, ""), i == draft.hold_leg, draft.currency or "")
            ):
                column.append(value)
    accounts, codes = _lock_accounts_in_one_statement(sorted(account_nos), asks)
    missing = sorted(account_nos - accounts.keys())
    if missing:
        raise UnknownAccount(f"No account {', '.join(missing)}.", account_no=",".join(missing))
    refusals, at = [], 0
    for draft in drafts:
        refusals.append(codes[at : at + len(draft.legs)])
        at += len(draft.legs)
    return accounts, refusals


def _lock_accounts_in_one_statement(account_nos: list[str], asks: list[list]) -> tuple[dict[str, Account], list]:
    account_fields = [f.attname for f in Account._meta.concrete_fields]
    entity_fields = [f.attname for f in Entity._meta.concrete_fields]
    sql = _LOCK_SQL.format(
        account_columns=", ".join(f"a.{c}" for c in account_fields),
        entity_columns=", ".join(f"ent.{c}" for c in entity_fields),
    )
    accounts, codes = {}, []
    with _hot_cursor() as cursor:
        cursor.execute(sql, [account_nos, account_nos, *asks], prepare=True)
        for row in cursor.fetchall():
            account = Account.from_db(connection.alias, account_fields, row[: len(account_fields)])
            account.entity = Entity.from_db(connection.alias, entity_fields, row[len(account_fields) : -2])
            account.open_date = row[-2]
            accounts[account.account_no] = account
            codes = row[-1] or []
    return accounts, codes
