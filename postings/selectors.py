"""Reads of the ledger: the accounting date, balances, entries, and the
proofs that the books hold together (the balance identity and the entry
chain). The end-of-day checks build on these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import Count, Min, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import Account, Entity, PostingMode

if TYPE_CHECKING:
    from .models import Entry, Posting, RefundPolicy


def current_accounting_date(*, entity: Entity) -> date:
    """The open accounting date (会计日期) of an entity: its calendar's open
    day (see postings.services.calendar), which the day cut moves forward."""
    from .models import AccountingCalendar

    open_date = AccountingCalendar.objects.filter(entity=entity).values_list("open_date", flat=True).first()
    return open_date or timezone.localdate()


@dataclass(frozen=True)
class IdentityTotals:
    entity: str
    currency: str
    asset: Decimal
    liability: Decimal
    internal: Decimal

    @property
    def difference(self) -> Decimal:
        """asset - (liability + internal); zero when the books balance."""
        return self.asset - self.liability - self.internal

    @property
    def holds(self) -> bool:
        return self.difference == 0


_IDENTITY_SQL = """
SELECT ent.code, a.currency,
       COALESCE(SUM(CASE WHEN a.category = 'asset' THEN a.balance + COALESCE(p.pending, 0) END), 0),
       COALESCE(SUM(CASE WHEN a.category = 'liability' THEN a.balance + COALESCE(p.pending, 0) END), 0),
       COALESCE(SUM(CASE WHEN a.category = 'internal' THEN a.balance + COALESCE(p.pending, 0) END), 0)
  FROM accounts_account a
  JOIN accounts_entity ent ON ent.id = a.entity_id
  LEFT JOIN (
        SELECT e.account_id,
               SUM(CASE WHEN (e.direction = 'D') = (pa.category = 'asset') THEN e.amount ELSE -e.amount END)
                   AS pending
          FROM postings_entry e
          JOIN accounts_account pa ON pa.id = e.account_id
         WHERE e.account_seq IS NULL
         GROUP BY e.account_id
       ) p ON p.account_id = a.id
 WHERE (%s::bigint IS NULL OR a.entity_id = %s::bigint)
 GROUP BY ent.code, a.currency
 ORDER BY ent.code, a.currency
"""


def identity_totals(*, entity: Entity | None = None) -> list[IdentityTotals]:
    """Per entity and currency: sum(asset) = sum(liability) + sum(internal),
    each balance counted with its hot account's pending (buffered) entries.
    One statement, so balances and buffer come from one snapshot and a flush
    committing meanwhile is seen entirely or not at all."""
    entity_id = entity.pk if entity is not None else None
    with connection.cursor() as cursor:
        cursor.execute(_IDENTITY_SQL, [entity_id, entity_id])
        rows = cursor.fetchall()
    return [
        IdentityTotals(code, currency, Decimal(asset), Decimal(liability), Decimal(internal))
        for code, currency, asset, liability, internal in rows
    ]


@dataclass(frozen=True)
class AccountBalance:
    """What a balance read shows: the stored (posted) balance, the signed sum
    of pending buffered entries, and the two together."""

    posted: Decimal
    pending: Decimal
    pending_count: int
    oldest_pending_at: datetime | None

    @property
    def total(self) -> Decimal:
        return self.posted + self.pending


_BALANCE_SQL = """
SELECT a.balance, p.pending, p.n, p.oldest
  FROM accounts_account a
  LEFT JOIN LATERAL (
        SELECT SUM(CASE WHEN (e.direction = 'D') = (a.category = 'asset') THEN e.amount ELSE -e.amount END)
                   AS pending,
               COUNT(*) AS n, MIN(e.created_at) AS oldest
          FROM postings_entry e
         WHERE e.account_id = a.id AND e.account_seq IS NULL
       ) p ON true
 WHERE a.id = %s
"""


def account_balance(*, account: Account) -> AccountBalance:
    """The account's balance with its pending buffered entries (a real-time
    account has none). One statement: the stored balance and the buffer from
    one snapshot, from the account row and the small pending index; the cost
    does not grow with the account's history."""
    with connection.cursor() as cursor:
        cursor.execute(_BALANCE_SQL, [account.pk])
        posted, pending, count, oldest = cursor.fetchone()
    return AccountBalance(posted, pending or Decimal(0), count or 0, oldest)


