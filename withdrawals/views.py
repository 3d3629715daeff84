"""Staff pages of the withdrawal flow: dashboard, review queue, payout desk,
detail, list with CSV export, and a request taken by phone.

Every view needs a logged-in user and a permission, checked here (403
otherwise) and again by the service that does the write. Actions are POST
only; the services do every write and their ``LedgerError`` becomes a
message on the page the user is sent back to. Card numbers appear masked
only: no template or export reads ``card_number``.
"""

from __future__ import annotations

import csv
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.kernel.errors import LedgerError
from accounts.kernel.money import as_money, currency_places
from accounts.kernel.pages import paginate, querystring_without, staff_page
from accounts.kernel.permissions import has_permission

from . import gateways, selectors, services
from .exceptions import UnknownWithdrawal
from .filters import InFlightFilter, InstructionFilter, PayoutQueueFilter, ReviewQueueFilter, WithdrawalFilter
from .forms import ApproveForm, BulkApproveForm, FlagResolveForm, PayoutSendForm, ReasonForm, WithdrawalRequestForm
from .models import InstructionStatus, PayoutInstruction, Status

VIEW = "withdrawals.view_withdrawal"
REVIEW = services.PERM_REVIEW
PAY = services.PERM_PAY
REQUEST = services.PERM_REQUEST
RESOLVE = services.PERM_RESOLVE


def _back(request, default: str):
    """Where to go after an action: a same-site ``next`` or the default page."""
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


def _form_errors(request, form, prefix: str = "") -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, f"{prefix}{error}")


def _amounts(by_currency: dict) -> list:
    return [as_money(amount, currency) for currency, amount in by_currency.items()]


# --------------------------------------------------------------- pages ----


@require_GET
@staff_page(VIEW)
def dashboard(request):
    figures = selectors.dashboard()
    return render(
        request,
        "withdrawals/dashboard.html",
        {
            "d": figures,
            "in_review_amount": _amounts(figures.in_review_amount),
            "to_pay_amount": _amounts(figures.to_pay_amount),
            "paid_today_amount": _amounts(figures.paid_today_amount),
            "stuck_minutes": selectors.stuck_after().total_seconds() // 60,
            "followup_minutes": settings.FOLLOWUP_REQUEUE_AFTER_SECONDS / 60,
            "today": timezone.localdate(),
        },
    )


@require_GET
@staff_page(REVIEW)
def review_queue(request):
    filterset = ReviewQueueFilter(request.GET or None, queryset=selectors.review_queue())
    page = paginate(request, filterset.qs, 20)
    return render(
        request,
        "withdrawals/review_queue.html",
        {
            "filter": filterset,
            "page": page,
            "cards": selectors.review_cards(page.object_list),
            "bulk_max": settings.WITHDRAWAL_BULK_APPROVE_MAX,
            "querystring": querystring_without(request, "page"),
        },
    )


@require_GET
@staff_page(PAY)
def payout_desk(request):
    queue = PayoutQueueFilter(request.GET or None, queryset=selectors.payout_queue())
    page = paginate(request, queue.qs, 50)
    in_flight = InFlightFilter(
        request.GET or None, queryset=selectors.instructions_in_flight_flagged(), prefix="flight"
    )
    attention = InstructionFilter(
        request.GET or None, queryset=selectors.instructions_needing_attention(), prefix="attn"
    )
    return render(
        request,
        "withdrawals/payout_desk.html",
        {
            "filter": queue,
            "page": page,
            "rows": selectors.payout_rows(page.object_list),
            "banks": list(selectors.paying_banks_active()),
            "in_flight_filter": in_flight,
            "in_flight": in_flight.qs,
            "attention_filter": attention,
            "attention": attention.qs,
            "stuck_minutes": selectors.stuck_after().total_seconds() // 60,
            "querystring": querystring_without(request, "page"),
        },
    )


@require_GET
@staff_page(VIEW)
def withdrawal_detail(request, pk: int):
    try:
        detail = selectors.withdrawal_detail(withdrawal_id=pk)
    except UnknownWithdrawal:
        raise Http404(f"No withdrawal {pk}.") from None
    user = request.user
    w = detail.withdrawal
    return render(
        request,
        "withdrawals/detail.html",
        {
            "detail": detail,
            "w": w,
            "can_review": w.status == Status.IN_REVIEW and has_permission(user, REVIEW),
            "payout_blocked": w.status in (Status.APPROVED, Status.FAILED) and selectors.bank_may_have_paid(w),
            "can_pay": w.status in (Status.APPROVED, Status.FAILED)
            and has_permission(user, PAY)
            and not selectors.bank_may_have_paid(w),
            "banks": [b for b in selectors.paying_banks_active() if b.clearing_account.currency == w.currency],
            # Only a failed withdrawal's flag is resolved by finance (the service refuses the others).
            "flags_to_resolve": list(selectors.open_bank_flags().filter(withdrawal=w))
            if w.status == Status.FAILED and has_permission(user, RESOLVE)
            else [],
        },
    )


