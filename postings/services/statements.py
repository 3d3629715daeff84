"""Members' monthly statements (月度对账单): the PDF of each member account's
calendar month, made once and kept (``MonthlyStatement``).

Which accounts: every member account of an entity whose accounting day has
moved past the month (its day cut has closed the month's last day, so no
entry can still be dated in it) that had an entry dated in the month or
closed it with a balance. An account whose statement exists is skipped, so
the job may run as often as it likes: on the 1st, and again on the 2nd and
3rd for an entity whose cut was late. Two runs at once make each statement
once (the unique constraint; the loser's insert is dropped).

Each statement is written in its own short transaction, so a run over many
accounts holds no lock for long and a failure leaves the ones already made.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from accounts.models import Account, Entity

from ..documents import statement_pdf
from ..models import Entry, MonthlyStatement
from ..selectors import current_accounting_date

log = logging.getLogger(__name__)

ACTOR = "system:monthly-statements"


@dataclass(frozen=True)
class StatementRun:
    month: date
    made: int
    entities_waiting: list[str]


def month_end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def previous_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def statement_accounts(*, month: date, entities: list[Entity]):
    """Member accounts of ``entities`` due a statement for ``month`` and
    without one yet: an entry dated in the month, or a balance at its end."""
    end = month_end(month)
    in_month = Entry.objects.filter(
        account=OuterRef("pk"), account_seq__isnull=False, accounting_date__gte=month, accounting_date__lte=end
    )
    last_balance = (
        Entry.objects.filter(account=OuterRef("pk"), account_seq__isnull=False, accounting_date__lte=end)
        .order_by("-accounting_date", "-account_seq")
        .values("balance_after")[:1]
    )
    made = MonthlyStatement.objects.filter(account=OuterRef("pk"), month=month)
    return (
        Account.objects.filter(member__isnull=False, entity__in=entities)
        .annotate(active=Exists(in_month), closing=Subquery(last_balance), made=Exists(made))
        .filter(Q(active=True) | (Q(closing__isnull=False) & ~Q(closing=0)), made=False)
        .order_by("id")
    )


def monthly_statement_make(*, account: Account, month: date, actor: str = ACTOR) -> MonthlyStatement | None:
    """The statement of ``account`` for ``month`` (its first day), made and
    stored; None when one exists already (made by another run meanwhile)."""
    if month.day != 1:
        raise ValueError(f"month must be a month's first day, got {month}")
    pdf, figures = statement_pdf(
        account=account, date_from=month, date_to=month_end(month), title="Monthly statement 月度对账单"
    )
    try:
        with transaction.atomic():
            return MonthlyStatement.objects.create(
                account=account,
                month=month,
                currency=account.currency,
                opening=figures.opening,
                closing=figures.closing,
                debit_total=figures.debit_total,
                credit_total=figures.credit_total,
                entry_count=figures.entry_count,
                pdf=pdf,
                sha256=hashlib.sha256(pdf).hexdigest(),
                generated_by=actor,
            )
    except IntegrityError:
        if MonthlyStatement.objects.filter(account=account, month=month).exists():
            return None
        raise


def monthly_statements_generate(*, month: date | None = None, actor: str = ACTOR) -> StatementRun:
    """Make the missing statements of ``month`` (default: last month, by
    today's date in Beijing) for every entity whose day cut has passed it."""
    month = (month or previous_month(timezone.localdate())).replace(day=1)
    end = month_end(month)
    ready, waiting = [], []
    for entity in Entity.objects.order_by("code"):
        (ready if current_accounting_date(entity=entity) > end else waiting).append(entity)
    made = 0
    for account in statement_accounts(month=month, entities=ready).iterator(chunk_size=500):
        if monthly_statement_make(account=account, month=month, actor=actor) is not None:
            made += 1
    if waiting:
        log.info(
            "monthly statements of %s: entities %s have not cut past %s yet; their statements wait for a later run",
            f"{month:%Y-%m}",
            ", ".join(e.code for e in waiting),
            end,
        )
    return StatementRun(month=month, made=made, entities_waiting=[e.code for e in waiting])
