"""Reads of the period close: periods, and the period trial balance (试算平衡表).

The trial balance of a range of days (a month or a year) per subject and
currency: opening (the balance before the first day), the range's debits and
credits, closing. Balances are stated debit-positive (借正贷负), so the
column totals show the identity: openings and closings sum to zero, debits
equal credits. It is computed from the entries, a period close's postings
counted on the last day of the period they close (they are booked on the open
day after it), which is also how their vouchers are dated: the trial balance
of a period equals the sum of its vouchers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet

from accounts.models import Entity
from postings.models import Posting

from ..vouchers.build import CLOSING_TYPES
from ..vouchers.models import VoucherLine
from .models import AccountingPeriod

ZERO = Decimal(0)

# The range's turnover as the GL books it: a red-ink correction's red posting
# (postings.models.Correction) is negative amounts on its original's side, so
# an entry of X on one side counts -X on the other (balances are the same).
_TURNOVER = """
           SUM(CASE WHEN day < %(start)s THEN 0
                    WHEN red THEN (CASE WHEN direction = 'C' THEN -amount ELSE 0 END)
                    ELSE (CASE WHEN direction = 'D' THEN amount ELSE 0 END) END),
           SUM(CASE WHEN day < %(start)s THEN 0
                    WHEN red THEN (CASE WHEN direction = 'D' THEN -amount ELSE 0 END)
                    ELSE (CASE WHEN direction = 'C' THEN amount ELSE 0 END) END)"""

_TRIAL_SQL = """
    WITH closing AS (SELECT cp.posting_id, p.end_date FROM reports_periodclosingposting cp
                       JOIN reports_accountingperiod p ON p.id = cp.period_id),
         moved AS (
           SELECT t.subject_code, e.currency, e.direction, e.amount,
                  COALESCE(c.end_date, e.accounting_date) AS day, r.id IS NOT NULL AS red
             FROM postings_entry e
             JOIN accounts_account a ON a.id = e.account_id
             JOIN accounts_accounttype t ON t.id = a.account_type_id
             LEFT JOIN closing c ON c.posting_id = e.posting_id
             LEFT JOIN postings_correction r ON r.red_posting_id = e.posting_id
            WHERE a.entity_id = %(entity)s)
    SELECT subject_code, currency,
           SUM(CASE WHEN day < %(start)s THEN (CASE WHEN direction = 'D' THEN amount ELSE -amount END) ELSE 0 END),
           {turnover}
      FROM moved
     WHERE day <= %(end)s
     GROUP BY subject_code, currency
     ORDER BY currency, subject_code""".replace("{turnover}", _TURNOVER)


@dataclass(frozen=True)
class TrialRow:
    subject_code: str
    currency: str
    opening: Decimal  # debit-positive
    debit: Decimal
    credit: Decimal

    @property
    def closing(self) -> Decimal:
        return self.opening + self.debit - self.credit


def trial_balance(*, entity: Entity, start: date, end: date) -> list[TrialRow]:
    with connection.cursor() as cursor:
        cursor.execute(_TRIAL_SQL, {"entity": entity.pk, "start": start, "end": end})
        rows = cursor.fetchall()
    return [
        TrialRow(subject, currency, Decimal(opening), Decimal(debit), Decimal(credit))
        for subject, currency, opening, debit, credit in rows
        if opening or debit or credit
    ]


def trial_totals(rows: list[TrialRow]) -> dict[str, dict[str, Decimal]]:
    """Per currency: the sums of each column (openings and closings 0, debits = credits)."""
    totals: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        t = totals.setdefault(row.currency, {"opening": ZERO, "debit": ZERO, "credit": ZERO, "closing": ZERO})
        for name in t:
            t[name] += getattr(row, name)
    return totals


_NORMAL_SQL = """
    WITH closing AS (SELECT cp.posting_id, p.end_date FROM reports_periodclosingposting cp
                       JOIN reports_accountingperiod p ON p.id = cp.period_id),
         moved AS (
           SELECT t.subject_code, e.currency, e.direction, e.amount, e.account_id,
                  CASE WHEN e.direction = (CASE WHEN a.category = 'asset' THEN 'D' ELSE 'C' END)
                       THEN e.amount ELSE -e.amount END AS normal,
                  COALESCE(c.end_date, e.accounting_date) AS day, r.id IS NOT NULL AS red
             FROM postings_entry e
             JOIN accounts_account a ON a.id = e.account_id
             JOIN accounts_accounttype t ON t.id = a.account_type_id
             LEFT JOIN closing c ON c.posting_id = e.posting_id
             LEFT JOIN postings_correction r ON r.red_posting_id = e.posting_id
            WHERE a.entity_id = %(entity)s)
    SELECT subject_code, currency,
           SUM(CASE WHEN day < %(start)s THEN normal ELSE 0 END),
           {turnover},
           SUM(normal),
           COUNT(DISTINCT account_id)
      FROM moved
     WHERE day <= %(end)s
     GROUP BY subject_code, currency""".replace("{turnover}", _TURNOVER)


def ledger_period_totals(*, entity: Entity, start: date, end: date) -> dict[tuple[str, str], dict]:
    """(subject_code, currency) -> opening, debit, credit, closing, accounts of
    a period, balances on each account's normal side as the balance sheet and
    the GL's trial balance state them (reports.gl_recon)."""
    with connection.cursor() as cursor:
        cursor.execute(_NORMAL_SQL, {"entity": entity.pk, "start": start, "end": end})
        rows = cursor.fetchall()
    return {
        (subject, currency): {
            "subject_code": subject,
            "currency": currency,
            "opening": Decimal(opening),
            "debit": Decimal(debit),
            "credit": Decimal(credit),
            "closing": Decimal(closing),
            "accounts": accounts,
        }
        for subject, currency, opening, debit, credit, closing, accounts in rows
    }


