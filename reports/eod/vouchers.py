"""Summary vouchers (会计凭证) of the day for the general ledger."""

from __future__ import annotations

from datetime import date

from django.db import transaction

from accounts.models import Entity

from .day import _LINES, _amount, _day_of, _day_tables, _fetch, _lines_build, _temp, _tune_session
from .models import Voucher

# ------------------------------------------------------------- vouchers ----


def vouchers_build(*, entity: Entity, accounting_date: date) -> int:
    """Summary vouchers (会计凭证) of the day, replacing any earlier build: one
    per subject, direction, business type and currency, with the amount,
    the number of entries and the first and last entry serial numbers it
    covers. Numbered V<yyyymmdd>-0001 ... by currency, business type,
    debit before credit, subject, so a re-run numbers them the same.

    The grouping is done in SQL (eod_lines); what comes back is one row per
    voucher (bounded by the chart, not by the entries)."""
    with _day_tables(), transaction.atomic():
        _tune_session()
        d = _day_of(entity, accounting_date)
        _lines_build(d)
        lines = _fetch(
            f"""
            SELECT subject_code, direction, business_type, currency, SUM(amount), SUM(entry_count),
                   MIN(first_serial), MAX(last_serial)
              FROM {_temp(_LINES)}
             GROUP BY subject_code, direction, business_type, currency
             ORDER BY currency, business_type, direction DESC, subject_code""",
            {},
        )
        Voucher.objects.filter(entity=entity, accounting_date=accounting_date).delete()
        Voucher.objects.bulk_create(
            [
                Voucher(
                    entity=entity,
                    accounting_date=accounting_date,
                    voucher_no=f"V{accounting_date:%Y%m%d}-{n:04d}",
                    subject_code=subject,
                    direction=direction,
                    business_type=business_type,
                    currency=currency,
                    amount=_amount(amount),
                    entry_count=int(count),
                    first_entry_serial=first,
                    last_entry_serial=last,
                )
                for n, (subject, direction, business_type, currency, amount, count, first, last) in enumerate(lines, 1)
            ]
        )
    return len(lines)
