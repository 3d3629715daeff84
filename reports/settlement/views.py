"""Staff pages of settlement (结算): merchants' settlements due and done,
channel settlement batches with the entries they cover (and running one),
and the reserve-fund check (备付金核对) with the banks' balances entered or
imported (previewed before they are written).

Every page needs a logged-in user and a view permission (403 otherwise);
actions are POST only and the services check the permission again.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.kernel.errors import LedgerError
from accounts.kernel.money import format_amount
from accounts.kernel.pages import DashboardTile, paginate, querystring_without, staff_page
from accounts.kernel.permissions import has_permission

from ..staging.models import StagedUpload
from ..staging.services import staged_upload_commit, staged_upload_create
from . import selectors
from .exceptions import ReserveFileInvalid
from .filters import (
    ChannelSettlementFilter,
    CoveredEntryFilter,
    MerchantSettlementFilter,
    ReserveDayFilter,
    TermFilter,
)
from .forms import ChannelSettleForm, ReserveBalanceForm, ReserveUploadForm
from .services import (
    PERM_ENTER_RESERVE,
    PERM_SETTLE_CHANNEL,
    channel_settle,
    reserve_balance_enter,
    reserve_file_commit,
    reserve_file_read,
)

VIEW_MERCHANT = "reports.view_merchantsettlement"
VIEW_CHANNEL = "reports.view_channelsettlement"
VIEW_RESERVE = "reports.view_reservebalance"


@require_GET
@staff_page(VIEW_MERCHANT)
def merchants_due(request):
    filterset = TermFilter(request.GET or None, queryset=selectors.terms())
    page = paginate(request, filterset.qs, 50)
    return render(
        request,
        "reports/settlement_due.html",
        {
            "filter": filterset,
            "page": page,
            "positions": [selectors.merchant_position(term) for term in page.object_list],
            "querystring": querystring_without(request, "page"),
        },
    )


@require_GET
@staff_page(VIEW_MERCHANT)
def merchants_done(request):
    filterset = MerchantSettlementFilter(request.GET or None, queryset=selectors.merchant_settlements())
    return render(
        request,
        "reports/settlement_done.html",
        {
            "filter": filterset,
            "page": paginate(request, filterset.qs, 50),
            "querystring": querystring_without(request, "page"),
        },
    )


@require_GET
@staff_page(VIEW_CHANNEL)
def channel_batches(request):
    filterset = ChannelSettlementFilter(request.GET or None, queryset=selectors.channel_settlements())
    return render(
        request,
        "reports/settlement_channels.html",
        {
            "filter": filterset,
            "page": paginate(request, filterset.qs, 50),
            "querystring": querystring_without(request, "page"),
            "may_settle": has_permission(request.user, PERM_SETTLE_CHANNEL),
            "form": ChannelSettleForm(),
        },
    )


@require_POST
@staff_page(PERM_SETTLE_CHANNEL)
def channel_settle_act(request):
    form = ChannelSettleForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, f"Not settled: {' '.join(errors)}")
        return redirect(reverse("reports:settlement_channels"))
    try:
        batch = channel_settle(
            channel_code=form.cleaned_data["channel"].code,
            cut_off=form.cleaned_data["cut_off"],
            settled_by=request.user.get_username(),
            acting_user=request.user,
        )
    except LedgerError as exc:
        messages.error(request, f"Not settled: {exc.message}")
        return redirect(reverse("reports:settlement_channels"))
    messages.success(
        request,
        f"Batch CS{batch.pk} settled {batch.entry_count} entries of {batch.channel.code}: net {batch.net:,.2f}, "
        f"fee {batch.fee:,.2f}, to the bank {batch.to_bank:,.2f}.",
    )
    return redirect(reverse("reports:settlement_channel", args=[batch.pk]))


@require_GET
@staff_page(VIEW_CHANNEL)
def channel_batch(request, pk: int):
    batch = selectors.channel_settlements().filter(pk=pk).first()
    if batch is None:
        raise Http404(f"No channel settlement CS{pk}.")
    filterset = CoveredEntryFilter(request.GET or None, queryset=selectors.covered_entries(batch))
    return render(
        request,
        "reports/settlement_channel.html",
        {
            "batch": batch,
            "filter": filterset,
            "page": paginate(request, filterset.qs, 100),
            "querystring": querystring_without(request, "page"),
        },
    )


@require_GET
@staff_page(VIEW_RESERVE)
def reserve_check(request):
    form = ReserveDayFilter(request.GET or None)
    day = (form.cleaned_data.get("day") if form.is_valid() else None) or selectors.latest_reserve_day()
    day = day or timezone.localdate()
    return render(
        request,
        "reports/settlement_reserve.html",
        {
            "form": form,
            "day": day,
            "checks": selectors.reserve_check(day=day),
            "may_enter": has_permission(request.user, PERM_ENTER_RESERVE),
            "entry_form": ReserveBalanceForm(initial={"balance_date": day}),
            "upload_form": ReserveUploadForm(),
        },
    )


@require_POST
@staff_page(PERM_ENTER_RESERVE)
def reserve_enter(request):
    form = ReserveBalanceForm(request.POST)
    back = reverse("reports:settlement_reserve")
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, f"Not recorded: {' '.join(errors)}")
        return redirect(back)
    data = form.cleaned_data
    try:
        row = reserve_balance_enter(
            acting_user=request.user,
            bank_account=data["bank_account"],
            balance_date=data["balance_date"],
            balance=data["balance"],
        )
    except LedgerError as exc:
        messages.error(request, f"Not recorded: {exc.message}")
        return redirect(back)
    messages.success(request, f"Recorded {row.bank_account} on {row.balance_date:%Y-%m-%d}: {row.balance:,.2f}.")
    return redirect(f"{back}?day={row.balance_date:%Y-%m-%d}")


@require_POST
@staff_page(PERM_ENTER_RESERVE)
def reserve_upload(request):
    form = ReserveUploadForm(request.POST, request.FILES)
    back = reverse("reports:settlement_reserve")
    if not form.is_valid():
        messages.error(request, "Not read: choose a file.")
        return redirect(back)
    upload = form.cleaned_data["file"]
    content = upload.read()
    try:
        rows = reserve_file_read(content)
    except ReserveFileInvalid as exc:
        for problem in exc.problems[:20]:
            messages.error(request, problem)
        messages.error(request, "The file was refused; nothing was recorded.")
        return redirect(back)
    staged = staged_upload_create(
        kind=StagedUpload.Kind.RESERVE,
        user=request.user,
        file_name=upload.name,
        content=content,
        target={},
        preview={"rows": rows},
    )
    return redirect(reverse("reports:settlement_reserve_preview", args=[staged.pk]))


@require_http_methods(["GET", "POST"])
@staff_page(PERM_ENTER_RESERVE)
def reserve_preview(request, pk: int):
    staged = StagedUpload.objects.filter(pk=pk, kind=StagedUpload.Kind.RESERVE, uploaded_by=request.user).first()
    if staged is None:
        raise Http404(f"No upload {pk} of yours.")
    rows = staged.preview["rows"]
    if request.method == "POST":

        def commit(upload: StagedUpload) -> int:
            reserve_file_commit(acting_user=request.user, rows=rows)
            return upload.pk  # balances have no import row of their own: the upload stands for it

        try:
            _, again = staged_upload_commit(staged_id=staged.pk, user=request.user, commit=commit)
        except LedgerError as exc:
            messages.error(request, f"Not recorded: {exc.message}")
            return redirect(reverse("reports:settlement_reserve"))
        if again:
            messages.info(request, "This file was recorded before; nothing was added.")
        else:
            messages.success(request, f"Recorded {len(rows)} balances from {staged.file_name}.")
        return redirect(f"{reverse('reports:settlement_reserve')}?day={rows[0]['date']}")
    return render(request, "reports/settlement_reserve_preview.html", {"staged": staged, "rows": rows})


def reserve_tiles(*, user) -> list[DashboardTile]:
    """The dashboard's reserve-fund tile: the latest day's difference per
    entity and currency (banks - liabilities), alert when not covered or incomplete."""
    if not has_permission(user, VIEW_RESERVE):
        return []
    day = selectors.latest_reserve_day()
    if day is None:
        return [
            DashboardTile(
                "reserve",
                "Reserve funds 备付金",
                "–",
                reverse("reports:settlement_reserve"),
                True,
                ["No bank balance entered yet"],
            )
        ]
    checks = selectors.reserve_check(day=day)
    return [
        DashboardTile(
            id=f"reserve-{c.entity.code}-{c.currency}",
            label=f"Reserve funds 备付金 · {c.entity.code} {c.currency} · {day:%Y-%m-%d}",
            value=format_amount(c.difference, c.currency),
            url=f"{reverse('reports:settlement_reserve')}?day={day:%Y-%m-%d}",
            alert=not c.covered,
            lines=[
                f"banks {format_amount(c.bank_total, c.currency)} − liabilities {format_amount(c.liabilities, c.currency)}",
                *([] if c.complete else ["some banks' balances not entered"]),
            ],
        )
        for c in checks
    ]
