"""Staff pages of postings and refunds (退款): a posting with every leg's
refunded-so-far and the refund action, the refunds list, a refund's detail,
and the approval queue of late and large refunds; red-ink corrections
(红冲 + 蓝字): proposed from the posting's page, a queue, a correction's page
with approve and reject (never by its proposer); guarantee orders (担保交易):
the orders list (open, disputed, expiring soon, confirmed), an order's page
with its steps, and the dispute and resolve actions, each with a reason;
members' monthly statements (月度对账单) with their PDF downloads, a posting's
electronic receipt (电子回单) as PDF, and the lookup that verifies a receipt's
code.

Every page needs a logged-in user and a permission (403 otherwise); actions
are POST only and the refund services check the permission again, with
maker-checker on approvals. A service's ``LedgerError`` becomes a message on
the page the user is sent back to.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import models
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.kernel.errors import LedgerError
from accounts.kernel.pages import paginate, querystring_without, staff_page
from accounts.kernel.permissions import has_permission, holders_of

from . import selectors
from .documents import receipt_code, receipt_pdf, receipt_verify
from .filters import ApprovalQueueFilter, CorrectionFilter, MonthlyStatementFilter, OrderFilter, RefundFilter
from .forms import CorrectionForm, DecisionForm, OrderDisputeForm, OrderResolveForm, ReceiptVerifyForm, RefundForm
from .models import Correction, CorrectionStatus, MonthlyStatement, OrderStatus, Posting, Refund, RefundStatus
from .services import (
    correction_approve,
    correction_propose,
    correction_reject,
    order_dispute,
    order_resolve,
    refund_approve,
    refund_create,
    refund_reject,
)
from .services.corrections import PERM_APPROVE as PERM_APPROVE_CORRECTION
from .services.corrections import PERM_PROPOSE as PERM_PROPOSE_CORRECTION
from .services.orders import PERM_DISPUTE, confirm_split
from .services.refunds import NOT_REFUNDABLE, PERM_APPROVE, PERM_REFUND

VIEW_POSTINGS = "postings.view_posting"
VIEW_REFUNDS = "postings.view_refund"
VIEW_ORDERS = "postings.view_guaranteeorder"
VIEW_CORRECTIONS = "postings.view_correction"
VIEW_STATEMENTS = "postings.view_monthlystatement"


def _posting(serial_no: int) -> Posting:
    posting = Posting.objects.select_related("entity", "reverses").filter(serial_no=serial_no).first()
    if posting is None:
        raise Http404(f"No posting P{serial_no}.")
    return posting


def _legs(posting: Posting) -> tuple[list, object]:
    legs = selectors.refunded_legs(original=posting)
    left = sum((leg.remaining for leg in legs if leg.entry.direction == "D"), 0)
    return legs, left


@require_GET
@staff_page(VIEW_POSTINGS)
def posting_detail(request, serial_no: int, form: RefundForm | None = None):
    posting = _posting(serial_no)
    legs, left = _legs(posting)
    refundable = posting.business_type not in NOT_REFUNDABLE and left > 0 and not hasattr(posting, "reversed_by")
    return render(
        request,
        "postings/posting_detail.html",
        {
            "posting": posting,
            "legs_rows": [(leg, None) for leg in legs],
            "left": left,
            "refunds": posting.refunds.select_related("posting", "proposed_by", "decided_by").order_by("id"),
            "refund_of": Refund.objects.filter(posting=posting).first(),
            "refundable": refundable,
            "may_refund": has_permission(request.user, PERM_REFUND),
            "form": form or RefundForm.fresh(),
            "policy": selectors.refund_policy_for(posting.business_type),
            "corrections": posting.corrections.select_related("proposed_by", "decided_by").order_by("id"),
            "correction_of": Correction.objects.filter(
                models.Q(red_posting=posting) | models.Q(blue_posting=posting)
            ).first(),
            "may_correct": has_permission(request.user, PERM_PROPOSE_CORRECTION),
            "correction_form": CorrectionForm.fresh(posting),
            "receipt_code": receipt_code(posting),
        },
    )


@require_POST
@staff_page(PERM_PROPOSE_CORRECTION)
def posting_correct(request, serial_no: int):
    form = CorrectionForm(request.POST)
    back = reverse("postings:posting", args=[serial_no])
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"Not proposed: {error}")
        return redirect(back)
    try:
        correction = correction_propose(
            serial_no=serial_no,
            legs=form.cleaned_data["legs"],
            reason=form.cleaned_data["reason"],
            request_no=form.cleaned_data["request_no"],
            acting_user=request.user,
        )
    except LedgerError as exc:
        messages.error(request, f"Not proposed: {exc.message}")
        return redirect(back)
    roles, people = holders_of(PERM_APPROVE_CORRECTION)
    who = ", ".join(p for p in people if p != request.user.get_username()) or ", ".join(roles) or "a second person"
    messages.success(
        request,
        f"Correction C{correction.pk} of P{serial_no} proposed: nothing moves until a second person approves it "
        f"({who}; not you).",
    )
    return redirect(reverse("postings:correction", args=[correction.pk]))


@require_GET
@staff_page(VIEW_CORRECTIONS)
def correction_list(request):
    queryset = Correction.objects.select_related("original", "proposed_by", "decided_by").order_by("-id")
    data = request.GET.copy()
    data.setdefault("status", CorrectionStatus.PROPOSED)  # the queue: what waits for a decision
    filterset = CorrectionFilter(data, queryset=queryset)
    return render(
        request,
        "postings/correction_list.html",
        {
            "filter": filterset,
            "page": paginate(request, filterset.qs, 50),
            "querystring": querystring_without(request, "page"),
        },
    )


@require_GET
@staff_page(VIEW_CORRECTIONS)
def correction_detail(request, pk: int):
    correction = (
        Correction.objects.select_related(
            "original__entity", "red_posting", "blue_posting", "proposed_by", "decided_by"
        )
        .filter(pk=pk)
        .first()
    )
    if correction is None:
        raise Http404(f"No correction C{pk}.")
    proposed = correction.status == CorrectionStatus.PROPOSED
    return render(
        request,
        "postings/correction_detail.html",
        {
            "c": correction,
            "original_entries": correction.original.entries.select_related("account").order_by("serial_no"),
            "may_approve": proposed
            and has_permission(request.user, PERM_APPROVE_CORRECTION)
            and correction.proposed_by_id != request.user.pk,
            "may_reject": proposed and has_permission(request.user, PERM_APPROVE_CORRECTION),
            "form": DecisionForm(),
        },
    )


@require_POST
@staff_page(PERM_APPROVE_CORRECTION)
def correction_approve_act(request, pk: int):
    form = DecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        c = correction_approve(correction_id=pk, acting_user=request.user, note=note)
    except LedgerError as exc:
        messages.error(request, f"C{pk} not approved: {exc.message}")
    else:
        messages.success(request, f"Correction C{pk} booked: red P{c.red_posting_id} and blue P{c.blue_posting_id}.")
    return redirect(reverse("postings:correction", args=[pk]))


@require_POST
@staff_page(PERM_APPROVE_CORRECTION)
def correction_reject_act(request, pk: int):
    form = DecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        correction_reject(correction_id=pk, acting_user=request.user, note=note)
    except LedgerError as exc:
        messages.error(request, f"C{pk} not rejected: {exc.message}")
    else:
        messages.success(request, f"Correction C{pk} rejected; nothing was booked.")
    return redirect(reverse("postings:correction", args=[pk]))


@require_POST
@staff_page(PERM_REFUND)
def posting_refund(request, serial_no: int):
    form = RefundForm(request.POST)
    back = reverse("postings:posting", args=[serial_no])
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"Not refunded: {error}")
        return redirect(back)
    try:
        refund = refund_create(
            serial_no=serial_no,
            request_no=form.cleaned_data["request_no"],
            amount=form.cleaned_data["amount"].strip(),
            reason=form.cleaned_data["reason"],
            requested_by=request.user.get_username(),
            acting_user=request.user,
        )
    except LedgerError as exc:
        messages.error(request, f"Not refunded: {exc.message}")
        return redirect(back)
    if refund.status == RefundStatus.PENDING:
        roles, people = holders_of(PERM_APPROVE)
        who = ", ".join(people or roles) or "a second person"
        messages.warning(
            request,
            f"Refund R{refund.pk} of {refund.amount_money} is {_why(refund)}: it waits for a second person's "
            f"approval ({who}; not you).",
        )
    else:
        messages.success(request, f"Refund R{refund.pk} of {refund.amount_money} posted as P{refund.posting_id}.")
    return redirect(reverse("postings:refund", args=[refund.pk]))


def _why(refund: Refund) -> str:
    words = {"late": "past the refund window", "large": "above the approval amount"}
    return " and ".join(words[w] for w in refund.needs_approval.split(",") if w in words)


@require_GET
@staff_page(VIEW_REFUNDS)
def refund_list(request):
    filterset = RefundFilter(request.GET or None, queryset=selectors.refunds_list())
    return render(
        request,
        "postings/refund_list.html",
        {
            "filter": filterset,
            "page": paginate(request, filterset.qs, 50),
            "querystring": querystring_without(request, "page"),
        },
    )


@require_GET
@staff_page(VIEW_REFUNDS)
def refund_approvals(request):
    queue = selectors.refunds_list().filter(status=RefundStatus.PENDING).order_by("created_at")
    filterset = ApprovalQueueFilter(request.GET or None, queryset=queue)
    return render(
        request,
        "postings/refund_approvals.html",
        {
            "filter": filterset,
            "page": paginate(request, filterset.qs, 50),
            "querystring": querystring_without(request, "page"),
            "may_approve": has_permission(request.user, PERM_APPROVE),
        },
    )


@require_GET
@staff_page(VIEW_REFUNDS)
def refund_detail(request, pk: int):
    refund = selectors.refunds_list().filter(pk=pk).first()
    if refund is None:
        raise Http404(f"No refund R{pk}.")
    legs, left = _legs(refund.original)
    taken = {leg.original_entry_id: leg for leg in refund.legs.all()}
    return render(
        request,
        "postings/refund_detail.html",
        {
            "refund": refund,
            "original": refund.original,
            "rows": [(leg, taken.get(leg.entry.serial_no)) for leg in legs],
            "left": left,
            "why": _why(refund),
            "may_approve": has_permission(request.user, PERM_APPROVE)
            and refund.status == RefundStatus.PENDING
            and refund.proposed_by_id != request.user.pk,
            "may_withdraw": refund.status == RefundStatus.PENDING and refund.proposed_by_id == request.user.pk,
            "form": DecisionForm(),
        },
    )


@require_POST
@staff_page(PERM_APPROVE)
def refund_approve_act(request, pk: int):
    form = DecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        refund = refund_approve(refund_id=pk, acting_user=request.user, note=note)
    except LedgerError as exc:
        messages.error(request, f"R{pk} not approved: {exc.message}")
    else:
        messages.success(request, f"Refund R{pk} approved and posted as P{refund.posting_id}.")
    return redirect(reverse("postings:refund", args=[pk]))


@require_POST
@staff_page(PERM_APPROVE)
def refund_reject_act(request, pk: int):
    form = DecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        refund_reject(refund_id=pk, acting_user=request.user, note=note)
    except LedgerError as exc:
        messages.error(request, f"R{pk} not rejected: {exc.message}")
    else:
        messages.success(request, f"Refund R{pk} rejected; nothing was refunded.")
    return redirect(reverse("postings:refund", args=[pk]))


# ------------------------------------------------------ guarantee orders ----


@require_GET
@staff_page(VIEW_ORDERS)
def order_list(request):
    filterset = OrderFilter(request.GET or None, queryset=selectors.orders_list())
    return render(
        request,
        "postings/order_list.html",
        {
            "filter": filterset,
            "page": paginate(request, filterset.qs, 50),
            "querystring": querystring_without(request, "page"),
            "state": request.GET.get("state", ""),
            "counts": selectors.order_counts(),
        },
    )


@require_GET
@staff_page(VIEW_ORDERS)
def order_detail(request, pk: int):
    order = selectors.orders_list().filter(pk=pk).first()
    if order is None:
        raise Http404(f"No guarantee order O{pk}.")
    may_act = has_permission(request.user, PERM_DISPUTE)
    commission, coupon, to_merchant = confirm_split(order)
    return render(
        request,
        "postings/order_detail.html",
        {
            "order": order,
            "events": order.events.select_related("posting", "refund", "acting_user").order_by("id"),
            "counts": selectors.order_counts(),
            "would_confirm": {"commission": commission, "coupon": coupon, "to_merchant": to_merchant},
            "may_dispute": may_act and order.status == OrderStatus.PAID,
            "may_resolve": may_act and order.status == OrderStatus.DISPUTED,
            "dispute_form": OrderDisputeForm.fresh(),
            "resolve_form": OrderResolveForm.fresh(),
        },
    )


def _order_act(request, pk: int, form_class, doing: str, call, done: str):
    back = reverse("postings:order", args=[pk])
    form = form_class(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"Not {doing}: {error}")
        return redirect(back)
    try:
        call(form.cleaned_data)
    except LedgerError as exc:
        messages.error(request, f"O{pk} not {doing}: {exc.message}")
    else:
        messages.success(request, done)
    return redirect(back)


@require_POST
@staff_page(PERM_DISPUTE)
def order_dispute_act(request, pk: int):
    return _order_act(
        request,
        pk,
        OrderDisputeForm,
        "disputed",
        lambda data: order_dispute(
            order_id=pk,
            reason=data["reason"],
            request_no=data["request_no"],
            actor=request.user.get_username(),
            acting_user=request.user,
        ),
        f"Order O{pk} disputed: nothing moves until the dispute is resolved.",
    )


@require_POST
@staff_page(PERM_DISPUTE)
def order_resolve_act(request, pk: int):
    return _order_act(
        request,
        pk,
        OrderResolveForm,
        "resolved",
        lambda data: order_resolve(
            order_id=pk,
            outcome=data["outcome"],
            reason=data["reason"],
            request_no=data["request_no"],
            actor=request.user.get_username(),
            acting_user=request.user,
        ),
        f"Order O{pk}'s dispute resolved.",
    )


def pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"  # a member's figures stay off shared caches
    return response


@require_GET
@staff_page(VIEW_POSTINGS)
def posting_receipt(request, serial_no: int):
    posting = _posting(serial_no)
    return pdf_response(receipt_pdf(posting=posting), f"receipt-P{posting.serial_no}.pdf")


@require_GET
@staff_page(VIEW_POSTINGS)
def receipt_check(request):
    form = ReceiptVerifyForm(request.GET or None)
    outcome = None
    if form.is_valid():
        posting = receipt_verify(serial_no=form.cleaned_data["serial_no"], code=form.cleaned_data["code"])
        outcome = {"valid": posting is not None, "posting": posting}
    return render(request, "postings/receipt_verify.html", {"form": form, "outcome": outcome})


@require_GET
@staff_page(VIEW_STATEMENTS)
def statement_list(request):
    queryset = MonthlyStatement.objects.select_related("account__member", "account__entity").defer("pdf")
    filterset = MonthlyStatementFilter(request.GET, queryset=queryset)
    return render(
        request,
        "postings/statement_list.html",
        {
            "filter": filterset,
            "page": paginate(request, filterset.qs, 50),
            "querystring": querystring_without(request, "page"),
        },
    )


@require_GET
@staff_page(VIEW_STATEMENTS)
def statement_download(request, pk: int):
    statement = MonthlyStatement.objects.select_related("account").filter(pk=pk).first()
    if statement is None:
        raise Http404(f"No monthly statement {pk}.")
    return pdf_response(bytes(statement.pdf), statement.filename)
