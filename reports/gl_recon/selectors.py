"""Reads of GL reconciliation: the uploaded trial balances and their
differences with the ledger's end-of-day subject totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count, DecimalField, QuerySet, Sum

from accounts.models import Entity

from ..eod.models import BalanceSheetRow
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

    @property
    def differing(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.figures if f.differs)

    def figure(self, name: str) -> Figure:
        return next(f for f in self.figures if f.name == name)


def ledger_subject_totals(*, entity: Entity, accounting_date: date) -> dict[tuple[str, str], dict]:
    """(subject_code, currency) -> opening, debit, credit, closing, accounts
    of the day's balance sheet rows (BalanceSheetRow)."""
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
    return {(r["subject_code"], r["currency"]): r for r in rows}


def gl_differences(gl_import: GlImport) -> list[GlDifference]:
    """Every subject and currency where the GL and the ledger disagree.

    Compared per (subject_code, currency): the GL row's opening, debit,
    credit, closing against the sums of the ledger's balance sheet rows of
    that entity and date (both on the subject's normal side, see
    ``reports.gl_recon.services``). A subject on one side only is compared with zeros, so it
    is listed unless all its figures are zero (a zero subject left out of a
    GL export is no difference). Sorted by subject, then currency."""
    ledger = ledger_subject_totals(entity=gl_import.entity, accounting_date=gl_import.accounting_date)
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
            GlDifference(key[0], key[1], presence, row.line if row else None, figures, sums["accounts"] if sums else 0)
        )
    return differences


def gl_imports() -> QuerySet:
    return GlImport.objects.select_related("entity", "uploaded_by").order_by("-uploaded_at", "-id")