@dataclass(frozen=True)
class BufferDepth:
    account: Account
    pending_count: int
    pending: Decimal
    oldest_pending_at: datetime | None

    @property
    def total(self) -> Decimal:
        return self.account.balance + self.pending

    @property
    def age_seconds(self) -> float | None:
        if self.oldest_pending_at is None:
            return None
        return (timezone.now() - self.oldest_pending_at).total_seconds()

    @property
    def age_minutes(self) -> float | None:
        seconds = self.age_seconds
        return None if seconds is None else seconds / 60


def buffer_depths(*, entity: Entity | None = None) -> list[BufferDepth]:
    """Every buffered account, and any other account that still has pending
    entries (one switched back to real-time before its last flush), with
    the depth and age of its buffer."""
    from postings.models import Entry

    pending = Entry.objects.filter(account_seq__isnull=True)
    if entity is not None:
        pending = pending.filter(account__entity=entity)
    stats = {
        r["account"]: r
        for r in pending.values("account").annotate(
            n=Count("serial_no"),
            debit=Sum("amount", filter=Q(direction="D"), default=Decimal(0)),
            credit=Sum("amount", filter=Q(direction="C"), default=Decimal(0)),
            oldest=Min("created_at"),
        )
    }
    accounts = Account.objects.filter(Q(posting_mode=PostingMode.BUFFERED) | Q(pk__in=list(stats)))
    if entity is not None:
        accounts = accounts.filter(entity=entity)
    depths = []
    for account in accounts.select_related("account_type", "entity").order_by("account_no"):
        r = stats.get(account.pk)
        if r is None:
            depths.append(BufferDepth(account, 0, Decimal(0), None))
            continue
        net_debit = r["debit"] - r["credit"]
        signed = net_debit if account.normal_side == "D" else -net_debit
        depths.append(BufferDepth(account, r["n"], signed, r["oldest"]))
    return depths


@dataclass(frozen=True)
class ChainBreak:
    account_no: str
    entry_serial_no: int | None
    problem: str


def account_chain_breaks(*, account: Account) -> list[ChainBreak]:
    """Every way the account's entries fail to explain its balance.

    Walks entries by ``account_seq``: each must continue the previous
    ``balance_after`` and move by its amount on the right side, and the last
    one must equal the stored balance. (Frozen amounts also move through hold
    events, so they are not a chain of entries.)
    """
    from postings.models import Entry

    breaks: list[ChainBreak] = []
    balance = Decimal(0)
    expected_seq = 1
    # Pending buffered entries have no place in the chain yet (postings.services.buffers).
    entries = (
        Entry.objects.filter(account=account, account_seq__isnull=False)
        .order_by("account_seq")
        .values_list("serial_no", "account_seq", "direction", "amount", "balance_before", "balance_after")
    )
    for serial, seq, direction, amount, before, after in entries.iterator(chunk_size=2000):
        if seq != expected_seq:
            breaks.append(ChainBreak(account.account_no, serial, f"sequence {seq}, expected {expected_seq}"))
        if before != balance:
            breaks.append(
                ChainBreak(account.account_no, serial, f"balance before {before} != previous after {balance}")
            )
        signed = amount if direction == account.normal_side else -amount
        if after != before + signed:
            breaks.append(ChainBreak(account.account_no, serial, f"balance after {after} != {before} {signed:+}"))
        balance, expected_seq = after, seq + 1
    if balance != account.balance:
        breaks.append(ChainBreak(account.account_no, None, f"stored balance {account.balance} != entries {balance}"))
    if account.entry_seq != expected_seq - 1:
        breaks.append(ChainBreak(account.account_no, None, f"entry count {account.entry_seq} != {expected_seq - 1}"))
    return breaks


def account_signed_turnover(*, account: Account) -> Decimal:
    """Signed sum of the account's entries on its normal side."""
    from postings.models import Entry

    sums = Entry.objects.filter(account=account).aggregate(
        debit=Sum("amount", filter=Q(direction="D"), default=Decimal(0)),
        credit=Sum("amount", filter=Q(direction="C"), default=Decimal(0)),
    )
    net_debit = sums["debit"] - sums["credit"]
    return net_debit if account.normal_side == "D" else -net_debit