@require_GET
@staff_page(VIEW)
def withdrawal_list(request):
    filterset = WithdrawalFilter(request.GET or None, queryset=selectors.withdrawals_list())
    return render(
        request,
        "withdrawals/list.html",
        {
            "filter": filterset,
            "page": paginate(request, filterset.qs, 50),
            "querystring": querystring_without(request, "page"),
        },
    )


CSV_COLUMNS = [
    "id",
    "created_at",
    "status",
    "member_no",
    "member_name",
    "account_no",
    "currency",
    "amount",
    "fee",
    "total",
    "card_holder",
    "card_bank",
    "card_masked",
    "source_system",
    "request_no",
    "approvals_required",
    "review_rules",
    "last_bank",
    "closing_reason",
    "updated_at",
]


def _csv_text(value) -> str:
    """Text as a spreadsheet will not run it as a formula."""
    value = "" if value is None else str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _plain(amount: Decimal, currency: str) -> str:
    return str(amount.quantize(Decimal(1).scaleb(-currency_places(currency))))


@require_GET
@staff_page(VIEW)
def withdrawal_export(request):
    """The filtered list as CSV (UTF-8 with BOM, so a spreadsheet reads the
    Chinese names): amounts as plain decimals, the card masked."""
    filterset = WithdrawalFilter(request.GET or None, queryset=selectors.withdrawals_list())
    writer = csv.writer(_Echo())

    def lines():
        # Streamed a row at a time: a long list starts downloading at once and is never held whole.
        yield "\ufeff" + writer.writerow(CSV_COLUMNS)
        for w in filterset.qs.iterator(chunk_size=500):
            yield writer.writerow(
                [
                    w.id,
                    timezone.localtime(w.created_at).isoformat(timespec="seconds"),
                    w.status,
                    w.member.member_no,
                    _csv_text(w.member.name),
                    w.account.account_no,
                    w.currency,
                    _plain(w.amount, w.currency),
                    _plain(w.fee, w.currency),
                    _plain(w.total, w.currency),
                    _csv_text(w.card_holder),
                    _csv_text(w.card_bank),
                    w.card_masked,
                    w.source_system,
                    _csv_text(w.request_no),
                    w.approvals_required,
                    " ".join(w.review_rules),
                    w.last_bank_code or "",
                    _csv_text(w.closing_reason),
                    timezone.localtime(w.updated_at).isoformat(timespec="seconds"),
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="withdrawals-{timezone.localtime():%Y%m%d-%H%M%S}.csv"'
    return response


class _Echo:
    """A file for csv.writer that hands each written line back instead of keeping it."""

    def write(self, value):
        return value


# Which form field a service error belongs to on the new-request form.
REQUEST_ERROR_FIELDS = {
    "invalid_card_number": "card_number",
    "invalid_amount": "amount",
    "insufficient_funds": "amount",
    "not_found": "account_no",
    "account_blocked": "account_no",
    "account_closed": "account_no",
    "currency_mismatch": "account_no",
}


@require_http_methods(["GET", "POST"])
@staff_page(REQUEST)
def withdrawal_new(request):
    if request.method == "POST":
        form = WithdrawalRequestForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                w = services.withdrawal_request(
                    account_no=data["account_no"].strip(),
                    amount=data["amount"],
                    card_holder=data["card_holder"],
                    card_bank=data["card_bank"],
                    card_number=data["card_number"],
                    request_no=data["request_no"],
                    source_system="staff",
                    created_by=request.user,
                )
            except LedgerError as exc:
                form.add_error(REQUEST_ERROR_FIELDS.get(exc.code), exc.message)
            else:
                if getattr(w, "replayed", False):
                    messages.info(request, f"W{w.id} was already recorded by this form; nothing new was frozen.")
                else:
                    messages.success(
                        request,
                        f"W{w.id} recorded: {w.total_money} frozen on {w.account.account_no} "
                        f"(amount {w.amount_money} + fee {w.fee_money}); it goes to review.",
                    )
                return redirect("withdrawals:detail", pk=w.id)
        # The card number is never echoed back (CardNumberInput).
    else:
        form = WithdrawalRequestForm()
    return render(request, "withdrawals/new.html", {"form": form})


@require_GET
@staff_page(REQUEST)
def withdrawal_new_lookup(request):
    """The account panel of the phone-request form, fetched as the account
    number is typed. Only for those who take requests, so it is not a way
    for anyone else to look a member up; an account no withdrawal can be
    taken from answers as one that does not exist."""
    lookup = selectors.request_lookup(account_no=request.GET.get("account_no", "")[:32])
    response = render(request, "withdrawals/_request_lookup.html", {"lookup": lookup})
    if lookup is None:
        response.status_code = 404
    return response


# ------------------------------------------------------------- actions ----


def _action(perm: str):
    """A POST-only action needing ``perm``."""

    def decorate(view):
        return require_POST(staff_page(perm)(view))

    return decorate


@_action(REVIEW)
def withdrawal_approve(request, pk: int):
    form = ApproveForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form, f"W{pk}: ")
    else:
        try:
            w = services.withdrawal_approve(withdrawal_id=pk, user=request.user, reason=form.cleaned_data["reason"])
        except LedgerError as exc:
            messages.error(request, f"W{pk}: {exc.message}")
        else:
            if w.status == Status.APPROVED:
                messages.success(request, f"W{pk} approved; it is on the payout desk.")
            else:
                messages.success(
                    request,
                    f"W{pk}: your approval is recorded ({w.approvals.count()} of "
                    f"{w.approvals_required}); another reviewer must approve it too.",
                )
    return _back(request, reverse("withdrawals:review"))


@_action(REVIEW)
def withdrawal_reject(request, pk: int):
    form = ReasonForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form, f"W{pk} not rejected: ")
    else:
        try:
            services.withdrawal_reject(withdrawal_id=pk, user=request.user, reason=form.cleaned_data["reason"])
        except LedgerError as exc:
            messages.error(request, f"W{pk}: {exc.message}")
        else:
            messages.success(request, f"W{pk} rejected; the frozen amount is released.")
    return _back(request, reverse("withdrawals:review"))


