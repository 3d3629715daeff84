"""The posting service: the only code that changes a balance or writes an entry.

Design overview
---------------
Sign convention (借/贷). Every account has a normal side: asset accounts
(credit lines, what customers owe us) are debit-normal; liability accounts
(customer cash, what we owe) and internal accounts (内部户: channel clearing,
fee income, escrow, coupons) are credit-normal. A leg on the normal side
raises the balance, a leg on the other side lowers it. Balances are stored
on the normal side, so a wallet holding 100 has balance +100 and a credit line
with 30 used has balance +30. Every posting has equal debits and credits, so
per entity and currency, at every commit::

    sum(asset balances) = sum(liability balances) + sum(internal balances)

One posting, one transaction. ``posting_create`` validates, inserts the
posting row (the unique ``(source_system, request_no)`` key makes a concurrent
duplicate wait and then fail, so it is answered with the original), locks
every touched account ``FOR NO KEY UPDATE`` in id order (so two postings that
touch the same accounts can never deadlock), computes each entry's balance
before and after from the locked rows, refuses anything that would take an
account below what it may use, and writes entries and balances. PostgreSQL
re-checks at COMMIT that the entries balance and that no account breaks its
sign rule (see ``postings.models`` and ``accounts.models``). A posting its
accounts plainly allow is written by one call of the database function
``ledger_post`` instead, which does the same writes under the same locks and
constraints; anything else takes the path above ("One call" below).

Holds (冻结). A hold reserves an amount for a later debit: ``frozen`` rises,
``balance`` does not, available (balance - frozen; for credit lines
limit - used - frozen) drops. Settling turns (part of) the hold into a posting
whose debit on the held account lowers balance and frozen together, so
available does not move. Releasing lowers frozen. A hold that is settled,
released or expired cannot be settled again.

Corrections are reversals (冲正): a new posting with every leg's direction
swapped, linked to the original. Nothing is ever updated or deleted.

Idempotency. Every write that moves money carries a request number unique per
source system. The same request again returns the original result and writes
nothing; the same number with different content raises IdempotencyConflict.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TypeVar

import psycopg
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from accounts.exceptions import AccountClosed, InsufficientFunds, UnknownAccount
from accounts.kernel.errors import (
    CurrencyMismatch,
    IdempotencyConflict,
    InvalidAmount,
    LedgerError,
    LedgerValidationError,
)
from accounts.kernel.money import Money, amount_and_places, currencies_with_fewer_places, to_amount
from accounts.kernel.transitions import transition
from accounts.models import Account, Category, Entity
from accounts.selectors import account_get, internal_account_for

from . import balances
from .calendar import accounting_date_for_posting
from .exceptions import (
    AccountBlocked,
    AlreadyReversed,
    BufferedDebitRefused,
    CrossEntityPosting,
    HoldExceeded,
    HoldNotActive,
    ReversalNotAllowed,
    RuleNotConfigured,
    UnbalancedPosting,
    UnknownHold,
    UnknownPosting,
)
from .models import (
    ACTIVE_HOLD_STATUSES,
    HOLD_TRANSITIONS,
    BusinessType,
    Direction,
    Entry,
    Hold,
    HoldEvent,
    HoldStatus,
    Posting,
    PostingRule,
)

DEFAULT_SOURCE = "ledger"
logger = logging.getLogger(__name__)
T = TypeVar("T", bound=Model)


@dataclass(frozen=True)
class Leg:
    """One side of a posting as a caller states it."""

    account_no: str
    direction: str
    amount: Decimal | str | int | Money

    @classmethod
    def debit(cls, account_no: str, amount) -> Leg:
        return cls(account_no, Direction.DEBIT, amount)

    @classmethod
    def credit(cls, account_no: str, amount) -> Leg:
        return cls(account_no, Direction.CREDIT, amount)


_DIRECTIONS = {"D": "D", "DEBIT": "D", "借": "D", "C": "C", "CREDIT": "C", "贷": "C"}


def _direction(value, index: int) -> str:
    key = str(getattr(value, "value", value)).strip().upper()
    if key not in _DIRECTIONS:
        raise LedgerValidationError(f"legs[{index}].direction must be debit or credit, got {value!r}.")
    return _DIRECTIONS[key]


def _canonical_amount(value) -> str:
    """The amount as the fingerprint sees it, so '100', '100.00' and
    Decimal('100.0') are one request; floats are refused here already."""
    if isinstance(value, float):
        raise InvalidAmount("Floats are not accepted for money, pass a Decimal or a string.", amount=value)
    if isinstance(value, Money):
        return f"{value.currency.code}:{_canonical_amount(value.amount)}"
    try:
        return format(Decimal(str(value)).normalize(), "f")
    except InvalidOperation:
        return str(value)


def _fingerprint(**content) -> str:
    blob = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _violated_constraint(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    if diag is not None and diag.constraint_name:
        return diag.constraint_name
    return str(exc)


def _replay(existing: T, fingerprint: str, what: str) -> T:
    if existing.fingerprint != fingerprint:
        raise IdempotencyConflict(
            f"Request {existing.request_no} of {existing.source_system} was already used for a different {what}.",
            request_no=existing.request_no,
        )
    existing.replayed = True
    return existing


def _check_request_no(request_no: str) -> None:
    if not request_no or len(request_no) > 64:
        raise LedgerValidationError("request_no is required (at most 64 characters).", request_no=request_no)


def _idempotent(
    model: type[T],
    *,
    source_system: str,
    request_no: str,
    fingerprint: str,
    what: str,
    write: Callable[[], T],
    extra_conflicts: Callable[[str], None] | None = None,
    look_first: bool = True,
    one_call: Callable[[], T] | None = None,
) -> T:
    """Run ``write`` once per (source_system, request_no).

    The fast path finds an earlier result. ``look_first=False`` skips that
    lookup for a caller whose ``write`` always ends by inserting the
    request's unique row (a posting): a replay then fails on the key, or
    earlier on what the first attempt changed, and is answered below, so a
    new request saves a round trip and a replay costs one more. Two concurrent first attempts are
    settled by the unique key: the second waits for the first, then fails,
    either on the key (IntegrityError) or on what the first one changed (a
    LedgerError: the balance it left is short, the hold it settled is no
    longer active, the posting it reversed is reversed). Either way the
    request was done, and the answer is the first one's result.
    ``extra_conflicts`` turns another violated key into a domain error when
    the request itself was not done. ``one_call`` writes the same result in
    one statement when it can, and raises _FullPath when it cannot (see "One
    call" below); ``write`` then does it.
    """
    _check_request_no(request_no)

    def earlier() -> T | None:
        return model.objects.filter(source_system=source_system, request_no=request_no).first()

    existing = earlier() if look_first else None
    if existing is not None:
        return _replay(existing, fingerprint, what)

    try:
        result = _one_call_or_full_path(one_call, write)
    except LedgerError:
        existing = earlier()
        if existing is None:
            raise
    except IntegrityError as exc:
        existing = earlier()
        if existing is None:
            if extra_conflicts:
                extra_conflicts(_violated_constraint(exc))
            raise
    else:
        result.replayed = False
        return result
    return _replay(existing, fingerprint, what)


def _one_call_or_full_path(one_call: Callable[[], T] | None, write: Callable[[], T]) -> T:
    """``one_call`` when it takes the request (see "One call"), else
    ``write`` in its own transaction (a savepoint in the caller's)."""
    if one_call is not None and _one_call_on():
        try:
            if connection.get_autocommit() and not connection.in_atomic_block:
                return one_call()  # one statement: its own transaction
            with transaction.atomic():  # a savepoint in the caller's transaction
                return one_call()
        except _FullPath as exc:
            _count_full_path(exc.reason)
    with transaction.atomic():
        return write()


@contextmanager
def _hot_cursor():
    """A cursor for the statements every posting runs (lock, write; a batch's
    inserts and balance update): the
    driver's own, with server-side binding, so ``execute(..., prepare=True)``
    makes PostgreSQL parse and plan each statement once per connection instead
    of once per posting, and no parameters are interpolated into the text.
    Driver errors still arrive as Django's (IntegrityError, DataError, ...);
    Django's query log does not see these statements.

    One cursor per connection, kept: a new cursor looks up its parameters'
    dumpers and its columns' loaders afresh, which cost a lone posting about
    100 us of client CPU, more than the rest of the Python around the call.
    A cursor asked for while the kept one is in use is a new one."""
    connection.ensure_connection()
    raw = connection.connection
    with connection.wrap_database_errors:
        if getattr(raw, "_ledger_hot_cursor_busy", False):  # asked for inside another: one of its own
            with psycopg.Cursor(raw) as cursor:
                yield cursor
            return
        kept = getattr(raw, "_ledger_hot_cursor", None)
        if kept is None or kept.closed:
            # connection.connection.cursor() would be Django's ClientCursor, which cannot prepare.
            kept = raw._ledger_hot_cursor = psycopg.Cursor(raw)
        raw._ledger_hot_cursor_busy = True
        try:
            yield kept
        finally:
            raw._ledger_hot_cursor_busy = False


# --------------------------------------------------------------- one call ----
#
# posting_create first tries to write the posting with one call of the
# database function ledger_post (postings/sql/ledger_post.sql), which
# locks the accounts as _LOCK_SQL does, takes the open day under the calendar
# lock, writes the posting, its entries and the balances, and the tables'
# constraints and triggers check it as they check this module's own
# writes. One round trip and no Django model instances: on two cores the
# Python client, not the database, was what limited single postings
# (bench/README.md, "What a posting costs").
#
# The rules: one authority, the database. Whether a posting may be written
# (an account unknown, closed, blocked for the direction, in another currency
# or entity, a buffered leg that lowers a balance, the sign rule) is decided
# by the SQL functions of postings/sql/posting_rules.sql and nowhere else.
# ledger_post and ledger_post_batch ask them in their own statements; the
# full path below asks the same functions in the statement that locks the
# accounts (the leg rules, _LOCK_SQL) and in the statement that writes the
# posting or checks a batch (the sign rule). Each answers with a stable code,
# and _refusal is the one place that turns a code into the LedgerError and
# message the API shows. Why the database: the one call must decide there
# anyway (that is what makes it one round trip), and a rule stated in Python
# too would be a second copy that can drift; the full path's locked reads
# and writes are statements already, so asking the rules in them costs no
# round trip. Python keeps what is about the request rather than the
# accounts: parsing directions and amounts, decimal places, a balanced
# posting, business types, idempotency.
#
# The full path keeps only what the one call does not do: a back-dated
# posting or a correction (its day is checked, postings.calendar), a
# reversal, a hold's settlement (the hold row, and a debit block that does
# not stop a hold placed before it), an entity's first posting (no calendar
# yet), amounts with more decimal places than the account's currency (which
# leg is wrong is in the message), and a batch's item the call did not take.
# Every fall back from a one call to the full path is counted in
# FULL_PATH_FALLBACKS and logged with its reason.
# posting_create_batch does the same for a whole batch with ledger_post_batch
# (postings/sql/ledger_post_batch.sql): the items up to the first one it does
# not take; that item then takes the full path on its own, and the items
# after it a new call (_batch_post).

_FULL_PATH_CONSTRAINTS = {"ledger_post_full_path", "account_available_not_negative"}
# A coded refusal of the rules (posting_rules.sql), raised by ledger_post.
_REFUSAL_SQLSTATE = "LR001"
# Every parameter a str, so that psycopg keys one prepared statement: no
# currency is '', no currency too coarse is '', the arrays are literals.
_ONE_CALL_SQL = (
    "SELECT * FROM ledger_post(%s, %s, %s, %s, NULLIF(%s, ''), %s, %s, %s, %s::text[], %s::text[], "
    "%s::numeric[], string_to_array(NULLIF(%s, ''), ','))"
)

# Falls back from a one call to the full path, by reason (readable by ops and
# tests; per process, since it started).
FULL_PATH_FALLBACKS: Counter[str] = Counter()


class _FullPath(Exception):
    """The posting is not for the one call: take the full path."""

    def __init__(self, reason: str = "unknown"):
        super().__init__(reason)
        self.reason = reason


def _count_full_path(reason: str, n: int = 1) -> None:
    FULL_PATH_FALLBACKS[reason] += n
    logger.info("posting falls back to the full path: %s", reason)


def _one_call_on() -> bool:
    return getattr(settings, "POSTING_ONE_CALL", True)


_BUFFERED_DEBIT_MESSAGE = (
    "Account {} is a buffered (hot) account that may not go negative: a leg that lowers its balance needs a "
    "balance check and cannot be buffered. Make the account real-time, or freeze and settle through a real-time "
    "account."
)


def _refusal(code: str, d: dict) -> LedgerError:
    """The LedgerError of a refusal code of the rules (posting_rules.sql), with
    what its message needs (``d``: from the one call's DETAIL, or from the
    locked accounts on the full path). The only place a code becomes an error."""
    no = d.get("account_no")
    if code == "unknown_account":
        return UnknownAccount(f"No account {no.replace(',', ', ')}.", account_no=no)
    if code == "cross_entity":
        return CrossEntityPosting(
            f"Account {no} is in another accounting entity than {d['first_account_no']}.", account_no=no
        )
    if code == "currency_mismatch":
        return CurrencyMismatch(
            f"legs[{d['leg']}]: account {no} is in {d['account_currency']}, the posting in {d['currency']}.",
            account_no=no,
        )
    if code == "account_closed":
        return AccountClosed(f"Account {no} is closed.", account_no=no)
    if code == "account_blocked":
        sides = "debits" if d["direction"] == Direction.DEBIT else "credits"
        return AccountBlocked(f"Account {no} is {d['status']}: {sides} are not allowed.", account_no=no)
    if code == "buffered_debit_refused":
        return BufferedDebitRefused(_BUFFERED_DEBIT_MESSAGE.format(no), account_no=no)
    if code == "repaid_beyond_owed":
        return InsufficientFunds(f"Account {no} would be repaid beyond what is owed.", account_no=no)
    if code == "insufficient_funds":
        available = d["available"]
        what = "credit line" if d["category"] == Category.ASSET else "available balance"
        return InsufficientFunds(
            f"Account {no}: {what} is short by {-available} {d['account_currency']}.",
            account_no=no,
            available=available,
        )
    raise ValueError(f"unknown refusal code {code!r}")  # a rule added in SQL and not here


def _leg_detail(i: int, account: Account, direction: str | None, currency: str, first: Account) -> dict:
    return {
        "leg": i,
        "account_no": account.account_no,
        "status": account.status,
        "direction": direction,
        "account_currency": account.currency,
        "currency": currency,
        "first_account_no": first.account_no,
    }


def _balance_detail(account: Account) -> dict:
    return {
        "account_no": account.account_no,
        "category": account.category,
        "account_currency": account.currency,
        "available": account.available,
    }


def _one_call_arguments(legs: Sequence[Leg], currency: str | None) -> tuple[list, list, list, str | None, list]:
    """The legs as the function takes them, checked as _validate_legs checks
    what the caller states. Anything doubtful is for the full path, which
    then raises the error it raises for any posting. Without a currency
    (the accounts' own, known only in the call), the amounts' decimal places
    go with the currencies that do not have that many."""
    if not all(isinstance(leg.account_no, str) for leg in legs):
        raise _FullPath("account_no_not_text")
    stated = {leg.amount.currency.code for leg in legs if isinstance(leg.amount, Money)}
    if len(stated) > 1 or (currency is not None and stated - {currency}):
        raise _FullPath("stated_currency")
    # A currency stated by the amounts alone is the posting's. (The full path
    # takes the first account's and refuses the amounts that differ: both
    # refuse with currency_mismatch, the full path possibly at another leg.)
    currency = currency or next(iter(stated), None)
    try:
        directions = [_direction(leg.direction, i) for i, leg in enumerate(legs)]
        if currency is not None:
            amounts = [to_amount(leg.amount, currency, field=f"legs[{i}].amount") for i, leg in enumerate(legs)]
            too_coarse = []
        else:
            parsed = [amount_and_places(leg.amount, field=f"legs[{i}].amount") for i, leg in enumerate(legs)]
            amounts = [amount for amount, _ in parsed]
            too_coarse = list(currencies_with_fewer_places(max(places for _, places in parsed)))
    except LedgerError:
        raise _FullPath("invalid_leg") from None
    debits, credits = _sides(directions, amounts)
    if debits != credits or debits == 0:
        raise _FullPath("unbalanced")
    return [leg.account_no for leg in legs], directions, amounts, currency, too_coarse


def _array_literal(values: Iterable[str]) -> str:
    """A PostgreSQL array literal of text, every element quoted: psycopg's
    own list dumping (a pattern search per element) cost a lone posting
    about 40 us of client CPU."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def _post_in_one_call(
    *,
    source_system: str,
    request_no: str,
    fingerprint: str,
    business_type: str,
    legs: Sequence[Leg],
    posted_by: str,
    memo: str,
    currency: str | None,
    external_ref: str,
) -> Posting:
    account_nos, directions, amounts, currency, too_coarse = _one_call_arguments(legs, currency)
    memo = memo[:255]
    params = [
        source_system,
        request_no,
        fingerprint,
        business_type,
        currency or "",
        memo,
        external_ref,
        posted_by,
        _array_literal(account_nos),
        _array_literal(directions),
        _array_literal(map(str, amounts)),
        ",".join(too_coarse),
    ]
    ((serial_no, accounting_date, created_at, entity_id, currency),) = _call(_ONE_CALL_SQL, params)
    return _written_posting(
        serial_no=serial_no,
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        business_type=business_type,
        entity_id=entity_id,
        currency=currency,
        accounting_date=accounting_date,
        memo=memo,
        external_ref=external_ref,
        posted_by=posted_by,
        created_at=created_at,
    )


def _call(sql: str, params: list, *, binary: bool = False) -> list[tuple]:
    """The rows of one call of ledger_post or ledger_post_batch; the
    LedgerError of a refusal it raises; or _FullPath when it says the full
    path decides."""
    try:
        with _hot_cursor() as cursor:
            cursor.execute(sql, params, prepare=True, binary=binary)
            return cursor.fetchall()
    except IntegrityError as exc:
        constraint = _violated_constraint(exc)
        if constraint in _FULL_PATH_CONSTRAINTS:
            diag = exc.__cause__.diag
            raise _FullPath(diag.message_primary if constraint == "ledger_post_full_path" else constraint) from None
        raise
    except DatabaseError as exc:
        diag = getattr(exc.__cause__, "diag", None)
        if diag is not None and diag.sqlstate == _REFUSAL_SQLSTATE:
            detail = json.loads(diag.message_detail or "{}", parse_float=Decimal, parse_int=Decimal)
            raise _refusal(diag.message_primary, detail) from None
        raise


_POSTING_FIELDS = [f.attname for f in Posting._meta.concrete_fields]


def _written_posting(**row) -> Posting:
    """The Posting a one call wrote, as a query would load it (from_db costs
    less than half of the keyword constructor)."""
    row.update(reverses_id=None, corrects_date=None)
    return Posting.from_db(connection.alias, _POSTING_FIELDS, [row[f] for f in _POSTING_FIELDS])


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


@dataclass(frozen=True)
class _Draft:
    """A posting about to be written, as the leg rules see it."""

    legs: Sequence[Leg]
    currency: str | None = None
    hold_leg: int | None = None


def _lock_accounts(
    account_nos: Iterable[str], drafts: Sequence[_Draft] = ()
) -> tuple[dict[str, Account], list[list[str | None]]]:
    """The accounts of a posting, real-time ones locked ``FOR NO KEY UPDATE``
    in id order (the sort runs below the lock, so rows are locked in that
    order and two postings can never deadlock). Buffered (hot) accounts are
    read without a lock: their legs only append pending entries.

    One statement also takes the entities' calendar rows ``FOR KEY SHARE``
    after the accounts (postings.calendar: the day cut waits for this
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


@dataclass
class _CheckedLeg:
    account: Account
    direction: str
    amount: Decimal


# Refused before the leg's direction and amount are read (the order the
# service has always reported them in).
_ACCOUNT_OF_ANOTHER_POSTING = {"cross_entity", "currency_mismatch"}


def _validate_legs(
    legs: Sequence[Leg], accounts: dict[str, Account], *, currency: str | None, refusals: Sequence[str | None]
) -> tuple[list[_CheckedLeg], str]:
    """The legs parsed, or the first one's error: the rules' refusal codes
    (``refusals``, one per leg, from _lock_accounts) and the request's own
    checks (directions, amounts, a stated currency, balance)."""
    first = accounts[legs[0].account_no]
    currency = currency or first.currency
    checked = []
    for i, leg in enumerate(legs):
        account = accounts[leg.account_no]
        code = refusals[i]
        if code in _ACCOUNT_OF_ANOTHER_POSTING:
            raise _refusal(code, _leg_detail(i, account, None, currency, first))
        if isinstance(leg.amount, Money) and leg.amount.currency.code != currency:
            raise _refusal("currency_mismatch", _leg_detail(i, account, None, currency, first))
        direction = _direction(leg.direction, i)
        amount = to_amount(leg.amount, currency, field=f"legs[{i}].amount")
        if code is not None:
            raise _refusal(code, _leg_detail(i, account, direction, currency, first))
        checked.append(_CheckedLeg(account, direction, amount))
    debits, credits = _sides([leg.direction for leg in checked], [leg.amount for leg in checked])
    if debits != credits or debits == 0:
        raise UnbalancedPosting(
            f"Debits {debits} and credits {credits} {currency} are not equal.", debits=debits, credits=credits
        )
    return checked, currency


def _sides(directions: Sequence[str], amounts: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """Total debits and total credits of a posting's legs."""
    debits = sum((a for a, d in zip(amounts, directions) if d == Direction.DEBIT), Decimal(0))
    credits = sum((a for a, d in zip(amounts, directions) if d == Direction.CREDIT), Decimal(0))
    return debits, credits


def _write_posting(
    *,
    source_system: str,
    request_no: str,
    fingerprint: str,
    business_type: str,
    legs: Sequence[Leg],
    accounts: dict[str, Account],
    posted_by: str,
    memo: str,
    currency: str | None,
    accounting_date: date | None,
    external_ref: str,
    reverses: Posting | None = None,
    hold_leg: int | None = None,
    corrects_date: date | None = None,
    refusals: Sequence[str | None],
) -> Posting:
    """Validate legs against locked accounts (``refusals``: the leg rules'
    codes from _lock_accounts), then write posting, entries and balances,
    unless the sign rule refuses the balances."""
    posting, entries, touched = _prepare_posting(
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        business_type=business_type,
        legs=legs,
        accounts=accounts,
        posted_by=posted_by,
        memo=memo,
        currency=currency,
        accounting_date=accounting_date,
        external_ref=external_ref,
        reverses=reverses,
        hold_leg=hold_leg,
        corrects_date=corrects_date,
        refusals=refusals,
    )
    _write_in_one_statement(posting, entries, touched)
    return posting


_POSTING_COLUMNS = (
    "source_system",
    "request_no",
    "fingerprint",
    "business_type",
    "entity_id",
    "currency",
    "accounting_date",
    "corrects_date",
    "memo",
    "external_ref",
    "posted_by",
    "reverses_id",
)


_POSTING_TYPES = ("text", "text", "text", "text", "bigint", "text", "date", "date", "text", "text", "text", "bigint")


def _write_in_one_statement(posting: Posting, entries: list[Entry], touched: list[Account]) -> None:
    """Posting, entries and balances in one round trip: data-modifying CTEs
    run as one statement, with every constraint and trigger as usual; the
    balances by the one writer (postings.balances). The
    statement first asks the sign rule (posting_rules.sql) of each touched
    account's new balance and frozen amount, in the order the legs name them,
    and writes nothing when it refuses one: that one's error is raised."""
    entry_columns = _ENTRY_COLUMNS[1:]  # the posting's id comes from the INSERT
    entry_arrays = ", ".join(f"%s::{t}[]" for t in _ENTRY_TYPES[1:])
    sql = f"""
        WITH nb AS (
            SELECT * FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[], %s::bigint[]) WITH ORDINALITY
                   AS v(id, balance, frozen, entry_seq, ord)
        ), refused AS (
            SELECT nb.ord, r.code
              FROM nb JOIN accounts_account a ON a.id = nb.id
             CROSS JOIN LATERAL ledger_balance_refusal(a.category, a.allow_negative, nb.balance, nb.frozen,
                                                       a.credit_limit) AS r(code)
             WHERE r.code IS NOT NULL
             ORDER BY nb.ord
             LIMIT 1
        ), p AS (
            INSERT INTO postings_posting ({", ".join(_POSTING_COLUMNS)}, created_at)
            SELECT {", ".join(f"%s::{t}" for t in _POSTING_TYPES)}, now()
             WHERE NOT EXISTS (SELECT FROM refused)
            RETURNING serial_no, created_at
        ), e AS (
            INSERT INTO postings_entry (posting_id, {", ".join(entry_columns)}, created_at)
            SELECT p.serial_no, v.*, now() FROM p, unnest({entry_arrays}) AS v
        ), b AS (
            SELECT {balances.WRITE_CALL} AS n WHERE NOT EXISTS (SELECT FROM refused)
        )
        SELECT p.serial_no, p.created_at, NULL::bigint, NULL::text, (SELECT n FROM b) FROM p
         UNION ALL
        SELECT NULL, NULL, refused.ord, refused.code, NULL FROM refused
    """
    arrays = balances.write_arrays(touched)
    params = [*arrays]
    params += [getattr(posting, c) for c in _POSTING_COLUMNS]
    params += [[getattr(e, c) for e in entries] for c in entry_columns]
    params += arrays
    with _hot_cursor() as cursor:
        cursor.execute(sql, params, prepare=True)
        serial_no, created_at, refused_at, code, _ = cursor.fetchone()
    if code is not None:
        raise _refusal(code, _balance_detail(touched[refused_at - 1]))
    posting.serial_no, posting.created_at = serial_no, created_at
    posting._state.adding = False
    posting._state.db = connection.alias
    for entry in entries:
        entry.posting_id = posting.serial_no


def _insert_postings(postings: list[Posting]) -> None:
    """Insert a batch's postings (unique request numbers): one statement."""
    sql = (
        f"INSERT INTO postings_posting ({', '.join(_POSTING_COLUMNS)}, created_at) "
        f"SELECT *, now() FROM unnest({', '.join(f'%s::{t}[]' for t in _POSTING_TYPES)}) "
        "RETURNING request_no, serial_no, created_at"
    )
    with _hot_cursor() as cursor:
        cursor.execute(sql, [[getattr(p, c) for p in postings] for c in _POSTING_COLUMNS], prepare=True)
        written = {request_no: (serial_no, created_at) for request_no, serial_no, created_at in cursor.fetchall()}
    for posting in postings:
        posting.serial_no, posting.created_at = written[posting.request_no]
        posting._state.adding = False
        posting._state.db = connection.alias


_ENTRY_COLUMNS = (
    "posting_id",
    "account_id",
    "account_seq",
    "direction",
    "amount",
    "currency",
    "balance_before",
    "balance_after",
    "frozen_before",
    "frozen_after",
    "business_type",
    "accounting_date",
)
_ENTRY_TYPES = (
    "bigint",
    "bigint",
    "bigint",
    "text",
    "numeric",
    "text",
    "numeric",
    "numeric",
    "numeric",
    "numeric",
    "text",
    "date",
)
_INSERT_ENTRIES_SQL = (
    f"INSERT INTO postings_entry ({', '.join(_ENTRY_COLUMNS)}, created_at) "
    f"SELECT *, now() FROM unnest({', '.join(f'%s::{t}[]' for t in _ENTRY_TYPES)})"
)


def _insert_entries(entries: list[Entry]) -> None:
    """Insert the entries of one or many postings: one statement. On
    PostgreSQL from arrays, which costs a fraction of the ORM's compiler."""
    for entry in entries:
        entry.posting_id = entry.posting.pk
    with _hot_cursor() as cursor:
        cursor.execute(_INSERT_ENTRIES_SQL, [[getattr(e, c) for e in entries] for c in _ENTRY_COLUMNS], prepare=True)


def _save_balances(accounts: list[Account]) -> None:
    """Write the new balances of the locked accounts: one statement, by the
    one writer."""
    with _hot_cursor() as cursor:
        balances.balances_write(accounts, cursor=cursor)


def _prepare_posting(
    *,
    source_system: str,
    request_no: str,
    fingerprint: str,
    business_type: str,
    legs: Sequence[Leg],
    accounts: dict[str, Account],
    posted_by: str,
    memo: str,
    currency: str | None,
    accounting_date: date | None,
    external_ref: str,
    reverses: Posting | None = None,
    hold_leg: int | None = None,
    corrects_date: date | None = None,
    open_dates: dict[int, date] | None = None,
    refusals: Sequence[str | None],
) -> tuple[Posting, list[Entry], list[Account]]:
    """The posting and its entries, unsaved, with the accounts' new balances
    applied in memory (and the real-time accounts touched returned for the
    UPDATE), in the order the legs name them; the sign rule is asked when
    they are written. Raises a LedgerError, leaving the accounts as they may
    be half-changed: callers that go on after an error restore them."""
    checked, currency = _validate_legs(legs, accounts, currency=currency, refusals=refusals)
    entity = checked[0].account.entity
    now = timezone.now()
    if open_dates is not None and accounting_date is None and entity.pk in open_dates:
        accounting_date = open_dates[entity.pk]
    elif accounting_date is None and getattr(checked[0].account, "open_date", None) is not None:
        # Read with the accounts, under the calendar's share lock (_lock_accounts).
        accounting_date = checked[0].account.open_date
        if open_dates is not None:
            open_dates[entity.pk] = accounting_date
    else:
        # Taken after the accounts are locked and under the calendar's share
        # lock, so the day cut waits for this transaction (postings.calendar).
        requested = accounting_date
        accounting_date = accounting_date_for_posting(entity=entity, requested=requested)
        if open_dates is not None and requested is None:
            open_dates[entity.pk] = accounting_date
    if corrects_date is not None and corrects_date >= accounting_date:
        if reverses is None:
            raise LedgerValidationError(
                f"corrects_date {corrects_date} must be before the accounting date {accounting_date}.",
                corrects_date=corrects_date,
            )
        corrects_date = None  # a same-day reversal corrects nothing closed
    posting = Posting(
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        business_type=business_type,
        entity=entity,
        currency=currency,
        accounting_date=accounting_date,
        corrects_date=corrects_date,
        memo=memo[:255],
        external_ref=external_ref,
        posted_by=posted_by,
        reverses=reverses,
    )
    entries = []
    for i, leg in enumerate(checked):
        account = leg.account
        if account.is_buffered:
            # Pending: the flush gives it its place in the chain (postings.buffers).
            entries.append(
                Entry(
                    posting=posting,
                    account=account,
                    direction=leg.direction,
                    amount=leg.amount,
                    currency=currency,
                    business_type=business_type,
                    accounting_date=posting.accounting_date,
                )
            )
            continue
        balance_before, frozen_before = account.balance, account.frozen
        account.balance += leg.amount if leg.direction == account.normal_side else -leg.amount
        if i == hold_leg:
            account.frozen -= leg.amount
        account.entry_seq += 1
        account.updated_at = now
        entries.append(
            Entry(
                posting=posting,
                account=account,
                account_seq=account.entry_seq,
                direction=leg.direction,
                amount=leg.amount,
                currency=currency,
                balance_before=balance_before,
                balance_after=account.balance,
                frozen_before=frozen_before,
                frozen_after=account.frozen,
                business_type=business_type,
                accounting_date=posting.accounting_date,
            )
        )
    touched = {leg.account.id: leg.account for leg in checked if not leg.account.is_buffered}
    return posting, entries, list(touched.values())


def _legs_content(legs: Sequence[Leg]) -> list:
    return sorted(
        [str(leg.account_no), _direction(leg.direction, i), _canonical_amount(leg.amount)] for i, leg in enumerate(legs)
    )


_POSTABLE_TYPES = frozenset(BusinessType.values) - {BusinessType.REVERSAL}


def _check_business_type(business_type: str) -> None:
    """A known business type; a reversal is only ever written by posting_reverse."""
    if business_type not in _POSTABLE_TYPES:
        raise LedgerValidationError(f"Unknown business type {business_type!r}.", business_type=business_type)


def _posting_fingerprint(
    *,
    business_type: str,
    legs: Sequence[Leg],
    memo: str,
    currency: str | None,
    external_ref: str,
    corrects_date: date | None,
) -> str:
    """What a posting request asks for, refusing what can never post."""
    _check_business_type(business_type)
    if len(legs) < 2:
        raise UnbalancedPosting("A posting needs at least one debit and one credit leg.")
    return _fingerprint(
        op="post",
        business_type=business_type,
        legs=_legs_content(legs),
        memo=memo,
        currency=currency,
        external_ref=external_ref,
        corrects_date=corrects_date,
    )


def posting_create(
    *,
    request_no: str,
    business_type: str,
    legs: Sequence[Leg],
    posted_by: str,
    source_system: str = DEFAULT_SOURCE,
    memo: str = "",
    currency: str | None = None,
    accounting_date: date | None = None,
    external_ref: str = "",
    corrects_date: date | None = None,
) -> Posting:
    """Post a balanced set of legs atomically (记账). Returns the posting;
    ``posting.replayed`` tells whether it had been posted before.
    ``corrects_date`` marks an adjustment of a day already closed."""
    fingerprint = _posting_fingerprint(
        business_type=business_type,
        legs=legs,
        memo=memo,
        currency=currency,
        external_ref=external_ref,
        corrects_date=corrects_date,
    )

    def write() -> Posting:
        accounts, (refusals,) = _lock_accounts((leg.account_no for leg in legs), [_Draft(legs, currency)])
        return _write_posting(
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            business_type=business_type,
            legs=legs,
            accounts=accounts,
            posted_by=posted_by,
            memo=memo,
            currency=currency,
            accounting_date=accounting_date,
            external_ref=external_ref,
            corrects_date=corrects_date,
            refusals=refusals,
        )

    def one_call() -> Posting:
        return _post_in_one_call(
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            business_type=business_type,
            legs=legs,
            posted_by=posted_by,
            memo=memo,
            currency=currency,
            external_ref=external_ref,
        )

    return _idempotent(
        Posting,
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        what="posting",
        write=write,
        look_first=False,
        # A back-dated posting or a correction needs its day checked: the full path.
        one_call=one_call if accounting_date is None and corrects_date is None else None,
    )


@dataclass(frozen=True)
class PostingRequest:
    """One posting of a batch, as ``posting_create`` takes it."""

    request_no: str
    business_type: str
    legs: Sequence[Leg]
    memo: str = ""
    currency: str | None = None
    external_ref: str = ""


@dataclass
class BatchResult:
    request_no: str
    posting: Posting | None = None  # ``posting.replayed`` tells a replay
    error: LedgerError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def posting_create_batch(
    items: Sequence[PostingRequest], *, posted_by: str, source_system: str = DEFAULT_SOURCE
) -> list[BatchResult]:
    """Post many independent postings (批量记账); one result per item, in order.

    Each item is its own posting with its own request number: a replay
    answers the original, a conflict or a refusal (insufficient funds, a
    blocked account, ...) fails that item only. The happy path takes a
    handful of round trips for the whole batch: one lookup of earlier
    requests, one lock of every real-time account touched (in id order),
    one INSERT of the postings, one of the entries, one UPDATE of the
    balances, one COMMIT; or, when every item is plainly allowed, one call
    of ledger_post_batch (see "One call") after the lookup; an item the call
    does not take goes alone down the full path (_batch_post). Items are
    applied in order, so a later item sees the balances an earlier one
    left. If a concurrent caller commits one of the same request numbers
    meanwhile (the unique key fails the INSERT), that part of the batch is
    rolled back and its items are posted one by one, where each race is
    settled as ``posting_create`` settles it.
    """
    if len(items) > settings.POSTING_BATCH_MAX:
        raise LedgerValidationError(
            f"A batch takes at most {settings.POSTING_BATCH_MAX} postings; {len(items)} given.", postings=len(items)
        )
    results = [BatchResult(getattr(item, "request_no", "")) for item in items]
    fingerprints: dict[int, str] = {}
    first_of: dict[str, int] = {}
    repeats: dict[int, int] = {}
    for i, item in enumerate(items):
        try:
            _check_request_no(item.request_no)
            fingerprint = _posting_fingerprint(
                business_type=item.business_type,
                legs=item.legs,
                memo=item.memo,
                currency=item.currency,
                external_ref=item.external_ref,
                corrects_date=None,
            )
        except LedgerError as exc:
            results[i].error = exc
            continue
        if item.request_no in first_of:
            repeats[i] = first_of[item.request_no]
            fingerprints[i] = fingerprint
            continue
        first_of[item.request_no] = i
        fingerprints[i] = fingerprint

    earlier = {p.request_no: p for p in _postings_of_requests(source_system, list(first_of))}
    todo = []
    for request_no, i in first_of.items():
        if request_no in earlier:
            try:
                results[i].posting = _replay(earlier[request_no], fingerprints[i], "posting")
            except IdempotencyConflict as exc:
                results[i].error = exc
        else:
            todo.append(i)

    _batch_post(items, todo, fingerprints, results, posted_by=posted_by, source_system=source_system)

    # As in _idempotent: an item refused because a concurrent caller's first
    # attempt of the same request committed meanwhile was in fact done.
    refused = {results[i].request_no: i for i in todo if results[i].error is not None}
    if refused:
        for posting in _postings_of_requests(source_system, list(refused)):
            i = refused[posting.request_no]
            try:
                results[i] = BatchResult(posting.request_no, posting=_replay(posting, fingerprints[i], "posting"))
            except IdempotencyConflict as exc:
                results[i] = BatchResult(posting.request_no, error=exc)

    for i, first in repeats.items():
        original = results[first]
        if fingerprints[i] != fingerprints[first]:
            results[i].error = IdempotencyConflict(
                f"Request {items[i].request_no} appears twice in the batch with different content.",
                request_no=items[i].request_no,
            )
        elif original.posting is not None:
            results[i].posting = copy.copy(original.posting)
            results[i].posting.replayed = True
        else:
            results[i].error = original.error
    return results


# Each call of ledger_post_batch evaluates every item it is given, so a batch
# dense with refusals costs a call per refusal. A call that wrote fewer than
# _BATCH_RUN_MIN items before stopping, or the _BATCH_CALLS_MAX-th call, sends
# the items left down the full path together instead (bench/README.md,
# "Batches with a refused item").
_BATCH_CALLS_MAX = 4
_BATCH_RUN_MIN = 10


def _batch_post(items, todo, fingerprints, results, *, posted_by: str, source_system: str) -> None:
    """The items of ``todo``, in order. One call of ledger_post_batch writes
    the items up to the first one it does not take (see "One call"); that
    item goes alone down the full path, which posts or refuses it with its
    error, and the items after it go on in a new call. So each item sees
    what the items before it left, and a rare refusal does not send a whole
    batch down the slower path. When refusals come thick (see
    _BATCH_RUN_MIN), or without the one call (off, or refused for the batch
    as a whole), the items left take the full path together."""
    kw = {"posted_by": posted_by, "source_system": source_system}
    if not _one_call_on():
        _batch_part(items, todo, fingerprints, results, one_call=False, **kw)
        return
    for _ in range(_BATCH_CALLS_MAX):
        if not todo:
            return
        stopped_at = _batch_part(items, todo, fingerprints, results, one_call=True, **kw)
        if stopped_at is None:
            return
        todo = todo[stopped_at:]
        if stopped_at < _BATCH_RUN_MIN:
            break
        _count_full_path("batch_item_not_taken")
        _batch_part(items, todo[:1], fingerprints, results, one_call=False, **kw)
        todo = todo[1:]
    if todo:
        _count_full_path("batch_items_left", len(todo))
        _batch_part(items, todo, fingerprints, results, one_call=False, **kw)


def _batch_part(
    items, todo, fingerprints, results, *, one_call: bool, posted_by: str, source_system: str
) -> int | None:
    """Where the one call stopped (see _batch_in_one_call), or None: all done."""
    kw = {"posted_by": posted_by, "source_system": source_system}
    try:
        return _one_call_or_full_path(
            (lambda: _batch_in_one_call(items, todo, fingerprints, results, **kw)) if one_call else None,
            lambda: _batch_write(items, todo, fingerprints, results, **kw),
        )
    except IntegrityError:
        # A concurrent caller committed one of these request numbers: each
        # item on its own, where posting_create settles the race.
        for i in todo:
            item = items[i]
            results[i] = BatchResult(item.request_no)
            try:
                results[i].posting = posting_create(
                    request_no=item.request_no,
                    business_type=item.business_type,
                    legs=item.legs,
                    posted_by=posted_by,
                    source_system=source_system,
                    memo=item.memo,
                    currency=item.currency,
                    external_ref=item.external_ref,
                )
            except LedgerError as exc:
                results[i].error = exc
    return None


_BATCH_ONE_CALL_SQL = (
    "SELECT * FROM ledger_post_batch(%s, %s, %s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::text[], %s::text[], %s::text[], %s::int[], %s::text[], %s::text[], %s::numeric[])"
)


def _batch_in_one_call(items, todo, fingerprints, results, *, posted_by: str, source_system: str) -> int | None:
    """The items of ``todo`` by one call of ledger_post_batch, up to the
    first one it does not take; returns that one's position in ``todo``, or
    None when all are written. Each item is checked here as
    _one_call_arguments checks a lone posting (the call gets only the items
    before the first that fails that), and in the database as _batch_write
    would check it. _FullPath, and nothing written, when the function
    refuses the batch as a whole."""
    request_nos, business_types, currencies, memos, external_refs, too_coarse = [], [], [], [], [], []
    leg_items, account_nos, directions, amounts = [], [], [], []
    stopped_at = None
    for k, i in enumerate(todo, start=1):
        item = items[i]
        try:
            item_accounts, item_directions, item_amounts, currency, coarse = _one_call_arguments(
                item.legs, item.currency
            )
        except _FullPath:
            stopped_at = k - 1
            break
        request_nos.append(item.request_no)
        business_types.append(item.business_type)
        currencies.append(currency or "")
        memos.append(item.memo[:255])
        external_refs.append(item.external_ref)
        too_coarse.append(",".join(coarse))
        leg_items += [k] * len(item_accounts)
        account_nos += item_accounts
        directions += item_directions
        amounts += item_amounts
    if not request_nos:
        return stopped_at
    params = [
        source_system,
        posted_by,
        request_nos,
        [fingerprints[i] for i in todo[: len(request_nos)]],
        business_types,
        currencies,
        memos,
        external_refs,
        too_coarse,
        leg_items,
        account_nos,
        directions,
        amounts,
    ]
    # Binary: psycopg dumps long lists of text about three times faster that way.
    written = {row[0]: row[1:] for row in _call(_BATCH_ONE_CALL_SQL, params, binary=True)}
    # The function writes the items from the first on, up to one it does not take.
    if len(written) < len(request_nos):
        stopped_at = len(written)
    for k, i in enumerate(todo[: len(written)]):
        serial_no, accounting_date, entity_id, currency, created_at = written[request_nos[k]]
        posting = _written_posting(
            serial_no=serial_no,
            source_system=source_system,
            request_no=request_nos[k],
            fingerprint=fingerprints[i],
            business_type=business_types[k],
            entity_id=entity_id,
            currency=currency,
            accounting_date=accounting_date,
            memo=memos[k],
            external_ref=external_refs[k],
            posted_by=posted_by,
            created_at=created_at,
        )
        posting.replayed = False
        results[i].posting = posting
    return stopped_at


# One probe of the unique key per request number. As "source_system = %s AND
# request_no IN (...)" the planner may read every posting of the source system
# and filter, when its statistics are stale: 85 ms for 100 request numbers
# among 300,000 postings (bench/README.md, throughput, "Latest figures"). An
# equality on the whole unique key is always an index probe.
_POSTINGS_OF_REQUESTS_SQL = """
    SELECT p.* FROM unnest(%s::text[]) AS r(request_no)
     CROSS JOIN LATERAL (SELECT * FROM postings_posting x
                          WHERE x.source_system = %s AND x.request_no = r.request_no) AS p
"""


def _postings_of_requests(source_system: str, request_nos: list[str]) -> list[Posting]:
    if not request_nos:
        return []
    return list(Posting.objects.raw(_POSTINGS_OF_REQUESTS_SQL, [request_nos, source_system]))


# The first item of a batch written by the full path whose balances the sign
# rule (posting_rules.sql) refuses: each item's touched accounts as the item
# leaves them, in item order.
_BATCH_SIGN_RULE_SQL = """
    SELECT v.ord, r.code
      FROM unnest(%s::int[], %s::bigint[], %s::numeric[], %s::numeric[]) WITH ORDINALITY
           AS v(item, id, balance, frozen, ord)
      JOIN accounts_account a ON a.id = v.id
     CROSS JOIN LATERAL ledger_balance_refusal(a.category, a.allow_negative, v.balance, v.frozen, a.credit_limit)
           AS r(code)
     WHERE r.code IS NOT NULL
     ORDER BY v.ord
     LIMIT 1
"""


def _batch_write(items, todo, fingerprints, results, *, posted_by: str, source_system: str) -> None:
    """The batch's full path, inside its transaction (see posting_create_batch).

    The items are applied in order in memory, then one statement asks the
    sign rule of each item's balances; when it refuses an item, that item
    gets its error and the items after it are applied again without it (one
    more statement per such refusal)."""
    account_nos = {str(leg.account_no) for i in todo for leg in items[i].legs}
    drafts = [_Draft(items[i].legs, items[i].currency) for i in todo]
    try:
        accounts, refusals = _lock_accounts(account_nos, drafts)
    except UnknownAccount:
        # Some item names an account that does not exist: that item fails,
        # the others go on with the accounts that do.
        known = set(Account.objects.filter(account_no__in=account_nos).values_list("account_no", flat=True))
        accounts, refusals = _lock_accounts(known, drafts)
    refusals_of = dict(zip(todo, refusals))
    accounts_by_pk = {a.pk: a for a in accounts.values()}
    start = {a.pk: (a.balance, a.frozen, a.entry_seq) for a in accounts.values()}
    open_dates: dict[int, date] = {}
    refused: set[int] = set()
    while True:
        for account in accounts.values():
            account.balance, account.frozen, account.entry_seq = start[account.pk]
        postings, entries, touched, written, states = [], [], {}, [], [[], [], [], []]
        for i in todo:
            if i in refused:
                continue
            item = items[i]
            missing = sorted({str(leg.account_no) for leg in item.legs} - accounts.keys())
            if missing:
                results[i].error = UnknownAccount(f"No account {', '.join(missing)}.", account_no=",".join(missing))
                refused.add(i)
                continue
            mine = {str(leg.account_no): accounts[str(leg.account_no)] for leg in item.legs}
            before = {a.pk: (a.balance, a.frozen, a.entry_seq) for a in mine.values()}
            try:
                posting, item_entries, item_touched = _prepare_posting(
                    source_system=source_system,
                    request_no=item.request_no,
                    fingerprint=fingerprints[i],
                    business_type=item.business_type,
                    legs=item.legs,
                    accounts=mine,
                    posted_by=posted_by,
                    memo=item.memo,
                    currency=item.currency,
                    accounting_date=None,
                    external_ref=item.external_ref,
                    open_dates=open_dates,
                    refusals=refusals_of[i],
                )
            except LedgerError as exc:
                for account in mine.values():
                    account.balance, account.frozen, account.entry_seq = before[account.pk]
                results[i].error = exc
                refused.add(i)
                continue
            postings.append(posting)
            entries.extend(item_entries)
            touched.update((a.pk, a) for a in item_touched)
            written.append(i)
            for account in item_touched:
                for column, value in zip(states, (i, account.pk, account.balance, account.frozen)):
                    column.append(value)
        if not states[0]:
            break
        with _hot_cursor() as cursor:
            cursor.execute(_BATCH_SIGN_RULE_SQL, states, prepare=True)
            row = cursor.fetchone()
        if row is None:
            break
        at, code = row
        i, account = states[0][at - 1], copy.copy(accounts_by_pk[states[1][at - 1]])
        account.balance, account.frozen = states[2][at - 1], states[3][at - 1]
        results[i].error = _refusal(code, _balance_detail(account))
        refused.add(i)
    if not postings:
        return
    _insert_postings(postings)
    _insert_entries(entries)
    if touched:
        _save_balances(list(touched.values()))
    for i, posting in zip(written, postings):
        posting.replayed = False
        results[i].posting = posting


def posting_reverse(
    *,
    serial_no: int,
    request_no: str,
    posted_by: str,
    source_system: str = DEFAULT_SOURCE,
    memo: str = "",
    accounting_date: date | None = None,
) -> Posting:
    """Reverse a posting (冲正): swap every leg's direction, link to the original."""
    try:
        original = Posting.objects.get(serial_no=serial_no)
    except (Posting.DoesNotExist, ValueError):
        raise UnknownPosting(f"No posting {serial_no}.", serial_no=serial_no) from None
    if original.business_type == BusinessType.REVERSAL:
        raise ReversalNotAllowed(f"Posting {serial_no} is itself a reversal.", serial_no=serial_no)
    legs = [
        Leg(e.account.account_no, Direction.CREDIT if e.direction == Direction.DEBIT else Direction.DEBIT, e.amount)
        for e in original.entries.select_related("account").order_by("serial_no")
    ]
    fingerprint = _fingerprint(op="reverse", serial_no=original.serial_no)

    def already_reversed(violated: str) -> None:
        if "reverses" in violated:
            raise AlreadyReversed(f"Posting {serial_no} has already been reversed.", serial_no=serial_no)

    def write() -> Posting:
        accounts, (refusals,) = _lock_accounts((leg.account_no for leg in legs), [_Draft(legs, original.currency)])
        if Posting.objects.filter(reverses=original).exists():
            raise AlreadyReversed(f"Posting {serial_no} has already been reversed.", serial_no=serial_no)
        return _write_posting(
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            business_type=BusinessType.REVERSAL,
            legs=legs,
            accounts=accounts,
            posted_by=posted_by,
            memo=memo or f"reversal of posting {original.serial_no} ({original.business_type})",
            currency=original.currency,
            accounting_date=accounting_date,
            external_ref=original.external_ref,
            reverses=original,
            corrects_date=original.accounting_date,
            refusals=refusals,
        )

    return _idempotent(
        Posting,
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        what="reversal",
        write=write,
        extra_conflicts=already_reversed,
    )


def posting_create_by_rule(
    *,
    business_type: str,
    request_no: str,
    params: dict,
    posted_by: str,
    source_system: str = DEFAULT_SOURCE,
    memo: str = "",
    accounting_date: date | None = None,
) -> Posting:
    """Post a business event through its configured rule (记账规则), e.g.
    ``recharge(member_account=..., channel_account=..., amount=...)``."""
    rule = (
        PostingRule.objects.filter(business_type=business_type, active=True)
        .prefetch_related("legs__internal_account_type")
        .first()
    )
    if rule is None:
        raise RuleNotConfigured(f"No active posting rule for {business_type!r}.", business_type=business_type)
    rule_legs = list(rule.legs.all())
    if not rule_legs:
        raise RuleNotConfigured(f"The rule for {business_type!r} has no legs.", business_type=business_type)
    needed = {leg.account_param for leg in rule_legs if leg.account_param}
    needed |= {name.strip() for leg in rule_legs for name in leg.amount_expr.split("+")}
    missing = sorted(name for name in needed if params.get(name) in (None, ""))
    if missing:
        raise LedgerValidationError(
            f"Parameters missing for rule {business_type}: {', '.join(missing)}.",
            **{name: "required" for name in missing},
        )
    anchor = next((params[leg.account_param] for leg in rule_legs if leg.account_param), None)
    anchor_account = account_get(account_no=str(anchor)) if anchor else None
    legs = []
    for leg in rule_legs:
        if leg.account_param:
            account_no = str(params[leg.account_param])
        else:
            if anchor_account is None:
                raise RuleNotConfigured(f"The rule for {business_type} names no parameter account.")
            internal = internal_account_for(
                entity=anchor_account.entity, account_type=leg.internal_account_type, currency=anchor_account.currency
            )
            if internal is None:
                raise RuleNotConfigured(
                    f"Entity {anchor_account.entity.code} needs exactly one open {leg.internal_account_type.code} "
                    f"account in {anchor_account.currency} for rule {business_type}.",
                    account_type=leg.internal_account_type.code,
                )
            account_no = internal.account_no
        currency = anchor_account.currency if anchor_account else None
        amount = sum(
            (
                to_amount(params[name.strip()], currency or "CNY", field=name.strip(), allow_zero=True)
                for name in leg.amount_expr.split("+")
            ),
            Decimal(0),
        )
        if amount:
            legs.append(Leg(account_no, leg.direction, amount))
    return posting_create(
        request_no=request_no,
        business_type=business_type,
        legs=legs,
        posted_by=posted_by,
        source_system=source_system,
        memo=memo,
        accounting_date=accounting_date,
        external_ref=str(params.get("channel_serial_no") or params.get("external_ref") or ""),
    )


# ---------------------------------------------------------------- holds ----


def hold_place(
    *,
    account_no: str,
    amount,
    reason: str,
    request_no: str,
    actor: str,
    source_system: str = DEFAULT_SOURCE,
    expires_at: datetime | None = None,
) -> Hold:
    """Freeze (冻结) an amount: available drops, balance does not."""
    fingerprint = _fingerprint(
        op="hold", account_no=account_no, amount=_canonical_amount(amount), reason=reason, expires_at=expires_at
    )

    def write() -> Hold:
        accounts, ((refusal,),) = _lock_accounts([account_no], [_Draft([Leg.debit(account_no, amount)])])
        account = accounts[account_no]
        # A hold is a debit to come: the leg rules' status refusals of a debit.
        if refusal in ("account_closed", "account_blocked"):
            raise _refusal(refusal, _leg_detail(0, account, Direction.DEBIT, account.currency, account))
        if account.is_buffered:
            raise BufferedDebitRefused(
                f"Account {account_no} is a buffered (hot) account: its balance is applied in batches, so "
                "nothing can be frozen on it.",
                account_no=account_no,
            )
        value = to_amount(amount, account.currency)
        frozen_before = account.frozen
        account.frozen += value
        refusal = balances.frozen_write(account)
        if refusal is not None:
            raise _refusal(refusal, _balance_detail(account))
        hold = Hold.objects.create(
            account=account,
            amount=value,
            remaining=value,
            reason=reason,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            expires_at=expires_at,
            created_by=actor,
        )
        HoldEvent.objects.create(
            hold=hold,
            kind=HoldEvent.Kind.FREEZE,
            amount=value,
            frozen_before=frozen_before,
            frozen_after=account.frozen,
            source_system=source_system,
            actor=actor,
        )
        return hold

    return _idempotent(
        Hold,
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        what="hold",
        write=write,
    )


def _hold_get(hold_id) -> Hold:
    try:
        return Hold.objects.select_related("account").get(pk=hold_id)
    except (Hold.DoesNotExist, ValueError):
        raise UnknownHold(f"No hold {hold_id}.", hold_id=hold_id) from None


def _lock_active_hold(hold_id: int, amount: Decimal | None) -> Hold:
    hold = Hold.objects.select_for_update(no_key=True).get(pk=hold_id)
    if not hold.is_active:
        raise HoldNotActive(f"Hold {hold.id} is {hold.status}.", hold_id=hold.id, status=hold.status)
    if amount is not None and amount > hold.remaining:
        raise HoldExceeded(
            f"Hold {hold.id} has {hold.remaining} remaining; {amount} asked.", hold_id=hold.id, remaining=hold.remaining
        )
    return hold


def hold_settle(
    *,
    hold_id: int,
    request_no: str,
    amount,
    business_type: str,
    actor: str,
    counter_account_no: str | None = None,
    counter_legs: Sequence[Leg] | None = None,
    source_system: str = DEFAULT_SOURCE,
    memo: str = "",
    external_ref: str = "",
    accounting_date: date | None = None,
) -> Posting:
    """Deduct (扣除冻结) all or part of a hold: one posting whose debit on the
    held account lowers balance and frozen together. The other side is one
    counter account, or legs such as Cr channel amount / Cr fee income fee."""
    _check_business_type(business_type)
    hold = _hold_get(hold_id)
    if (counter_account_no is None) == (counter_legs is None):
        raise LedgerValidationError("Give either counter_account_no or counter_legs.")
    if counter_legs is None:
        counter_legs = [Leg.credit(counter_account_no, amount)]
    legs = [Leg.debit(hold.account.account_no, amount), *counter_legs]
    fingerprint = _fingerprint(
        op="settle",
        hold_id=hold.id,
        business_type=business_type,
        legs=_legs_content(legs),
        memo=memo,
        external_ref=external_ref,
    )

    def write() -> Posting:
        accounts, (refusals,) = _lock_accounts((leg.account_no for leg in legs), [_Draft(legs, None, hold_leg=0)])
        value = to_amount(amount, hold.account.currency)
        locked_hold = _lock_active_hold(hold.id, value)
        posting = _write_posting(
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            business_type=business_type,
            legs=legs,
            accounts=accounts,
            posted_by=actor,
            memo=memo or f"settle hold {hold.id}",
            currency=None,
            accounting_date=accounting_date,
            external_ref=external_ref,
            hold_leg=0,
            refusals=refusals,
        )
        held_account = accounts[hold.account.account_no]
        remaining = locked_hold.remaining - value
        transition(
            locked_hold,
            HoldStatus.SETTLED if remaining == 0 else HoldStatus.PARTIALLY_SETTLED,
            table=HOLD_TRANSITIONS,
            what=f"Hold {locked_hold.id}",
            hold_id=locked_hold.id,
            changes={"remaining": remaining},
            history=lambda from_status, to_status: HoldEvent.objects.create(
                hold=locked_hold,
                kind=HoldEvent.Kind.SETTLE,
                amount=value,
                posting=posting,
                frozen_before=held_account.frozen + value,
                frozen_after=held_account.frozen,
                source_system=source_system,
                actor=actor,
            ),
        )
        return posting

    return _idempotent(
        Posting,
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        what="settlement",
        write=write,
    )


def _release(
    hold: Hold,
    amount: Decimal | None,
    *,
    kind: str,
    actor: str,
    source_system: str,
    request_no: str | None,
    fingerprint: str,
) -> HoldEvent:
    account = _lock_accounts([hold.account.account_no])[0][hold.account.account_no]
    locked_hold = _lock_active_hold(hold.id, amount)
    value = locked_hold.remaining if amount is None else amount
    if value <= 0:
        raise HoldExceeded(f"Hold {hold.id} has nothing left to release.", hold_id=hold.id)
    frozen_before = account.frozen
    account.frozen = frozen_before - value
    balances.balances_write([account])
    remaining = locked_hold.remaining - value
    if remaining:
        status = locked_hold.status
    else:
        status = HoldStatus.EXPIRED if kind == HoldEvent.Kind.EXPIRE else HoldStatus.RELEASED
    return transition(
        locked_hold,
        status,
        table=HOLD_TRANSITIONS,
        what=f"Hold {locked_hold.id}",
        hold_id=locked_hold.id,
        changes={"remaining": remaining},
        history=lambda from_status, to_status: HoldEvent.objects.create(
            hold=locked_hold,
            kind=kind,
            amount=value,
            frozen_before=frozen_before,
            frozen_after=frozen_before - value,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            actor=actor,
        ),
    )


def hold_release(
    *,
    hold_id: int,
    request_no: str,
    actor: str,
    amount=None,
    source_system: str = DEFAULT_SOURCE,
) -> Hold:
    """Release (解冻) the rest of a hold, or part of it when ``amount`` is given."""
    hold = _hold_get(hold_id)
    fingerprint = _fingerprint(
        op="release", hold_id=hold.id, amount=None if amount is None else _canonical_amount(amount)
    )

    def write() -> HoldEvent:
        value = None if amount is None else to_amount(amount, hold.account.currency)
        return _release(
            hold,
            value,
            kind=HoldEvent.Kind.RELEASE,
            actor=actor,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
        )

    event = _idempotent(
        HoldEvent,
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        what="release",
        write=write,
    )
    if event.hold_id != hold.id:
        raise IdempotencyConflict(f"Request {request_no} released another hold.", request_no=request_no)
    hold.refresh_from_db()
    hold.replayed = event.replayed
    return hold


def holds_expire_due(*, now: datetime | None = None, actor: str = "system:hold-expiry") -> int:
    """Release every active hold whose expiry has passed. Safe to run twice:
    a hold already released or settled is skipped under its row lock."""
    now = now or timezone.now()
    expired = 0
    due = Hold.objects.filter(status__in=ACTIVE_HOLD_STATUSES, expires_at__lte=now).select_related("account")
    for hold in due.iterator():
        try:
            with transaction.atomic():
                _release(
                    hold,
                    None,
                    kind=HoldEvent.Kind.EXPIRE,
                    actor=actor,
                    source_system=DEFAULT_SOURCE,
                    request_no=None,
                    fingerprint="",
                )
        except (HoldNotActive, HoldExceeded):
            continue
        expired += 1
    return expired


# Other apps' money paths (withdrawals, the API) key their own requests the
# same way: one fingerprint of the content, one write per request number.
request_fingerprint = _fingerprint
run_once = _idempotent
canonical_amount = _canonical_amount
