"""Reads of settlement: what merchants have pending and due, the channel
batches, the reserve-fund check (备付金核对)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import Max, Sum

from accounts.kernel.money import ZERO
from accounts.models import Account, Category, Entity
from postings.models import Direction
from postings.services.calendar import calendar_for

from ..eod.models import DailyBalance
from .calendar import BusinessDays
from .models import ChannelSettlement, MerchantSettlement, ReserveBalance, ReserveBankAccount, SettlementTerm
from .services import merchant_due_entries, unsettled_entries


@dataclass
class DueLine:
    accounting_date: date
    due_on: date
    amount: Decimal


@dataclass
class MerchantPosition:
    """A T+N merchant's money: available, pending, what is due now, and the
    pending credits by the day they become available."""

    term: SettlementTerm
    available: Decimal
    pending: Decimal
    due_now: Decimal
    schedule: list[DueLine] = field(default_factory=list)


def merchant_position(term: SettlementTerm, today: date | None = None) -> MerchantPosition:
    entity = term.account.entity
    today = today or calendar_for(entity=entity).open_date
    due, _ = merchant_due_entries(term, today)
    due_now = sum((a if d == Direction.CREDIT else -a for d, a in due.values_list("direction", "amount")), ZERO)
    days = BusinessDays(entity_id=entity.pk, around=today)
    by_day = (
        unsettled_entries([term.pending_account_id])
        .filter(direction=Direction.CREDIT)
        .values("accounting_date")
        .annotate(total=Sum("amount"))
        .order_by("accounting_date")
    )
    schedule = [
        DueLine(row["accounting_date"], days.after(row["accounting_date"], term.days), row["total"]) for row in by_day
    ]
    account = Account.objects.get(pk=term.account_id)
    pending = Account.objects.get(pk=term.pending_account_id)
    return MerchantPosition(term, account.available, pending.balance, max(due_now, ZERO), schedule)


def terms():
    return SettlementTerm.objects.select_related("account__entity", "account__member", "pending_account").order_by(
        "account__account_no"
    )


def merchant_settlements():
    return MerchantSettlement.objects.select_related("account", "pending_account", "posting")


def channel_settlements():
    return ChannelSettlement.objects.select_related("channel", "posting", "bank_account", "fee_account")


def covered_entries(settlement: ChannelSettlement):
    return settlement.entries.select_related("entry__account", "entry__posting").order_by("entry_id")


# --------------------------------------------------------- reserve funds ----


@dataclass
class ReserveBank:
    account: ReserveBankAccount
    balance: Decimal | None  # None: not entered for the day


@dataclass
class ReserveCheck:
    """Per entity and currency on a day: member cash owed (liabilities)
    against the reserve funds at the banks; ``difference`` = banks - owed
    (negative: not covered). ``complete`` is False while a bank's balance
    for the day is missing."""

    entity: Entity
    currency: str
    day: date
    liabilities: Decimal
    liabilities_source: str  # "end of day" or "live"
    banks: list[ReserveBank]

    @property
    def bank_total(self) -> Decimal:
        return sum((b.balance for b in self.banks if b.balance is not None), ZERO)

    @property
    def difference(self) -> Decimal:
        return self.bank_total - self.liabilities

    @property
    def complete(self) -> bool:
        return all(b.balance is not None for b in self.banks)

    @property
    def covered(self) -> bool:
        return self.complete and self.difference >= 0


def _liabilities(entity: Entity, currency: str, day: date) -> tuple[Decimal, str]:
    """Customer liabilities at the close of ``day``: the end of day's sheet
    when the day has one, else (the open day) the live balances."""
    if (
        calendar_for(entity=entity).open_date > day
        and DailyBalance.objects.filter(entity=entity, accounting_date=day).exists()
    ):
        # The sheet keeps a row per account that moved on a day: each account
        # closed ``day`` at its latest row up to it.
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT COALESCE(SUM(closing), 0) FROM (
                       SELECT DISTINCT ON (account_id) closing FROM reports_dailybalance
                        WHERE entity_id = %s AND currency = %s AND category = 'liability' AND accounting_date <= %s
                        ORDER BY account_id, accounting_date DESC) last_rows""",
                [entity.pk, currency, day],
            )
            return cursor.fetchone()[0], "end of day"
    live = Account.objects.filter(entity=entity, currency=currency, category=Category.LIABILITY).aggregate(
        t=Sum("balance")
    )["t"]
    return live or ZERO, "live"


def reserve_check(*, day: date) -> list[ReserveCheck]:
    banks = list(ReserveBankAccount.objects.filter(active=True).select_related("entity"))
    entered = dict(
        ReserveBalance.objects.filter(balance_date=day, bank_account__in=banks).values_list(
            "bank_account_id", "balance"
        )
    )
    checks: dict[tuple[int, str], ReserveCheck] = {}
    for bank in banks:
        key = (bank.entity_id, bank.currency)
        if key not in checks:
            owed, source = _liabilities(bank.entity, bank.currency, day)
            checks[key] = ReserveCheck(bank.entity, bank.currency, day, owed, source, [])
        checks[key].banks.append(ReserveBank(bank, entered.get(bank.pk)))
    return [checks[k] for k in sorted(checks, key=lambda k: (k[0], k[1]))]


def latest_reserve_day() -> date | None:
    return ReserveBalance.objects.aggregate(d=Max("balance_date"))["d"]
