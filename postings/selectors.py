"""Reads of the ledger: the accounting date, balances, entries, and the
proofs that the books hold together (the balance identity and the entry
chain). The end-of-day checks build on these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import Account, Category, Entity


def current_accounting_date(*, entity: Entity) -> date:
    """The open accounting date (会计日期) of an entity: its calendar's open
    day (see postings.calendar), which the day cut moves forward."""
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


def identity_totals(*, entity: Entity | None = None) -> list[IdentityTotals]:
    """Per entity and currency: sum(asset) = sum(liability) + sum(internal)."""
    qs = Account.objects.all()
    if entity is not None:
        qs = qs.filter(entity=entity)
    rows = (
        qs.values("entity__code", "currency")
        .annotate(
            asset=Sum("balance", filter=Q(category=Category.ASSET), default=Decimal(0)),
            liability=Sum("balance", filter=Q(category=Category.LIABILITY), default=Decimal(0)),
            internal=Sum("balance", filter=Q(category=Category.INTERNAL), default=Decimal(0)),
        )
        .order_by("entity__code", "currency")
    )
    return [
        IdentityTotals(r["entity__code"], r["currency"], r["asset"], r["liability"], r["internal"]) for r in rows
    ]


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
    entries = Entry.objects.filter(account=account).order_by("account_seq").values_list(
        "serial_no", "account_seq", "direction", "amount", "balance_before", "balance_after"
    )
    for serial, seq, direction, amount, before, after in entries.iterator(chunk_size=2000):
        if seq != expected_seq:
            breaks.append(ChainBreak(account.account_no, serial, f"sequence {seq}, expected {expected_seq}"))
        if before != balance:
            breaks.append(ChainBreak(account.account_no, serial, f"balance before {before} != previous after {balance}"))
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
