"""Staff pages of the webhooks: the endpoints (failing ones first, filtered
by state, client, URL), an endpoint with its attempts, dead letters and
history, and the actions pause, resume and redeliver a range of event
numbers. Finance staff and Auditors read; a Ledger admin acts (the
services check the permission again)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.kernel.errors import LedgerError
from accounts.kernel.pages import paginate, querystring_without, staff_page
from accounts.kernel.permissions import has_permission

from . import selectors, services
from .filters import EndpointFilter
from .forms import PauseForm, RedeliverForm
from .models import DeliveryStatus, Endpoint
from .services import PERM_OPERATE

VIEW = "webhooks.view_endpoint"


@require_GET
@staff_page(VIEW)
def endpoint_list(request):
    overview = selectors.endpoints_overview()
    filterset = EndpointFilter(request.GET or None, queryset=overview)
    return render(
        request,
        "webhooks/endpoint_list.html",
        {
            "filter": filterset,
            "page": paginate(request, filterset.qs, 50),
            "querystring": querystring_without(request, "page"),
            "state": request.GET.get("state", ""),
            "failing": overview.filter(selectors.failing_filter()).count(),
        },
    )


def _endpoint(pk: int) -> Endpoint:
    endpoint = selectors.endpoints_overview().filter(pk=pk).first()
    if endpoint is None:
        raise Http404(f"No webhook endpoint W{pk}.")
    return endpoint


@require_GET
@staff_page(VIEW)
def endpoint_detail(request, pk: int):
    endpoint = _endpoint(pk)
    attempts = endpoint.attempts.select_related("delivery").order_by("-id")
    return render(
        request,
        "webhooks/endpoint_detail.html",
        {
            "endpoint": endpoint,
            "failing": selectors.endpoints_overview().filter(selectors.failing_filter()).count(),
            "page": paginate(request, attempts, 50),
            "querystring": querystring_without(request, "page"),
            "dead": selectors.deliveries_of(endpoint=endpoint, status=DeliveryStatus.DEAD)[:50],
            "next_pending": selectors.deliveries_of(endpoint=endpoint, status=DeliveryStatus.PENDING)
            .order_by("seq")
            .first(),
            "changes": endpoint.changes.order_by("-id")[:50],
            "may_operate": has_permission(request.user, PERM_OPERATE),
            "pause_form": PauseForm(),
            "redeliver_form": RedeliverForm(),
        },
    )


def _act(request, pk: int, doing: str, call, done) -> object:
    back = reverse("webhooks:endpoint", args=[pk])
    endpoint = Endpoint.objects.filter(pk=pk, deleted_at__isnull=True).first()
    if endpoint is None:
        raise Http404(f"No webhook endpoint W{pk}.")
    try:
        result = call(endpoint)
    except LedgerError as exc:
        messages.error(request, f"W{pk} not {doing}: {exc.message}")
    else:
        messages.success(request, done(result))
    return redirect(back)


def _form_errors(request, form, doing: str, pk: int):
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, f"W{pk} not {doing}: {error}")
    return redirect(reverse("webhooks:endpoint", args=[pk]))


@require_POST
@staff_page(VIEW, PERM_OPERATE)
def endpoint_pause_act(request, pk: int):
    form = PauseForm(request.POST)
    if not form.is_valid():
        return _form_errors(request, form, "paused", pk)
    return _act(
        request,
        pk,
        "paused",
        lambda e: services.endpoint_pause(endpoint=e, acting_user=request.user, reason=form.cleaned_data["reason"]),
        lambda e: f"W{pk} paused: deliveries wait until it is resumed.",
    )


@require_POST
@staff_page(VIEW, PERM_OPERATE)
def endpoint_resume_act(request, pk: int):
    return _act(
        request,
        pk,
        "resumed",
        lambda e: services.endpoint_resume(endpoint=e, acting_user=request.user),
        lambda e: (
            f"W{pk} resumed: waiting deliveries go out now."
            if e.sends
            else f"W{pk} unpaused, but its client has switched it off: nothing is sent until the client switches it on."
        ),
    )


@require_POST
@staff_page(VIEW, PERM_OPERATE)
def endpoint_redeliver_act(request, pk: int):
    form = RedeliverForm(request.POST)
    if not form.is_valid():
        return _form_errors(request, form, "redelivered", pk)
    first, last = form.cleaned_data["from_seq"], form.cleaned_data["to_seq"]
    return _act(
        request,
        pk,
        "redelivered",
        lambda e: services.endpoint_redeliver(endpoint=e, acting_user=request.user, from_seq=first, to_seq=last),
        lambda n: f"W{pk}: {n} event(s) numbered {first} to {last} queued for delivery again.",
    )
