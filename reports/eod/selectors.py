"""Reads of the end of day's own runs."""

from __future__ import annotations

from datetime import date

from django.db.models import Max

from accounts.models import Entity

from .models import EodRun, RunStatus, SheetDay


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
