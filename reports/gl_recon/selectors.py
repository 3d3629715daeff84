"""Reads of GL reconciliation: the uploaded trial balances and their
differences with the ledger's end-of-day subject totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count, DecimalField, QuerySet, Sum

from accounts.models import Entity
from postings.models import Entry

from ..eod.models import BalanceSheetRow
from ..periods.selectors import ledger_period_totals, voucher_period_totals
from ..vouchers.selectors import voucher_turnover
from .models import GlImport

ZERO = Decimal(0)
FIGURES = ("opening", "debit", "credit", "closing")


def _money(expr) -> Sum:
    return Sum(expr, default=ZERO, output_field=DecimalField(max_digits=24, decimal_places=4))


# ---------------------------------------------------- GL reconciliation ----


@dataclass(frozen=True)
class Figure:
    name: str
    gl: Decimal | None
    ledger: Decimal | None

    @property
    def delta(self) -> Decimal:
        """GL minus ledger (a missing side counts as zero)."""
        return (self.gl or ZERO) - (self.ledger or ZERO)

    @property
    def differs(self) -> bool:
        return self.delta != 0


@dataclass(frozen=True)
class GlDifference:
    subject_code: str
    currency: str
    presence: str  # "both", "gl_only" or "ledger_only"
    gl_line: int | None
    figures: tuple[Figure, ...]
    accounts: int  # the ledger's accounts of the subject that day
    # The day's vouchers on the subject, red ink netted: every one built, and those sent to the GL
    # (exported or acknowledged). (debit, credit) each.
    vouchers_built: tuple[Decimal, Decimal] = (ZERO, ZERO)
    vouchers_sent: tuple[Decimal, Decimal] = (ZERO, ZERO)

    @property
    def differing(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.figures if f.differs)

    def figure(self, name: str) -> Figure:
        return next(f for f in self.figures if f.name == name)

    def _turnover(self, side: str) -> tuple[Decimal, Decimal]:
        return tuple((getattr(self.figure(n), side) or ZERO) for n in ("debit", "credit"))  # type: ignore[return-value]

    @property
    def voucher_finding(self) -> str:
        """Where the vouchers place the difference in turnover (a difference
        of opening or closing alone is the GL's carried balance)."""
        ledger, gl = self._turnover("ledger"), self._turnover("gl")
        if self.vouchers_built != ledger:
            return "vouchers_stale"  # the day's vouchers do not add up to its entries: rebuild them
        if gl == self.vouchers_sent and self.vouchers_sent != self.vouchers_built:
            return "not_exported"  # the GL has what was exported; drafts (a correction, say) are not yet
        if gl != self.vouchers_sent:
            return "gl_differs_from_vouchers"  # a voucher not imported by the GL, or changed there
        return "balances_only"


def ledger_subject_totals(*, entity: Entity, accounting_date: date) -> dict[tuple[str, str], dict]:
    """(subject_code, currency) -> opening, debit, credit, closing, accounts
    of the day's balance sheet rows (BalanceSheetRow), turnover as the GL
    books it: a red-ink correction's red posting (postings.models.Correction)
    is in the GL as negative amounts on its original's side, not as turnover
    on the other side, so its amount comes off both the debit and the credit
    (an entry of X on one side is -X on the other; the closing is the same)."""
    rows = (
        BalanceSheetRow.objects.filter(entity=entity, accounting_date=accounting_date)
        .values("subject_code", "currency")
        .annotate(
            opening=_money("opening"),
            debit=_money("debit"),
            credit=_money("credit"),
            closing=_money("closing"),
            accounts=Count("account"),
        )
    )
    totals = {(r["subject_code"], r["currency"]): r for r in rows}
    red = (
        Entry.objects.filter(
            account__entity=entity, accounting_date=accounting_date, posting__correction_red__isnull=False
        )
        .values("account__account_type__subject_code", "currency")
        .annotate(total=_money("amount"))
        .order_by()
    )
    for r in red:
        sums = totals.get((r["account__account_type__subject_code"], r["currency"]))
        if sums is not None:
            sums["debit"] -= r["total"]
            sums["credit"] -= r["total"]
    return totals


def gl_differences(gl_import: GlImport) -> list[GlDifference]:
    """Every subject and currency where the GL and the ledger disagree.

    Compared per (subject_code, currency): the GL row's opening, debit,
    credit, closing against the sums of the ledger's balance sheet rows of
    that entity and date (both on the subject's normal side, see
    ``reports.gl_recon.services``). A subject on one side only is compared with zeros, so it
    is listed unless all its figures are zero (a zero subject left out of a
    GL export is no difference). Sorted by subject, then currency."""
    entity, end = gl_import.entity, gl_import.accounting_date
    if gl_import.period_start is not None:
        # A month's or a year's trial balance: the ledger's period figures, the period's vouchers.
        start = gl_import.period_start
        ledger = ledger_period_totals(entity=entity, start=start, end=end)
        built = voucher_period_totals(entity=entity, start=start, end=end)
        sent = voucher_period_totals(entity=entity, start=start, end=end, exported_only=True)
    else:
        ledger = ledger_subject_totals(entity=entity, accounting_date=end)
        built = voucher_turnover(entity=entity, accounting_date=end)
        sent = voucher_turnover(entity=entity, accounting_date=end, exported_only=True)

    def pair(sums: dict | None) -> tuple[Decimal, Decimal]:
        return (sums["debit"], sums["credit"]) if sums else (ZERO, ZERO)

    gl = {(r.subject_code, r.currency): r for r in gl_import.rows.all()}
    differences = []
    for key in sorted(set(ledger) | set(gl)):
        row, sums = gl.get(key), ledger.get(key)
        figures = tuple(
            Figure(name, getattr(row, name) if row else None, sums[name] if sums else None) for name in FIGURES
        )
        if not any(f.differs for f in figures):
            continue
        presence = "both" if row and sums else ("gl_only" if row else "ledger_only")
        differences.append(
            GlDifference(
                key[0],
                key[1],
                presence,
                row.line if row else None,
                figures,
                sums["accounts"] if sums else 0,
                pair(built.get(key)),
                pair(sent.get(key)),
            )
        )
    return differences


def gl_imports() -> QuerySet:
    return GlImport.objects.select_related("entity", "uploaded_by").order_by("-uploaded_at", "-id")