def voucher_period_totals(*, entity: Entity, start: date, end: date, exported_only: bool = False) -> dict:
    """As ``voucher_period_turnover``, shaped as reports.vouchers' ``voucher_turnover``
    ({"debit", "credit"} per subject and currency)."""
    return {
        key: {"debit": debit, "credit": credit}
        for key, (debit, credit) in voucher_period_turnover(
            entity=entity, start=start, end=end, exported_only=exported_only
        ).items()
    }


def voucher_period_turnover(
    *, entity: Entity, start: date, end: date, exported_only: bool = False
) -> dict[tuple[str, str], tuple]:
    """(subject, currency) -> (debit, credit) of the vouchers dated in the range, red ink netted;
    with ``exported_only``, those sent to the GL."""
    out: dict[tuple[str, str], list[Decimal]] = {}
    lines = VoucherLine.objects.filter(voucher__entity=entity, voucher__accounting_date__range=(start, end))
    if exported_only:
        lines = lines.exclude(voucher__status="draft")
    lines = lines.values_list("subject_code", "currency", "direction", "amount")
    for subject, currency, direction, amount in lines:
        sides = out.setdefault((subject, currency), [ZERO, ZERO])
        sides[0 if direction == "D" else 1] += amount
    return {k: tuple(v) for k, v in out.items() if v[0] or v[1]}


def period_corrections(*, entity: Entity, start: date, end: date) -> QuerySet:
    """Postings booked after the range that name a day in it (``corrects_date``):
    corrections of the period, which stay in the period they were booked in
    (a closed period's figures never change). A close's own postings are not
    corrections."""
    return (
        Posting.objects.filter(entity=entity, corrects_date__range=(start, end), accounting_date__gt=end)
        .exclude(business_type__in=CLOSING_TYPES)
        .order_by("serial_no")
    )


def periods() -> QuerySet:
    return AccountingPeriod.objects.select_related("entity", "proposed_by", "approved_by").prefetch_related(
        "closing_postings"
    )
