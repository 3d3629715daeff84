"""Staff pages of agreements (代扣协议), mounted at /agreements/: the list
with filters, an agreement's page with its history, scheduled debits and
every debit attempt, and the suspend, resume and revoke actions (finance
staff; a reason for a suspension or a revocation). Every page needs a
logged-in user and the view permission (403 otherwise); actions are POST
only and the services check the permission again."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.kernel.errors import LedgerError
from accounts.kernel.pages import paginate, querystring_without, staff_page
from accounts.kernel.permissions import has_permission
from postings.selectors import current_accounting_date

from . import selectors
from .filters import AgreementFilter
from .forms import ACTIONS, AgreementActionForm
from .models import AgreementStatus
from .services import PERM_CHANGE_STATUS, agreement_resume, agreement_revoke, agreement_suspend

VIEW_AGREEMENTS = "agreements.view_agreement"


@require_GET
@staff_page(VIEW_AGREEMENTS)
def agreement_list(request):
    filterset = AgreementFilter(request.GET or None, queryset=selectors.agreements_list())
    return render(
        request,
        "agreements/agreement_list.html",
        {
            "filter": filterset,
            "page": paginate(request, filterset.qs, 50),
            "querystring": querystring_without(request, "page"),
            "counts": selectors.agreement_counts(),
            "status": request.GET.get("status", ""),
        },
    )


@require_GET
@staff_page(VIEW_AGREEMENTS)
def agreement_detail(request, pk: int):
    agreement = selectors.agreements_list().filter(pk=pk).first()
    if agreement is None:
        raise Http404(f"No agreement A{pk}.")
    may_act = has_permission(request.user, PERM_CHANGE_STATUS)
    offered = []
    if may_act and agreement.status == AgreementStatus.ACTIVE:
        offered = ["suspend", "revoke"]
    elif may_act and agreement.status == AgreementStatus.SUSPENDED:
        offered = ["resume", "revoke"]
    today = current_accounting_date(entity=agreement.entity)
    start = selectors.period_start(agreement.limit_period, today)
    taken = selectors.period_taken(agreement=agreement, start=start)
    return render(
        request,
        "agreements/agreement_detail.html",
        {
            "a": agreement,
            "events": agreement.events.select_related("acting_user").order_by("id"),
            "instructions": agreement.instructions.order_by("-due_date")[:50],
            "attempts": selectors.attempts_of(agreement)[:200],
            "period": {"start": start, "taken": taken, "left": max(agreement.max_per_period - taken, 0)},
            "forms": [(action, ACTIONS[action], AgreementActionForm.fresh(action)) for action in offered],
            "counts": selectors.agreement_counts(),
        },
    )


@require_POST
@staff_page(PERM_CHANGE_STATUS)
def agreement_act(request, pk: int, action: str):
    back = reverse("agreements:agreement", args=[pk])
    calls = {"suspend": agreement_suspend, "resume": agreement_resume, "revoke": agreement_revoke}
    if action not in calls:
        raise Http404(f"No action {action}.")
    form = AgreementActionForm(request.POST, action=action)
    if not form.is_valid():
        messages.error(request, f"A{pk} not changed: the form was incomplete; try again.")
        return redirect(back)
    try:
        event = calls[action](
            agreement_id=pk,
            reason=form.cleaned_data["reason"],
            request_no=form.cleaned_data["request_no"],
            actor=request.user.get_username(),
            acting_user=request.user,
        )
    except LedgerError as exc:
        messages.error(request, f"A{pk} not changed: {exc.message}")
    else:
        messages.success(request, f"Agreement A{pk} is {event.get_to_status_display()}.")
    return redirect(back)
