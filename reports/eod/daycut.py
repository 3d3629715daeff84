"""The calendar side of the end of day: the order in which days may run,
closing the empty days in between, and the hot accounts' buffers applied
before the day's sheet is read."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.kernel.errors import LedgerValidationError
from accounts.models import Entity
from postings.models import AccountingCalendar, AccountingDay, DayStatus, Entry
from postings.services.buffers import buffers_flush
from postings.services.calendar import calendar_for

from .exceptions import EodOutOfOrder
from .models import EodRun, RunStatus


def refuse_out_of_order(*, entity: Entity, day: date) -> None:
    """Every earlier day with entries must have a finished run; see ``reports.eod.services``."""
    calendar = calendar_for(entity=entity)
    if day > calendar.open_date:
        raise LedgerValidationError(
            f"{entity.code} is on {calendar.open_date}; the end of day of {day} cannot run before it opens.",
            accounting_date=day,
        )
    runs = EodRun.objects.filter(entity=entity, accounting_date__lt=day)
    last_done = runs.filter(status=RunStatus.DONE).aggregate(d=Max("accounting_date"))["d"]
    between = runs if last_done is None else runs.filter(accounting_date__gt=last_done)
    unfinished = between.order_by("accounting_date").first()
    if unfinished is not None:
        raise EodOutOfOrder(
            f"The end of day of {entity.code} {unfinished.accounting_date} is {unfinished.status}; "
            f"finish it before {day}.",
            missing_day=unfinished.accounting_date,
        )
    with transaction.atomic():
        # The calendar row FOR UPDATE waits for postings in flight (they hold
        # it FOR KEY SHARE) and keeps new ones out while we look and close.
        AccountingCalendar.objects.select_for_update().get(entity=entity)
        entries = Entry.objects.filter(account__entity=entity, accounting_date__lt=day)
        if last_done is not None:
            entries = entries.filter(accounting_date__gt=last_done)
        first_missing = entries.order_by("accounting_date").values_list("accounting_date", flat=True).first()
        if first_missing is not None:
            raise EodOutOfOrder(
                f"{entity.code} has entries on {first_missing} and that day's end of day has not run; "
                f"run the days from {first_missing} in order first "
                f"(manage.py eod --entity {entity.code} --from {first_missing} --to {day}).",
                missing_day=first_missing,
            )
        if last_done is not None:
            close_empty_days(entity=entity, after=last_done, before=day)


def close_empty_days(*, entity: Entity, after: date, before: date) -> None:
    """Close the days strictly between two run days: they have no entries
    (checked under the calendar lock), and the later sheet carries balances
    over them, so they must not take a back-dated posting any more."""
    days = [after + timedelta(days=n) for n in range(1, (before - after).days)]
    if not days:
        return
    now = timezone.now()
    AccountingDay.objects.bulk_create(
        [AccountingDay(entity=entity, date=d, status=DayStatus.CLOSED, cut_at=now, closed_at=now) for d in days],
        ignore_conflicts=True,
    )
    AccountingDay.objects.filter(entity=entity, date__in=days).exclude(status=DayStatus.CLOSED).update(
        status=DayStatus.CLOSED, cut_at=now, closed_at=now
    )


def flush_buffers(*, entity: Entity, accounting_date: date) -> int:
    """Apply what hot accounts buffered up to the day (汇总记账) before the
    balance sheet reads the day's entries. The day cut has already waited
    for every posting of the day, so nothing of the day can still arrive.
    Returns the number of entries applied."""
    return buffers_flush(entity=entity, up_to=accounting_date)
