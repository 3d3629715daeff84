"""Reads of the end of day's own runs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import Max

from accounts.models import Account, Entity
from postings.models import Entry
from postings.selectors import BalanceAsOf, frozen_by, signed_pending

from .models import BalanceSheetRow, EodRun, RunStatus, SheetDay


def previous_run_date(*, entity: Entity, accounting_date: date) -> date | None:
    """The last day before ``accounting_date`` whose end of day is done: its
    balance sheet holds the opening balances of ``accounting_date``."""
    return EodRun.objects.filter(entity=entity, accounting_date__lt=accounting_date, status=RunStatus.DONE).aggregate(
        d=Max("accounting_date")
    )["d"]


def latest_balance_date(*, entity: Entity | None = None) -> date | None:
    qs = SheetDay.objects.all()
    if entity is not None:
        qs = qs.filter(entity=entity)
    return qs.aggregate(d=Max("accounting_date"))["d"]


def balance_at_close(*, account: Account, accounting_date: date) -> BalanceAsOf:
    """The account's closing of an accounting day: the end of day's balance
    sheet where the day has one (what finance reported), else the last
    applied entry dated on or before the day. Frozen is not on the sheet:
    it comes from the chain and the hold events of dates up to the day."""
    entry = (
        Entry.objects.filter(account=account, account_seq__isnull=False, accounting_date__lte=accounting_date)
        .order_by("-accounting_date", "-account_seq")
        .only("balance_after", "frozen_after", "account_seq", "created_at")
        .first()
    )
    row = BalanceSheetRow.objects.filter(account=account, accounting_date=accounting_date).only("closing").first()
    if row is not None:
        balance, source = row.closing, "balance_sheet"
    else:
        balance, source = (entry.balance_after, "entries") if entry else (Decimal(0), "opening")
    return BalanceAsOf(
        balance=balance,
        frozen=frozen_by(account, entry, None, accounting_date),
        pending=signed_pending(account, accounting_date__lte=accounting_date),
        source=source,
        account_seq=entry.account_seq if entry else None,
    )
