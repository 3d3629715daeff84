"""The accounting-day calendar and the day cut (日切).

Every posting takes its accounting date inside its own transaction, from the
entity's calendar row read ``FOR KEY SHARE``. The day cut reads that row
``FOR UPDATE``, which waits for every posting still holding the share lock
and blocks new ones for the instant it takes to move the open day forward.
So a posting in flight at the cut commits on the old day before the cut
completes, or starts after it on the new day: one day or the other, never
both, never neither, and nothing lands on a day after its cut.

A cut day is ``closing`` until the end-of-day run closes it; neither accepts
postings. Corrections after the cut are posted on the open day and name the
day they correct (``Posting.corrects_date``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from accounts.kernel.errors import LedgerValidationError
from accounts.models import Entity

from ..exceptions import DayClosed
from ..models import AccountingCalendar, AccountingDay, DayStatus


def calendar_for(*, entity: Entity) -> AccountingCalendar:
    """The entity's calendar, opened on today's local date the first time."""
    calendar = AccountingCalendar.objects.filter(entity=entity).first()
    if calendar is None:
        AccountingCalendar.objects.bulk_create(
            [AccountingCalendar(entity=entity, open_date=timezone.localdate())], ignore_conflicts=True
        )
        calendar = AccountingCalendar.objects.get(entity=entity)
        AccountingDay.objects.bulk_create(
            [AccountingDay(entity=entity, date=calendar.open_date)], ignore_conflicts=True
        )
    return calendar


def _share_locked_open_date(entity: Entity) -> date:
    with connection.cursor() as cursor:
        # One round trip on the posting path; the calendar row exists after
        # an entity's first posting.
        cursor.execute(
            "SELECT open_date FROM postings_accountingcalendar WHERE entity_id = %s FOR KEY SHARE", [entity.pk]
        )
        row = cursor.fetchone()
        if row is None:
            calendar_for(entity=entity)
            cursor.execute(
                "SELECT open_date FROM postings_accountingcalendar WHERE entity_id = %s FOR KEY SHARE", [entity.pk]
            )
            row = cursor.fetchone()
        return row[0]


_CUT = (DayStatus.CLOSING, DayStatus.CLOSED)


def accounting_date_for_posting(*, entity: Entity, requested: date | None) -> date:
    """The accounting date of a posting being written, in its transaction.

    No date asked: the open day. A date asked (a back-dated import, the
    demo's history) must not be after the open day, nor a day already cut or
    before one."""
    open_date = _share_locked_open_date(entity)
    if requested is None or requested == open_date:
        return open_date
    if requested > open_date:
        raise LedgerValidationError(
            f"Accounting date {requested} is after the open day {open_date} of {entity.code}.",
            accounting_date=requested,
        )
    # Not only the day itself: a day before a cut day (say, before the first
    # end of day, which opens from zero) is covered by that day's sheet, whose
    # balances would no longer follow from the entries.
    cut = (
        AccountingDay.objects.filter(entity=entity, date__gte=requested, status__in=_CUT)
        .order_by("date")
        .values_list("date", "status")
        .first()
    )
    if cut is not None:
        cut_date, status = cut
        if cut_date == requested:
            message = f"Accounting day {requested} of {entity.code} is {status}; post a correction on {open_date}."
        else:
            message = (
                f"Accounting day {requested} of {entity.code} comes before {cut_date}, which is {status}; "
                f"post a correction on {open_date}."
            )
        raise DayClosed(message, accounting_date=requested, open_date=open_date)
    return requested


def day_is_closed(*, entity: Entity, day: date) -> bool:
    return AccountingDay.objects.filter(
        entity=entity, date=day, status__in=[DayStatus.CLOSING, DayStatus.CLOSED]
    ).exists()


def day_cut(*, entity: Entity, day: date, now: datetime | None = None) -> AccountingDay:
    """Cut ``day``: it stops taking postings and the next day opens. Cutting
    a day already cut changes nothing (the end of day is re-run safely);
    cutting a day that is not yet open is refused."""
    now = now or timezone.now()
    calendar_for(entity=entity)
    with transaction.atomic():
        calendar = AccountingCalendar.objects.select_for_update().get(entity=entity)
        if day < calendar.open_date:
            return AccountingDay.objects.get_or_create(
                entity=entity, date=day, defaults={"status": DayStatus.CLOSING, "cut_at": now}
            )[0]
        if day > calendar.open_date:
            raise LedgerValidationError(
                f"{entity.code} is on {calendar.open_date}; {day} cannot be cut before it opens.", day=day
            )
        cut, _ = AccountingDay.objects.get_or_create(entity=entity, date=day)
        cut.status, cut.cut_at = DayStatus.CLOSING, now
        cut.save(update_fields=["status", "cut_at"])
        calendar.open_date = day + timedelta(days=1)
        calendar.save(update_fields=["open_date", "updated_at"])
        AccountingDay.objects.get_or_create(entity=entity, date=calendar.open_date)
        return cut


def day_close(*, entity: Entity, day: date, now: datetime | None = None) -> AccountingDay:
    """Mark a cut day closed: its end of day has finished."""
    updated = AccountingDay.objects.filter(entity=entity, date=day, status__in=[DayStatus.CLOSING, DayStatus.CLOSED])
    if not updated.exists():
        raise LedgerValidationError(f"{entity.code} {day} has not been cut.", day=day)
    updated.filter(status=DayStatus.CLOSING).update(status=DayStatus.CLOSED, closed_at=now or timezone.now())
    return updated.get()


def cuts_due(*, now: datetime | None = None) -> list[tuple[Entity, date]]:
    """Entities whose open day has passed its cut moment, with that day."""
    now = now or timezone.now()
    due = []
    for entity in Entity.objects.order_by("code"):
        calendar = calendar_for(entity=entity)
        if now >= calendar.cut_moment():
            due.append((entity, calendar.open_date))
    return due
