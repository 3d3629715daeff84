"""Reads behind the report pages: the balance sheet at any grouping over a
date or range, check results and the 90-day charts (the vouchers' reads
are ``reports.vouchers.selectors``).

Balances in the sheet (``BalanceSheetRow``: stored rows of the movers, the
other accounts' carried as of the day) are on each account's normal side (asset:
debit; liability and internal: credit), so a total of ``closing`` is only
meaningful within one currency and, above the subject, within one category;
every grouping here keeps the currency, and the entity grouping the category.

Over a range of days an account's opening is that of its first row in the
range and its closing that of its last; turnover and entry counts add up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Case, Count, DecimalField, Exists, F, Max, OuterRef, QuerySet, Sum, Value, When

from accounts.models import Category, Entity
from postings.models import Entry

from ..eod.models import BalanceSheetRow, CheckResult
from ..vouchers.models import VoucherLine

ZERO = Decimal(0)
FIGURES = ("opening", "debit", "credit", "closing")

# group_by -> the columns that identify a row of the balance sheet
GROUPINGS: dict[str, tuple[str, ...]] = {
    "account": (
        "entity__code",
        "account__account_no",
        "account__name",
        "account_type_code",
        "subject_code",
        "category",
        "currency",
    ),
    "account_type": ("entity__code", "account_type_code", "subject_code", "category", "currency"),
    "subject": ("entity__code", "subject_code", "currency"),
    "entity": ("entity__code", "currency", "category"),
}
GROUP_LABELS = {
    "account": "account",
    "account_type": "account type",
    "subject": "subject (会计科目)",
    "entity": "entity and category",
}


def _money(expr) -> Sum:
    return Sum(expr, default=ZERO, output_field=DecimalField(max_digits=24, decimal_places=4))


def _range_figures(date_from: date, date_to: date) -> dict:
    """Aggregates giving opening, debit, credit, closing and entries of a
    group of ``BalanceSheetRow`` rows over [date_from, date_to]."""
    if date_from == date_to:
        opening, closing = F("opening"), F("closing")
    else:
        same_account = BalanceSheetRow.objects.filter(
            account=OuterRef("account"), accounting_date__gte=date_from, accounting_date__lte=date_to
        )
        first = ~Exists(same_account.filter(accounting_date__lt=OuterRef("accounting_date")))
        last = ~Exists(same_account.filter(accounting_date__gt=OuterRef("accounting_date")))
        opening = Case(When(first, then=F("opening")), default=Value(ZERO))
        closing = Case(When(last, then=F("closing")), default=Value(ZERO))
    return {
        "opening_total": _money(opening),
        "debit_total": _money("debit"),
        "credit_total": _money("credit"),
        "closing_total": _money(closing),
        "entries": Sum("entry_count", default=0),
        "accounts": Count("account", distinct=True),
    }


def balance_sheet_rows_where(
    qs: QuerySet[BalanceSheetRow] | None = None,
    *,
    date_from: str = "",
    date_to: str = "",
    entity: str = "",
    currency: str = "",
    category: str = "",
    account_type: str = "",
    subject_code: str = "",
    account_no: str = "",
) -> QuerySet[BalanceSheetRow]:
    """The balance-sheet rows matching the criteria of the balance sheet's
    filter, written as plain values (entity code, ISO dates), so that the
    page and an export written later by a worker select the same rows.
    Empty means "any"."""
    qs = BalanceSheetRow.objects.all() if qs is None else qs
    if date_from:
        qs = qs.filter(accounting_date__gte=date.fromisoformat(date_from))
    if date_to:
        qs = qs.filter(accounting_date__lte=date.fromisoformat(date_to))
    if entity:
        qs = qs.filter(entity__code=entity)
    if currency:
        qs = qs.filter(currency=currency)
    if category:
        qs = qs.filter(category=category)
    if account_type:
        qs = qs.filter(account_type_code=account_type)
    if subject_code:
        qs = qs.filter(subject_code=subject_code)
    if account_no:
        qs = qs.filter(account__account_no=account_no)
    return qs


def balance_sheet(*, rows: QuerySet, group_by: str, date_from: date, date_to: date) -> QuerySet:
    """The balance sheet (余额表) of the given BalanceSheetRow rows (already
    filtered, dates included) at a grouping: a values() queryset of dicts
    with the grouping's columns and opening_total, debit_total,
    credit_total, closing_total, entries, accounts."""
    columns = GROUPINGS[group_by]
    return rows.values(*columns).annotate(**_range_figures(date_from, date_to)).order_by(*columns)


@dataclass
class CurrencyTotals:
    currency: str
    by_category: list[dict] = field(default_factory=list)
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    entries: int = 0

    @property
    def turnover_balances(self) -> bool:
        return self.debit == self.credit

    def _closing(self, category: str) -> Decimal:
        return sum((r["closing_total"] for r in self.by_category if r["category"] == category), ZERO)

    @property
    def identity_difference(self) -> Decimal:
        """asset - liability - internal at the closing; zero when the books balance."""
        return self._closing(Category.ASSET) - self._closing(Category.LIABILITY) - self._closing(Category.INTERNAL)


def balance_sheet_totals(*, rows: QuerySet, date_from: date, date_to: date) -> list[CurrencyTotals]:
    """Totals of the filtered rows per currency, broken down by category."""
    totals: dict[str, CurrencyTotals] = {}
    grouped = rows.values("currency", "category").annotate(**_range_figures(date_from, date_to))
    for r in grouped.order_by("currency", "category"):
        t = totals.setdefault(r["currency"], CurrencyTotals(r["currency"]))
        t.by_category.append(r)
        t.debit += r["debit_total"]
        t.credit += r["credit_total"]
        t.entries += r["entries"]
    return list(totals.values())


# -------------------------------------------------------------- checks ----


def latest_check_date() -> date | None:
    return CheckResult.objects.aggregate(d=Max("accounting_date"))["d"]


def check_results() -> QuerySet:
    return CheckResult.objects.select_related("entity", "run").order_by(
        "-accounting_date", "entity__code", "check_name"
    )


# -------------------------------------------------------------- charts ----


@dataclass
class Series:
    name: str
    points: list[tuple[date, Decimal]]


def closing_by_category(*, rows: QuerySet, days: list[date]) -> list[Series]:
    """Total closing balance per category per day (one currency's rows)."""
    sums: dict[str, dict[date, Decimal]] = defaultdict(dict)
    grouped = (
        rows.filter(accounting_date__gte=days[0], accounting_date__lte=days[-1])
        .values("accounting_date", "category")
        .annotate(total=_money("closing"))
        .order_by()
    )
    for r in grouped:
        sums[r["category"]][r["accounting_date"]] = r["total"]
    series = []
    for category in Category.values:
        by_day = sums.get(category, {})
        series.append(Series(category, [(d, by_day[d]) for d in days if d in by_day]))
    return series


def turnover_by_business_type(*, entity: Entity, currency: str, days: list[date]) -> list[Series]:
    """Daily turnover (the debit side, equal to the credit side) per business
    type. Closed days come from the day's vouchers, which the end of day
    aggregated from the entries; days without vouchers (the open day, a day
    not yet closed) are aggregated from the entries themselves."""
    sums: dict[str, dict[date, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    # Debit lines of every voucher of the day, red ink (negative) netting what it reverses.
    lines = VoucherLine.objects.filter(
        voucher__entity=entity,
        currency=currency,
        direction="D",
        voucher__accounting_date__gte=days[0],
        voucher__accounting_date__lte=days[-1],
    )
    closed_days = set(lines.values_list("voucher__accounting_date", flat=True).distinct())
    for r in lines.values("voucher__accounting_date", "business_type").annotate(total=_money("amount")).order_by():
        sums[r["business_type"]][r["voucher__accounting_date"]] += r["total"]
    open_days = [d for d in days if d not in closed_days]
    if open_days:
        entries = (
            Entry.objects.filter(
                accounting_date__in=open_days, account__entity=entity, currency=currency, direction="D"
            )
            .values("accounting_date", "business_type")
            .annotate(total=_money("amount"))
            .order_by()
        )
        for r in entries:
            sums[r["business_type"]][r["accounting_date"]] += r["total"]
    return [Series(bt, [(d, by_day[d]) for d in days if d in by_day]) for bt, by_day in sorted(sums.items())]


def chart_days(end: date, n: int = 90) -> list[date]:
    return [end - timedelta(days=n - 1 - i) for i in range(n)]
