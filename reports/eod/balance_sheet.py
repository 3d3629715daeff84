"""The day's balance sheet (余额表): the previous run day's sheet plus the day's entries.

Design: a sheet of the day's movers
-----------------------------------
The end of day stores a ``DailyBalance`` row only for an account with
entries that day (opening, debit, credit, closing, entry count). Every other
account's row of the day is derived when it is read (``BalanceSheetRow``, a
view: reports/eod/sql/balance_sheet_view.sql): its latest stored row on or
before the day, its closing carried as opening and closing with no
turnover, shown when that closing is not zero. So the sheet a reader sees
for any day is the one a row per funded account would give (measured equal
row for row: bench/README.md, "End of day"), and the night writes and reads
what the day moved, not every account:

- eod_day (``reports.eod.day``) holds the day's movers only, each with its
  previous row (the latest stored before the day: one index probe each);
- the rows of the day are inserted for them (opening = the previous
  closing, 0 if none);
- ``DailyTotal`` holds the day's sheet summed per subject, category and
  currency: the previous run day's totals, minus each mover's previous row,
  plus its new one; ``SheetDay`` marks the day as built (the view derives
  the days it lists);
- the checks compare the movers one by one, and everything else through the
  totals (``reports.eod.checks``).

A reader of a whole day pays a probe per account instead (about a second
more per million accounts); the days the pages read are few, the nights
many. An account whose type changes on a day it does not move keeps, on
that day's derived row, the type and subject of its latest stored row until
it moves again.
"""

from __future__ import annotations

from datetime import date

from django.db import transaction

from accounts.models import Entity

from .day import (
    _DAY,
    _SIGNED,
    TOTAL_FIGURES,
    _day_build,
    _day_of,
    _day_tables,
    _day_totals,
    _execute,
    _temp,
    _tune_session,
)
from .models import DailyTotal, SheetDay

# -------------------------------------------------------- balance sheet ----


def balance_sheet_build(*, entity: Entity, accounting_date: date) -> int:
    """Build the day's balance sheet (余额表), replacing any earlier build.

    Per account with entries that day: opening (its latest closing before
    the day, 0 if none), debit and credit turnover, entry count, closing =
    opening + turnover on the account's normal side; the account's type,
    subject and category are copied as they are today. Then the day's
    totals and its SheetDay. Returns the number of rows of the day's sheet
    as readers see it (the movers and the accounts carried)."""
    with _day_tables(), transaction.atomic():
        _tune_session()
        d = _day_of(entity, accounting_date)
        _execute(
            "DELETE FROM reports_dailybalance WHERE entity_id = %(entity)s AND accounting_date = %(day)s", d.params
        )
        _day_build(d, fresh=True)
        opening, debit, credit = "COALESCE(g.prev_closing, 0)", "COALESCE(g.debit, 0)", "COALESCE(g.credit, 0)"
        closing = f"{opening} + {_SIGNED.format(cat='g.category', d=debit, c=credit)}"
        # In account order, so the (account, date) index is filled leaf after leaf.
        _execute(
            f"""
            INSERT INTO reports_dailybalance
                   (entity_id, accounting_date, account_id, account_type_code, subject_code, category, currency,
                    opening, debit, credit, closing, entry_count)
            SELECT %(entity)s, %(day)s, g.account_id, g.account_type_code, g.subject_code, g.category, g.currency,
                   {opening}, {debit}, {credit}, {closing}, g.entry_count
              FROM {_temp(_DAY)} g
             WHERE g.of_entity = 1 AND g.entry_count IS NOT NULL
             ORDER BY g.account_id""",
            d.params,
        )
        _, totals = _day_totals(d)
        DailyTotal.objects.filter(entity=entity, accounting_date=accounting_date).delete()
        DailyTotal.objects.bulk_create(
            [
                DailyTotal(
                    entity=entity,
                    accounting_date=accounting_date,
                    subject_code=subject,
                    category=category,
                    currency=currency,
                    **dict(zip(TOTAL_FIGURES, figures)),
                )
                for (subject, category, currency), figures in sorted(totals.items())
            ]
        )
        SheetDay.objects.update_or_create(entity=entity, accounting_date=accounting_date, defaults={"sparse": True})
        return int(sum(figures[4] for figures in totals.values()))
