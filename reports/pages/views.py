"""Read-only report pages under /reports/: balance sheet, check results,
charts, hot accounts, and the drill-down from any of them to an
account's entries, an entry, its posting and request number.

Every page needs a logged-in user (else the login page) and the view
permission of what it shows (else 403). Reads go through
``reports.pages.selectors``. (GL reconciliation, end-of-day runs and channel
reconciliation and vouchers have their pages in their own packages.)
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib import messages
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.kernel.pages import paginate, querystring_without, staff_page
from accounts.kernel.permissions import has_permission, holders_of
from accounts.models import Account, Category
from accounts.selectors import main_entity
from postings.models import Entry
from postings.selectors import buffer_depths, identity_totals
from postings.services.buffers import buffers_flush

from ..eod.models import BalanceSheetRow
from ..eod.selectors import latest_balance_date
from ..exporting.services import export_request, in_request
from ..exports import Column, csv_response, xlsx_response
from ..filters import with_default_dates
from ..settlement import selectors as settlement_selectors
from ..vouchers.selectors import voucher_lines_of_entry
from . import charts, selectors
from .exporting import BALANCE_SHEET, balance_sheet_columns
from .filters import (
    BalanceSheetFilter,
    ChartFilter,
    CheckResultFilter,
    EntryFilter,
)

RUN_EOD = "reports.run_eod"


VIEW_BALANCES = "reports.view_dailybalance"
VIEW_CHECKS = "reports.view_checkresult"
VIEW_ENTRIES = "postings.view_entry"
VIEW_POSTINGS = "postings.view_posting"
VIEW_ACCOUNTS = "accounts.view_account"


# ------------------------------------------------------- balance sheet ----


class _Sheet:
    """The balance sheet a request asks for, shared by the page and its downloads."""

    def __init__(self, request):
        latest = latest_balance_date()
        self.filter = BalanceSheetFilter(
            with_default_dates(request.GET, latest), queryset=BalanceSheetRow.objects.all()
        )
        self.latest = latest
        self.valid = self.filter.is_valid()
        data = self.filter.form.cleaned_data if self.valid else {}
        self.date_from: date | None = data.get("date_from")
        self.date_to: date | None = data.get("date_to")
        self.group_by = self.filter.grouping
        self.ready = self.valid and self.date_from is not None and self.date_to is not None
        if self.ready:
            rows = self.filter.qs
            self.rows = selectors.balance_sheet(
                rows=rows, group_by=self.group_by, date_from=self.date_from, date_to=self.date_to
            )
            self.totals = selectors.balance_sheet_totals(rows=rows, date_from=self.date_from, date_to=self.date_to)
        else:
            self.rows, self.totals = BalanceSheetRow.objects.none().values(), []

    def filename(self) -> str:
        if not self.ready:
            return "balance-sheet"
        span = f"{self.date_from:%Y%m%d}" + ("" if self.date_from == self.date_to else f"-{self.date_to:%Y%m%d}")
        return f"balance-sheet-{self.group_by}-{span}"

    def columns(self) -> list[Column]:
        return balance_sheet_columns(self.group_by, self.date_from, self.date_to)

    def criteria(self) -> dict:
        return {"group_by": self.group_by, **self.filter.criteria()}


@require_GET
@staff_page(VIEW_BALANCES)
def balance_sheet(request):
    sheet = _Sheet(request)
    querystring = querystring_without(request, "page")
    return render(
        request,
        "reports/balance_sheet.html",
        {
            "sheet": sheet,
            "filter": sheet.filter,
            "page": paginate(request, sheet.rows, 100),
            "group_label": selectors.GROUP_LABELS[sheet.group_by],
            "columns": selectors.GROUPINGS[sheet.group_by],
            "querystring": querystring,
            "export_query": with_default_dates(request.GET, sheet.latest).urlencode(),
        },
    )


@require_GET
@staff_page(VIEW_BALANCES)
def balance_sheet_csv(request):
    sheet = _Sheet(request)
    return csv_response(
        sheet.filename(), sheet.columns(), sheet.rows.iterator(chunk_size=2000), lambda r: r["currency"]
    )


@require_POST
@staff_page(VIEW_BALANCES)
def balance_sheet_xlsx(request):
    """The sheet the form's query string asks for as XLSX: written here when
    it is small, else by a worker, whose progress page then offers the file
    (``reports.exporting``). A POST, because it may create that export."""
    sheet = _Sheet(request)
    if not sheet.ready:
        messages.error(request, "Fix the filter before exporting.")
        return redirect(reverse("reports:balance_sheet") + "?" + request.GET.urlencode())
    if in_request(sheet.rows.count()):
        return xlsx_response(
            sheet.filename(),
            BALANCE_SHEET.sheet,
            sheet.columns(),
            sheet.rows.iterator(chunk_size=2000),
            BALANCE_SHEET.currency_of,
        )
    export = export_request(
        user=request.user, kind=BALANCE_SHEET.name, criteria=sheet.criteria(), file_name=sheet.filename() + ".xlsx"
    )
    return redirect("reports:export", pk=export.pk)


# -------------------------------------------------------------- checks ----


@require_GET
@staff_page(VIEW_CHECKS)
def checks(request):
    filterset = CheckResultFilter(
        with_default_dates(request.GET, selectors.latest_check_date()), queryset=selectors.check_results()
    )
    results = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    page = paginate(request, results, 50)
    return render(
        request,
        "reports/checks.html",
        {
            "filter": filterset,
            "page": page,
            "failed": results.filter(passed=False).count(),
            "querystring": querystring_without(request, "page"),
        },
    )


# -------------------------------------------------------- hot accounts ----


@require_GET
# The page is under Reports, which a role sees with the balance sheet's
# permission: no role reads it without seeing it in its menu.
@staff_page(VIEW_BALANCES, VIEW_ACCOUNTS)
def hot_accounts(request):
    """Buffer depth and age per hot account (热点账户), and the live balance
    identity counted with the buffers: what finance watches between flushes.
    A buffer older than the alert age comes with the flush that clears it,
    or, for someone who may not flush, the roles and people who may."""

    alert_after = settings.BUFFER_ALERT_SECONDS
    depths = buffer_depths()
    can_flush = has_permission(request.user, RUN_EOD)
    late = [d for d in depths if d.age_seconds is not None and d.age_seconds > alert_after]
    flushers = holders_of(RUN_EOD) if late and not can_flush else None
    return render(
        request,
        "reports/hot_accounts.html",
        {
            "depths": depths,
            "identity": identity_totals(),
            "alert_after": alert_after,
            "alert_minutes": alert_after / 60,
            "late": late,
            "can_flush": can_flush,
            "flushers": flushers,
        },
    )


@require_POST
@staff_page(VIEW_ACCOUNTS, RUN_EOD)
def hot_accounts_flush(request):

    applied = buffers_flush()
    messages.success(request, f"{applied} pending entr{'y' if applied == 1 else 'ies'} applied.")
    return redirect("reports:hot_accounts")


# -------------------------------------------------------------- charts ----


@require_GET
@staff_page(VIEW_BALANCES)
def chart_page(request):
    # Opened without a choice: the main entity, in its own currency.
    main = main_entity()
    filterset = ChartFilter(request.GET or {"entity": main and main.pk}, queryset=BalanceSheetRow.objects.all())
    data = filterset.form.cleaned_data if filterset.is_valid() else {}
    entity = data.get("entity") or main
    currency = data.get("currency") or (entity.base_currency if entity else "CNY")
    end = data.get("end") or latest_balance_date(entity=entity) or date.today()
    days = selectors.chart_days(end)
    context = {"filter": filterset, "entity": entity, "currency": currency, "days": days}
    if entity is not None:
        rows = BalanceSheetRow.objects.filter(entity=entity, currency=currency)
        closing = selectors.closing_by_category(rows=rows, days=days)
        turnover = selectors.turnover_by_business_type(entity=entity, currency=currency, days=days)
        turnover_colours = charts.colours_for([s.name for s in turnover])
        context.update(
            {
                "closing": closing,
                "turnover": turnover,
                "closing_svg": charts.line_chart(
                    closing,
                    days,
                    title=f"Daily closing balance by category, {currency}",
                    colours=charts.CATEGORY_COLOURS,
                ),
                "turnover_svg": charts.stacked_bar_chart(
                    turnover, days, title=f"Daily turnover by business type, {currency}", colours=turnover_colours
                ),
                "closing_legend": [(s.name, charts.CATEGORY_COLOURS[s.name]) for s in closing],
                "turnover_legend": list(turnover_colours.items()),
                "closing_table": _table(closing, days),
                "turnover_table": _table(turnover, days),
            }
        )
    return render(request, "reports/charts.html", context)


def _table(series, days) -> dict:
    by_name = {s.name: dict(s.points) for s in series}
    names = [s.name for s in series]
    rows = [(d, [by_name[n].get(d) for n in names]) for d in reversed(days) if any(d in by_name[n] for n in names)]
    return {"names": names, "rows": rows}


# ---------------------------------------------------------- drill-down ----


@require_GET
@staff_page(VIEW_ENTRIES, VIEW_ACCOUNTS)
def account_entries(request, account_no: str):
    """An account's entries over a day or range, under its balance sheet rows."""
    account = get_object_or_404(
        Account.objects.select_related("entity", "account_type", "member"), account_no=account_no
    )
    latest = (
        BalanceSheetRow.objects.filter(account=account)
        .order_by("-accounting_date")
        .values_list("accounting_date", flat=True)
        .first()
    )
    filterset = EntryFilter(
        with_default_dates(request.GET, latest),
        queryset=Entry.objects.filter(account=account).select_related("posting").order_by("account_seq"),
    )
    entries = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    data = filterset.form.cleaned_data if filterset.is_valid() else {}
    balances = BalanceSheetRow.objects.filter(account=account)
    if data.get("date_from"):
        balances = balances.filter(accounting_date__gte=data["date_from"])
    if data.get("date_to"):
        balances = balances.filter(accounting_date__lte=data["date_to"])
    return render(
        request,
        "reports/account_entries.html",
        {
            "account": account,
            "settlement": _settlement_of(account),
            "filter": filterset,
            "balances": balances.order_by("accounting_date")[:400],
            "page": paginate(request, entries, 100),
            "querystring": querystring_without(request, "page"),
        },
    )


def _settlement_of(account: Account):
    """A T+N merchant's available and pending (its own account or its pending one), else None."""
    term = settlement_selectors.terms().filter(Q(account=account) | Q(pending_account=account)).first()
    return settlement_selectors.merchant_position(term) if term is not None else None


@require_GET
@staff_page(VIEW_ENTRIES, VIEW_POSTINGS)
def entry_detail(request, serial_no: int):
    entry = (
        Entry.objects.select_related("account__entity", "account__account_type", "posting__reverses")
        .filter(serial_no=serial_no)
        .first()
    )
    if entry is None:
        raise Http404(f"No entry E{serial_no}.")
    posting = entry.posting
    return render(
        request,
        "reports/entry_detail.html",
        {
            "e": entry,
            "posting": posting,
            "reversed_by": getattr(posting, "reversed_by", None),
            "legs": posting.entries.select_related("account").order_by("serial_no"),
            "voucher_lines": voucher_lines_of_entry(entry),
            "category_normal": "D" if entry.account.category == Category.ASSET else "C",
        },
    )