def recent_entries(*, account: Account, limit: int = 50) -> QuerySet:
    from postings.models import Entry

    return Entry.objects.filter(account=account).select_related("posting").order_by("-account_seq")[:limit]


def hold_counts(*, account: Account) -> dict[str, int]:
    return dict(account.holds.values_list("status").annotate(n=Count("id")).values_list("status", "n"))


# ------------------------------------------------------------- refunds ----


@dataclass(frozen=True)
class LegRefunded:
    """One leg of a posting and what its refunds took back so far."""

    entry: Entry
    refunded: Decimal

    @property
    def remaining(self) -> Decimal:
        return self.entry.amount - self.refunded


def refunded_legs(*, original: Posting) -> list[LegRefunded]:
    """Every leg of ``original`` with its refunded-so-far, in entry order."""
    from .models import RefundLeg

    entries = list(original.entries.select_related("account").order_by("serial_no"))
    sums = dict(
        RefundLeg.objects.filter(original_entry__in=entries)
        .values("original_entry")
        .annotate(s=Sum("amount"))
        .values_list("original_entry", "s")
    )
    return [LegRefunded(entry, sums.get(entry.serial_no) or Decimal(0)) for entry in entries]


def refund_left(*, original: Posting) -> Decimal:
    """What is left to refund of ``original`` (its debit side)."""
    return sum((leg.remaining for leg in refunded_legs(original=original) if leg.entry.direction == "D"), Decimal(0))


def refunds_list() -> QuerySet:
    from .models import Refund

    return Refund.objects.select_related("original", "posting", "proposed_by", "decided_by").order_by("-id")


def refund_policy_for(business_type: str) -> RefundPolicy:
    """The business type's policy, or the defaults (365 days, largest remainder, no approval threshold)."""
    from .models import DEFAULT_REFUND_WINDOW_DAYS, RefundPolicy

    return RefundPolicy.objects.filter(business_type=business_type).first() or RefundPolicy(
        business_type=business_type, window_days=DEFAULT_REFUND_WINDOW_DAYS
    )


# ------------------------------------------------------ guarantee orders ----


def orders_list() -> QuerySet:
    from .models import GuaranteeOrder

    return GuaranteeOrder.objects.select_related("buyer_account", "merchant_account", "escrow_account").order_by("-id")


