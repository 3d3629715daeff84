"""One call: a posting or a batch written by one call of ledger_post or
ledger_post_batch, and the counted fall back to the full path."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Model

from accounts.kernel.errors import LedgerError
from accounts.kernel.money import Money, amount_and_places, currencies_with_fewer_places, to_amount

from ..models import Posting
from .db import _hot_cursor, _violated_constraint
from .drafts import Leg, _direction, _metadata_text, _sides
from .refusals import _refusal

# The name the fall backs were always logged under (before the package split).
logger = logging.getLogger("postings.services")
T = TypeVar("T", bound=Model)


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
# full path asks the same functions in the statement that locks the accounts
# (the leg rules, _LOCK_SQL in locking.py) and in the statement that writes
# the posting or checks a batch (the sign rule, full_path.py and batch.py).
# Each answers with a stable code, and _refusal (refusals.py) is the one
# place that turns a code into the LedgerError and message the API shows. Why the database: the one call must decide there
# anyway (that is what makes it one round trip), and a rule stated in Python
# too would be a second copy that can drift; the full path's locked reads
# and writes are statements already, so asking the rules in them costs no
# round trip. Python keeps what is about the request rather than the
# accounts: parsing directions and amounts, decimal places, a balanced
# posting, business types, idempotency.
#
# The full path keeps only what the one call does not do: a back-dated
# posting or a correction (its day is checked, postings.services.calendar), a
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
# (No trade number is '' either: accounts.kernel.metadata refuses it.)
_ONE_CALL_SQL = (
    "SELECT * FROM ledger_post(%s, %s, %s, %s, NULLIF(%s, ''), %s, %s, %s, %s::text[], %s::text[], "
    "%s::numeric[], string_to_array(NULLIF(%s, ''), ','), NULLIF(%s, '')::int, NULLIF(%s, ''), %s::jsonb)"
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
    rule_version: int | None = None,
    trade_no: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Posting:
    account_nos, directions, amounts, currency, too_coarse = _one_call_arguments(legs, currency)
    metadata = metadata or {}
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
        "" if rule_version is None else str(rule_version),
        trade_no or "",
        _metadata_text(metadata),
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
        rule_version=rule_version,
        trade_no=trade_no,
        metadata=metadata,
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
    row.setdefault("rule_version", None)
    row.setdefault("trade_no", None)
    row.setdefault("metadata", {})
    return Posting.from_db(connection.alias, _POSTING_FIELDS, [row[f] for f in _POSTING_FIELDS])
