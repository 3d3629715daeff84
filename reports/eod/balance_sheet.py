"""The day's balance sheet (余额表): the previous run day's sheet plus the day's entries.

It stores a row for every account with entries that day or a non-zero
opening, moved or not, so its cost follows the number of funded accounts
(bench/eod.py's sweep); see bench/README.md, "End of day", for the design
that stores the movers only and derives the other rows as of the day."""

from __future__ import annotations

from datetime import date

from django.db import transaction

from accounts.models import Entity

from .day import _DAY, _SIGNED, _day_build, _day_of, _day_tables, _execute, _temp, _tune_session

# -------------------------------------------------------- balance sheet ----


def balance_sheet_build(*, entity: Entity, accounting_date: date) -> int:
    """Build the day's balance sheet (余额表), replacing any earlier build.

    Per account with entries that day or a non-zero opening: opening (the
    previous run day's closing, 0 if none), debit and credit turnover, entry
    count, closing = opening + turnover on the account's normal side. The
    account's type, subject and category are copied as they are today.
    Returns the number of rows."""
    with _day_tables(), transaction.atomic():
        _tune_session()
        d = _day_of(entity, accounting_date)
        _day_build(d, fresh=True)
        _execute(
            "DELETE FROM reports_dailybalance WHERE entity_id = %(entity)s AND accounting_date = %(day)s", d.params
        )
        opening, debit, credit = "COALESCE(g.prev_closing, 0)", "COALESCE(g.debit, 0)", "COALESCE(g.credit, 0)"
        closing = f"{opening} + {_SIGNED.format(cat='g.category', d=debit, c=credit)}"
        # In account order, so the (account, date) index is filled leaf after leaf.
        rows = _execute(
            f"""
            INSERT INTO reports_dailybalance
                   (entity_id, accounting_date, account_id, account_type_code, subject_code, category, currency,
                    opening, debit, credit, closing, entry_count)
            SELECT %(entity)s, %(day)s, g.account_id, g.account_type_code, g.subject_code, g.category, g.currency,
                   {opening}, {debit}, {credit}, {closing},
                   COALESCE(g.entry_count, 0)
              FROM {_temp(_DAY)} g
             WHERE g.of_entity = 1 AND (g.entry_count IS NOT NULL OR {opening} <> 0)
             ORDER BY g.account_id""",
            d.params,
        )
        # Fresh statistics (ANALYZE counts this transaction's own rows):
        # else the report pages plan a day's million rows as one.
        _execute("ANALYZE reports_dailybalance", {})
        return rows
