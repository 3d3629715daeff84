"""The full path: legs validated by the database's refusals, a posting
prepared in memory and written in one statement; a batch's inserts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from accounts.kernel.errors import LedgerValidationError
from accounts.kernel.money import Money, to_amount
from accounts.models import Account

from .. import balances
from ..exceptions import UnbalancedPosting
from ..models import Entry, Posting
from .calendar import accounting_date_for_posting
from .db import _hot_cursor
from .drafts import Leg, PostingDraft, _direction, _metadata_text, _sides
from .refusals import _balance_detail, _leg_detail, _refusal


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
    rule_version: int | None = None,
    trade_no: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Posting:
    """Validate legs against locked accounts (``refusals``: the leg rules'
    codes from _lock_accounts), then write posting, entries and balances,
    unless the sign rule refuses the balances. ``trade_no`` and ``metadata``
    are the caller's, checked already (accounts.kernel.metadata)."""
    draft = _prepare_posting(
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
        rule_version=rule_version,
        trade_no=trade_no,
        metadata=metadata,
    )
    _write_in_one_statement(draft)
    return draft.posting


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
    "rule_version",
    "trade_no",
    "metadata",
)


_POSTING_TYPES = (
    *("text", "text", "text", "text", "bigint", "text", "date", "date", "text", "text", "text", "bigint"),
    *("integer", "text", "jsonb"),
)


def _column(posting: Posting, column: str):
    """A posting's value as the statements bind it."""
    value = getattr(posting, column)
    return _metadata_text(value) if column == "metadata" else value


def _write_in_one_statement(draft: PostingDraft) -> None:
    """Posting, entries and balances in one round trip: data-modifying CTEs
    run as one statement, with every constraint and trigger as usual; the
    balances by the one writer (postings.balances). The
    statement first asks the sign rule (posting_rules.sql) of each touched
    account's new balance and frozen amount, in the order the legs name them,
    and writes nothing when it refuses one: that one's error is raised."""
    posting, entries, touched = draft.posting, draft.entries, draft.touched
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
                                                       a.credit_limit, a.balance + a.frozen,
                                                       %s::text) AS r(code)
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
    params = [*arrays, posting.business_type]
    params += [_column(posting, c) for c in _POSTING_COLUMNS]
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
        cursor.execute(sql, [[_column(p, c) for p in postings] for c in _POSTING_COLUMNS], prepare=True)
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
    rule_version: int | None = None,
    trade_no: str | None = None,
    metadata: dict[str, str] | None = None,
) -> PostingDraft:
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
        # lock, so the day cut waits for this transaction (postings.services.calendar).
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
        rule_version=rule_version,
        trade_no=trade_no,
        metadata=metadata or {},
    )
    entries = []
    for i, leg in enumerate(checked):
        account = leg.account
        if account.is_buffered:
            # Pending: the flush gives it its place in the chain (postings.services.buffers).
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
    return PostingDraft(posting, entries, list(touched.values()))
