"""Period pages under /reports/periods/: the periods with their close
(propose; approve or reject by a second person) and the period trial
balance (试算平衡表) with its CSV/XLSX download.

Reading needs ``reports.view_accountingperiod``; proposing
``reports.propose_period_close``; deciding ``reports.approve_period_close``
(checked here to offer the action, and again by the services)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.kernel.errors import LedgerError
from accounts.kernel.pages import paginate, querystring_without, staff_page
from accounts.kernel.permissions import has_permission
from accounts.selectors import main_entity

from ..exports import Column, csv_response, xlsx_response
from . import selectors
from .filters import PeriodFilter
from .forms import PeriodChoiceForm, PeriodProposeForm
from .services import APPROVE, PROPOSE, period_bounds, period_close_approve, period_close_propose, period_close_reject

VIEW = "reports.view_accountingperiod"


@require_GET
@staff_page(VIEW)
def periods(request):
    filterset = PeriodFilter(request.GET, queryset=selectors.periods())
    rows = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    entity = main_entity()
    return render(
        request,
        "reports/periods.html",
        {
            "filter": filterset,
            "page": paginate(request, rows, 50),
            "querystring": querystring_without(request, "page"),
            "can_propose": has_permission(request.user, PROPOSE),
            "can_approve": has_permission(request.user, APPROVE),
            "form": PeriodProposeForm(initial={"entity": entity.pk if entity else None}),
        },
    )


@require_POST
@staff_page(VIEW, PROPOSE)
def period_propose(request):
    form = PeriodProposeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not proposed: " + "; ".join(e for errs in form.errors.values() for e in errs))
        return redirect("reports:periods")
    data = form.cleaned_data
    try:
        period = period_close_propose(
            acting_user=request.user, entity=data["entity"], kind=data["kind"], day=data["period"], note=data["note"]
        )
    except LedgerError as exc:
        messages.error(request, f"Not proposed: {exc.message}")
    else:
        messages.success(request, f"Closing {period.label} is proposed; another person approves it.")
    return redirect("reports:periods")


@require_POST
@staff_page(VIEW, APPROVE)
def period_decide(request, pk: int):
    approve = request.POST.get("decision") == "approve"
    try:
        if approve:
            period = period_close_approve(acting_user=request.user, period_id=pk)
        else:
            period = period_close_reject(acting_user=request.user, period_id=pk)
    except LedgerError as exc:
        messages.error(request, f"Not done: {exc.message}")
    else:
        messages.success(request, f"{period.label} is {period.get_status_display()}.")
    return redirect("reports:periods")


def _trial(request):
    form = PeriodChoiceForm(request.GET or None, initial={"kind": "month"})
    rows, totals, bounds, corrections = [], {}, None, []
    if form.is_valid():
        data = form.cleaned_data
        bounds = period_bounds(data["kind"], data["period"])
        rows = selectors.trial_balance(entity=data["entity"], start=bounds[0], end=bounds[1])
        totals = selectors.trial_totals(rows)
        corrections = selectors.period_corrections(entity=data["entity"], start=bounds[0], end=bounds[1])
    return form, rows, totals, bounds, corrections


@require_GET
@staff_page(VIEW)
def trial_balance(request):
    form, rows, totals, bounds, corrections = _trial(request)
    return render(
        request,
        "reports/trial_balance.html",
        {
            "form": form,
            "rows": rows,
            "totals": totals,
            "bounds": bounds,
            "corrections": corrections,
            "query": request.GET.urlencode(),
        },
    )


TRIAL_COLUMNS = [
    Column("subject_code", lambda r: r.subject_code),
    Column("currency", lambda r: r.currency),
    Column("opening", lambda r: r.opening, "amount"),
    Column("debit", lambda r: r.debit, "amount"),
    Column("credit", lambda r: r.credit, "amount"),
    Column("closing", lambda r: r.closing, "amount"),
]


def _trial_name(form, bounds) -> str:
    if bounds is None:
        return "trial-balance"
    return f"trial-balance-{form.cleaned_data['entity'].code}-{bounds[0]:%Y%m%d}-{bounds[1]:%Y%m%d}"


@require_GET
@staff_page(VIEW)
def trial_balance_csv(request):
    form, rows, _, bounds, _ = _trial(request)
    return csv_response(_trial_name(form, bounds), TRIAL_COLUMNS, rows, lambda r: r.currency)


@require_GET
@staff_page(VIEW)
def trial_balance_xlsx(request):
    form, rows, _, bounds, _ = _trial(request)
    return xlsx_response(_trial_name(form, bounds), "Trial balance", TRIAL_COLUMNS, rows, lambda r: r.currency)