@_action(REVIEW)
def withdrawals_bulk_approve(request):
    form = BulkApproveForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
    else:
        try:
            result = services.withdrawals_approve_bulk(
                withdrawal_ids=form.cleaned_data["withdrawal_ids"],
                user=request.user,
                reason=form.cleaned_data["reason"],
            )
        except LedgerError as exc:
            messages.error(request, exc.message)
        else:
            if result.done:
                messages.success(request, "Approved: " + ", ".join(f"W{i}" for i in result.done) + ".")
            for withdrawal_id, why in result.refused.items():
                messages.warning(request, f"W{withdrawal_id} not approved: {why}")
    return _back(request, reverse("withdrawals:review"))


@_action(PAY)
def payout_send(request):
    form = PayoutSendForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
    else:
        bank = form.cleaned_data["bank"]
        try:
            result = services.payout_send_batch(
                withdrawal_ids=form.cleaned_data["withdrawal_ids"], bank=bank, user=request.user
            )
        except LedgerError as exc:
            messages.error(request, exc.message)
        else:
            if result.sent:
                messages.success(
                    request,
                    f"Sent through {bank.name}: "
                    + ", ".join(f"W{i.withdrawal_id} ({i.instruction_no})" for i in result.sent)
                    + ".",
                )
            for withdrawal_id, why in result.refused.items():
                messages.warning(request, f"W{withdrawal_id} not sent: {why}")
    return _back(request, reverse("withdrawals:payout"))


@_action(PAY)
def payout_cancel(request, pk: int):
    form = ReasonForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form, f"W{pk} not cancelled: ")
    else:
        try:
            services.payout_cancel(withdrawal_id=pk, user=request.user, reason=form.cleaned_data["reason"])
        except LedgerError as exc:
            messages.error(request, f"W{pk}: {exc.message}")
        else:
            messages.success(request, f"W{pk} cancelled; the frozen amount is released.")
    return _back(request, reverse("withdrawals:payout"))


@_action(PAY)
def payout_query(request, pk: int):
    try:
        instruction = services.payout_query(instruction_id=pk, user=request.user)
    except PayoutInstruction.DoesNotExist:
        raise Http404(f"No payout instruction {pk}.") from None
    except gateways.GatewayUnavailable as exc:
        messages.error(request, f"The bank could not be reached: {exc}")
    except LedgerError as exc:
        messages.error(request, exc.message)
    else:
        if instruction.status == InstructionStatus.SENT:
            messages.info(request, f"{instruction.instruction_no}: the bank has no final answer yet.")
        else:
            messages.success(request, f"{instruction.instruction_no}: {instruction.get_status_display()}.")
    return _back(request, reverse("withdrawals:payout"))


@_action(RESOLVE)
def payout_flag_resolve(request, pk: int):
    """Finance settles an open flag (the bank said paid after a failure) from
    the bank statement: bank_paid settles the withdrawal as paid, bank_not_paid
    closes the flag so it may be paid again or cancelled."""
    form = FlagResolveForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form, "Flag not resolved: ")
        return _back(request, reverse("withdrawals:dashboard"))
    outcome = form.cleaned_data["outcome"]
    try:
        w = services.withdrawal_flag_resolve(
            instruction_id=pk, outcome=outcome, reason=form.cleaned_data["reason"], user=request.user
        )
    except LedgerError as exc:
        messages.error(request, exc.message)
        return _back(request, reverse("withdrawals:dashboard"))
    if outcome == services.BANK_PAID:
        messages.success(request, f"W{w.id}: the bank paid; the frozen amount is settled and W{w.id} is paid.")
    else:
        messages.success(request, f"W{w.id}: the bank did not pay; it may be paid again or cancelled.")
    return _back(request, reverse("withdrawals:detail", args=[w.id]))
