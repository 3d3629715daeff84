"""Staff pages of the credit product, mounted at /postings/credit/: bills per
member and billing day (and their CSV), the overdue list with days overdue
and amounts (and its CSV), a bill with its movements, accruals and what paid
towards it, and a credit line with its limit history, where finance raises
or lowers the limit.

Every page needs a logged-in user and postings.view_bill (Finance staff,
Auditor, Ledger admin); the limit form needs accounts.set_credit_limit
(Finance staff), which the service checks again.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable

from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.kernel.errors import LedgerError
from accounts.kernel.money import ZERO
from accounts.kernel.pages import paginate, querystring_without, staff_page
from accounts.kernel.permissions import has_permission
from accounts.models import Account
from accounts.services import account_set_credit_limit

from ..services.calendar import calendar_for
from ..views import pdf_response
from . import selectors
from .documents import bill_filename, bill_pdf
from .filters import BillFilter, OverdueFilter
from .forms import CreditLimitForm

VIEW_BILLS = "postings.view_bill"
SET_LIMIT = "accounts.set_credit_limit"


class _Echo:
    def write(self, value):
        return value


def _csv(name: str, header: list[str], rows: Iterable[list]) -> StreamingHttpResponse:
    def lines():
        writer = csv.writer(_Echo())
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _plain(amount) -> str:
    return f"{amount:.2f}"


# ---------------------------------------------------------------- bills ----


def _bills(request) -> BillFilter:
    return BillFilter(request.GET or None, queryset=selectors.bills())


@require_GET
@staff_page(VIEW_BILLS)
def bill_list(request):
    filterset = _bills(request)
    page = paginate(request, filterset.qs, 50)
    return render(
        request,
        "postings/credit/bill_list.html",
        {
            "filter": filterset,
            "page": page,
            "rows": [(b, selectors.bill_position(b)) for b in page.object_list],
            "querystring": querystring_without(request, "page"),
        },
    )


BILL_COLUMNS = [
    "bill",
    "member_no",
    "account_no",
    "currency",
    "period_start",
    "period_end",
    "billing_date",
    "due_date",
    "opening",
    *selectors.SUM_NAMES,
    "amount_due",
    "minimum_due",
    "status",
    "amount_due_left",
    "minimum_due_left",
    "days_overdue",
]


@require_GET
@staff_page(VIEW_BILLS)
def bill_list_csv(request):
    filterset = _bills(request)

    def rows():
        for bill in filterset.qs.iterator(chunk_size=500):
            p = selectors.bill_position(bill)
            yield [
                bill.bill_no,
                bill.account.member.member_no if bill.account.member_id else "",
                bill.account.account_no,
                bill.currency,
                bill.period_start,
                bill.period_end,
                bill.billing_date,
                bill.due_date,
                *(_plain(getattr(bill, n)) for n in ("opening", *selectors.SUM_NAMES, "amount_due", "minimum_due")),
                p.status,
                _plain(p.amount_due_left),
                _plain(p.minimum_due_left),
                p.days_overdue,
            ]

    return _csv("bills.csv", BILL_COLUMNS, rows())


@require_GET
@staff_page(VIEW_BILLS)
def bill_detail(request, pk: int):
    bill = selectors.bills().filter(pk=pk).first()
    if bill is None:
        raise Http404(f"No bill B{pk}.")
    return render(
        request,
        "postings/credit/bill_detail.html",
        {
            "bill": bill,
            "position": selectors.bill_position(bill),
            "entries": selectors.bill_entries(bill),
            "accruals": selectors.bill_accruals(bill),
            "charged": selectors.accruals_charged_on(bill),
            "allocations": selectors.bill_allocations(bill),
            "paid_by": selectors.repayments_after(bill),
        },
    )


@require_GET
@staff_page(VIEW_BILLS)
def bill_pdf_download(request, pk: int):
    bill = selectors.bills().filter(pk=pk).first()
    if bill is None:
        raise Http404(f"No bill B{pk}.")
    return pdf_response(bill_pdf(bill=bill), bill_filename(bill))


# -------------------------------------------------------------- overdue ----


def _overdue(request) -> tuple[OverdueFilter, list[selectors.OverdueRow]]:
    form = OverdueFilter(request.GET or None)
    rows = selectors.overdue_rows()
    if form.is_valid():
        min_days = form.cleaned_data.get("min_days") or 0
        member = (form.cleaned_data.get("member") or "").strip()
        rows = [
            r
            for r in rows
            if r.days_overdue >= min_days
            and (not member or (r.account.member and r.account.member.member_no == member))
        ]
    return form, rows


@require_GET
@staff_page(VIEW_BILLS)
def overdue_list(request):
    form, rows = _overdue(request)
    totals = {}
    for r in rows:
        t = totals.setdefault(r.bill.currency, [0, ZERO, ZERO])
        t[0] += 1
        t[1] += r.position.amount_due_left
        t[2] += r.position.minimum_due_left
    return render(
        request,
        "postings/credit/overdue.html",
        {"filter": form, "page": paginate(request, rows, 50), "totals": totals, "querystring": request.GET.urlencode()},
    )


OVERDUE_COLUMNS = [
    "member_no",
    "account_no",
    "currency",
    "bill",
    "due_date",
    "overdue_since",
    "days_overdue",
    "amount_due_left",
    "minimum_due_left",
    "interest_accrued",
    "penalty_accrued",
    "owed_now",
]


@require_GET
@staff_page(VIEW_BILLS)
def overdue_csv(request):
    _, rows = _overdue(request)
    return _csv(
        "overdue.csv",
        OVERDUE_COLUMNS,
        (
            [
                r.account.member.member_no if r.account.member_id else "",
                r.account.account_no,
                r.bill.currency,
                r.bill.bill_no,
                r.bill.due_date,
                r.oldest_due,
                r.days_overdue,
                _plain(r.position.amount_due_left),
                _plain(r.position.minimum_due_left),
                _plain(r.interest),
                _plain(r.penalty),
                _plain(r.account.balance),
            ]
            for r in rows
        ),
    )


# ---------------------------------------------------------- credit line ----


def _line(account_no: str) -> Account:
    account = Account.objects.select_related("member", "entity").filter(account_no=account_no).first()
    if account is None or selectors.product_for(account) is None:
        raise Http404(f"No credit line {account_no}.")
    return account


@require_GET
@staff_page(VIEW_BILLS)
def credit_line(request, account_no: str):
    account = _line(account_no)
    return render(
        request,
        "postings/credit/line.html",
        {
            "account": account,
            "summary": selectors.credit_summary(account),
            "bills": [(b, selectors.bill_position(b)) for b in selectors.bills().filter(account=account)[:24]],
            "limit_changes": account.limit_changes.all()[:50],
            "may_set_limit": has_permission(request.user, SET_LIMIT),
            "form": CreditLimitForm(initial={"credit_limit": account.credit_limit}),
            "open_day": calendar_for(entity=account.entity).open_date,
        },
    )


@require_POST
@staff_page(VIEW_BILLS, SET_LIMIT)
def credit_limit_set(request, account_no: str):
    account = _line(account_no)
    form = CreditLimitForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"Limit not changed: {field.replace('_', ' ')}: {' '.join(errors)}")
        return redirect("postings:credit_line", account_no=account.account_no)
    try:
        change = account_set_credit_limit(
            account=account,
            credit_limit=str(form.cleaned_data["credit_limit"]),
            reason=form.cleaned_data["reason"],
            actor=request.user.get_username(),
            acting_user=request.user,
        )
    except LedgerError as exc:
        messages.error(request, f"Limit not changed: {exc.message}")
        return redirect("postings:credit_line", account_no=account.account_no)
    if change is None:
        messages.info(request, "The limit already is that; nothing changed.")
    elif change.over_limit:
        messages.warning(
            request,
            f"Limit {change.old_limit:,.2f} → {change.new_limit:,.2f}: below the {change.used:,.2f} used, "
            "so the line takes no new purchase until repayments bring it under the limit.",
        )
    else:
        messages.success(request, f"Limit {change.old_limit:,.2f} → {change.new_limit:,.2f}.")
    return redirect("postings:credit_line", account_no=account.account_no)