def order_counts() -> dict[str, int]:
    """Orders per status, for the tabs of the orders page."""
    from .models import GuaranteeOrder

    counts = dict(GuaranteeOrder.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    counts["open"] = counts.get("paid", 0) + counts.get("disputed", 0)
    return counts


@dataclass(frozen=True)
class BalanceAsOf:
    """An account's balance and frozen at a past instant or day's close.
    ``source`` says what it was read from: ``entries`` (the chain),
    ``balance_sheet`` (the end of day's sheet) or ``opening`` (no entry yet:
    zero). ``pending`` is what was booked by then on a buffered account and
    is still not applied now (signed, not in ``balance``)."""

    balance: Decimal
    frozen: Decimal
    pending: Decimal
    source: str
    account_seq: int | None


def signed_pending(account: Account, **filters) -> Decimal:
    from postings.models import Entry

    sums = Entry.objects.filter(account=account, account_seq__isnull=True, **filters).aggregate(
        debit=Sum("amount", filter=Q(direction="D"), default=Decimal(0)),
        credit=Sum("amount", filter=Q(direction="C"), default=Decimal(0)),
    )
    net_debit = sums["debit"] - sums["credit"]
    return net_debit if account.normal_side == "D" else -net_debit


def frozen_by(account: Account, entry, as_of: datetime | None, accounting_date: date | None) -> Decimal:
    """Holds change frozen without an entry: the later of the last entry and
    the last hold event says what was frozen."""
    from postings.models import HoldEvent

    events = HoldEvent.objects.filter(hold__account=account)
    if as_of is not None:
        events = events.filter(created_at__lte=as_of)
    else:
        events = events.filter(created_at__date__lte=accounting_date)
    event = events.order_by("-created_at", "-id").first()
    if event is None:
        return entry.frozen_after if entry is not None else Decimal(0)
    if entry is None or event.created_at >= entry.created_at:
        return event.frozen_after
    return entry.frozen_after


def balance_as_of(*, account: Account, as_of: datetime) -> BalanceAsOf:
    """The account at ``as_of``: its last applied entry booked (``created_at``,
    the booking transaction's start) by then, one descent of
    ``entry_account_created_idx``; the chain's ``balance_after`` already sums
    everything before it, so no history is summed. A buffered leg counts from
    its booking once it is applied (its ``created_at`` stays the booking's);
    one still pending now is reported in ``pending``, not in ``balance``."""
    from postings.models import Entry

    entry = (
        Entry.objects.filter(account=account, account_seq__isnull=False, created_at__lte=as_of)
        .order_by("-created_at", "-account_seq")
        .only("balance_after", "frozen_after", "account_seq", "created_at")
        .first()
    )
    return BalanceAsOf(
        balance=entry.balance_after if entry else Decimal(0),
        frozen=frozen_by(account, entry, as_of, None),
        pending=signed_pending(account, created_at__lte=as_of),
        source="entries" if entry else "opening",
        account_seq=entry.account_seq if entry else None,
    )


def balance_before_day(*, account: Account, accounting_date: date) -> Decimal:
    """The chain's balance before an accounting day's first entry: a
    statement's opening (the chain, not the sheet, so its running balances
    add up to it)."""
    from postings.models import Entry

    entry = (
        Entry.objects.filter(account=account, account_seq__isnull=False, accounting_date__lt=accounting_date)
        .order_by("-accounting_date", "-account_seq")
        .only("balance_after")
        .first()
    )
    return entry.balance_after if entry else Decimal(0)


def statement_entries(*, account: Account, date_from: date, date_to: date, after_seq: int = 0) -> QuerySet[Entry]:
    """The applied entries of an account dated in [date_from, date_to], in
    chain order (each one's balance_after is the statement's running
    balance). Pending buffered entries are left out until they are applied."""
    from postings.models import Entry

    return Entry.objects.filter(
        account=account,
        account_seq__gt=after_seq,
        accounting_date__gte=date_from,
        accounting_date__lte=date_to,
    ).order_by("account_seq")


def monthly_statements(*, account: Account) -> QuerySet:
    """An account's monthly statements, newest month first, without their PDFs."""
    from .models import MonthlyStatement

    return MonthlyStatement.objects.filter(account=account).select_related("account").defer("pdf").order_by("-month")


def monthly_statement_find(*, account: Account, month: date):
    """The statement of ``account`` for ``month`` (any day of it), or None."""
    from .models import MonthlyStatement

    return (
        MonthlyStatement.objects.select_related("account").filter(account=account, month=month.replace(day=1)).first()
    )


def postings_search(
    *,
    source_system: str | None = None,
    request_no: str | None = None,
    external_ref: str | None = None,
    trade_no: str | None = None,
    metadata: dict[str, str] | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    business_type: str | None = None,
    entity: Entity | None = None,
) -> QuerySet[Posting]:
    """Postings matching every filter given, newest first (serial number
    descending). Each of request_no, external_ref, trade_no, metadata and a
    created_at range is one scan of its own index (postings.models, Posting's
    indexes); the other filters narrow what it found. ``metadata``: each key
    has that string value (JSON containment)."""
    from .models import Posting

    given = {
        "source_system": source_system,
        "request_no": request_no,
        "external_ref": external_ref,
        "trade_no": trade_no,
        "created_at__gte": created_from,
        "created_at__lt": created_to,
        "business_type": business_type,
        "entity": entity,
    }
    postings = Posting.objects.filter(**{name: value for name, value in given.items() if value is not None})
    if metadata:
        # "metadata <> '{}'" is the GIN index's predicate (only postings with
        # metadata are in it): stated, the planner may use the index.
        postings = postings.filter(metadata__contains=metadata).exclude(metadata={})
    return postings.order_by("-serial_no")
