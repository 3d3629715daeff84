"""Voucher pages under /reports/vouchers/: the list, a voucher with its
lines, a line with its entries (voucher -> lines -> entries), the export to
the GL and the exports made, and the GL's acknowledgement (its answer file,
previewed then confirmed, or one number typed by staff).

Reading needs ``reports.view_voucher``; exporting ``reports.export_voucher``;
recording GL numbers ``reports.acknowledge_voucher`` (checked here to offer
the action, and again by the services)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.kernel.errors import LedgerError
from accounts.kernel.pages import paginate, querystring_without, staff_page
from accounts.kernel.permissions import has_permission
from accounts.selectors import main_entity

from ..exports import Column, csv_response, xlsx_response
from ..filters import with_default_dates
from ..staging.models import StagedUpload
from ..staging.services import staged_upload_commit, staged_upload_create
from . import selectors
from .filters import LineEntryFilter, VoucherExportFilter, VoucherFilter
from .forms import VoucherAckForm, VoucherAckUploadForm, VoucherExportForm
from .models import ExportFormat, Voucher, VoucherExport, VoucherLine, VoucherStatus
from .services import (
    PERM_ACKNOWLEDGE,
    PERM_EXPORT,
    voucher_ack_import,
    voucher_ack_preview,
    voucher_acknowledge,
    vouchers_export,
)

VIEW_VOUCHERS = "reports.view_voucher"
VIEW_EXPORTS = "reports.view_voucherexport"
VIEW_ENTRIES = "postings.view_entry"

CONTENT_TYPES = {
    ExportFormat.KINGDEE: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.YONYOU: "text/plain; charset=gb18030",
}


def _voucher_filter(request) -> VoucherFilter:
    return VoucherFilter(
        with_default_dates(request.GET, selectors.latest_voucher_date()), queryset=selectors.vouchers()
    )


@require_GET
@staff_page(VIEW_VOUCHERS)
def vouchers(request):
    filterset = _voucher_filter(request)
    rows = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    return render(
        request,
        "reports/vouchers.html",
        {
            "filter": filterset,
            "page": paginate(request, rows, 100),
            "totals": selectors.voucher_totals(rows),
            "querystring": querystring_without(request, "page"),
            "export_query": with_default_dates(request.GET, selectors.latest_voucher_date()).urlencode(),
            "can_export": has_permission(request.user, PERM_EXPORT),
            "can_acknowledge": has_permission(request.user, PERM_ACKNOWLEDGE),
        },
    )


# The lines as a report (read-only, not an export to the GL: nothing is recorded or changes status).
LINE_COLUMNS = [
    Column("voucher_no", lambda ln: ln.voucher.voucher_no),
    Column("accounting_date", lambda ln: ln.voucher.accounting_date, "date"),
    Column("status", lambda ln: ln.voucher.status),
    Column("kind", lambda ln: ln.voucher.kind),
    Column("gl_voucher_no", lambda ln: ln.voucher.gl_voucher_no, "text"),
    Column("line_no", lambda ln: ln.line_no),
    Column("subject_code", lambda ln: ln.subject_code),
    Column("direction", lambda ln: ln.direction),
    Column("business_type", lambda ln: ln.business_type),
    Column("currency", lambda ln: ln.currency),
    Column("amount", lambda ln: ln.amount, "amount"),
    Column("dimensions", lambda ln: " ".join(f"{k}={v}" for k, v in ln.dimensions.items()), "text"),
    Column("entry_count", lambda ln: ln.entry_count),
    Column("first_entry_serial", lambda ln: ln.first_entry_serial),
    Column("last_entry_serial", lambda ln: ln.last_entry_serial),
]


def _lines_of(request):
    filterset = _voucher_filter(request)
    chosen = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    lines = (
        VoucherLine.objects.filter(voucher__in=chosen.order_by().values("pk"))
        .select_related("voucher__entity")
        .order_by("voucher__accounting_date", "voucher__number", "line_no")
    )
    data = filterset.form.cleaned_data if filterset.is_valid() else {}
    name = "voucher-lines"
    if data.get("date_from") and data.get("date_to"):
        name += f"-{data['date_from']:%Y%m%d}" + (
            "" if data["date_from"] == data["date_to"] else f"-{data['date_to']:%Y%m%d}"
        )
    return name, lines.iterator(chunk_size=2000)


@require_GET
@staff_page(VIEW_VOUCHERS)
def vouchers_csv(request):
    name, lines = _lines_of(request)
    return csv_response(name, LINE_COLUMNS, lines, lambda ln: ln.currency)


@require_GET
@staff_page(VIEW_VOUCHERS)
def vouchers_xlsx(request):
    name, lines = _lines_of(request)
    return xlsx_response(name, "Voucher lines", LINE_COLUMNS, lines, lambda ln: ln.currency)


@require_GET
@staff_page(VIEW_VOUCHERS)
def voucher_detail(request, pk: int):
    voucher = get_object_or_404(Voucher.objects.select_related("entity", "reverses__entity"), pk=pk)
    return render(
        request,
        "reports/voucher_detail.html",
        {
            "v": voucher,
            "lines": voucher.lines.all(),
            "balance": selectors.voucher_balance(voucher),
            "reversed_by": Voucher.objects.filter(reverses=voucher).select_related("entity").first(),
            "exports": voucher.exports.defer("content").select_related("created_by").order_by("created_at"),
            "ack_form": VoucherAckForm(),
            "can_acknowledge": has_permission(request.user, PERM_ACKNOWLEDGE)
            and voucher.status == VoucherStatus.EXPORTED,
        },
    )


@require_GET
@staff_page(VIEW_VOUCHERS, VIEW_ENTRIES)
def voucher_line(request, pk: int, line_no: int):
    line = get_object_or_404(VoucherLine.objects.select_related("voucher__entity"), voucher_id=pk, line_no=line_no)
    entries = selectors.line_entries(line)
    summary = selectors.entries_summary(entries)
    filterset = LineEntryFilter(request.GET or None, queryset=entries)
    return render(
        request,
        "reports/voucher_line.html",
        {
            "v": line.voucher,
            "line": line,
            "summary": summary,
            "consistent": selectors.line_agrees(line, summary),
            "filter": filterset,
            "page": paginate(request, filterset.qs, 100),
            "querystring": querystring_without(request, "page"),
        },
    )


@require_POST
@staff_page(VIEW_VOUCHERS, PERM_ACKNOWLEDGE)
def voucher_ack(request, pk: int):
    voucher = get_object_or_404(Voucher.objects.select_related("entity"), pk=pk)
    form = VoucherAckForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not recorded: give the GL's voucher number.")
        return redirect("reports:voucher", pk=pk)
    try:
        done = voucher_acknowledge(voucher=voucher, gl_voucher_no=form.cleaned_data["gl_voucher_no"], user=request.user)
    except LedgerError as exc:
        messages.error(request, f"Not recorded: {exc.message}")
    else:
        number = form.cleaned_data["gl_voucher_no"].strip()
        messages.success(request, f"{voucher.voucher_no} is GL voucher {number}." if done else "Already recorded.")
    return redirect("reports:voucher", pk=pk)


# ------------------------------------------------------------- export ----


@require_http_methods(["GET", "POST"])
@staff_page(VIEW_VOUCHERS, PERM_EXPORT)
def voucher_export(request):
    if request.method == "POST":
        form = VoucherExportForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                export = vouchers_export(
                    entity=data["entity"],
                    date_from=data["date_from"],
                    date_to=data["date_to"],
                    format=data["format"],
                    user=request.user,
                )
            except LedgerError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    f"Export #{export.pk}: {export.voucher_count} vouchers in {export.file_name}; "
                    "they are exported and will not change.",
                )
                return redirect("reports:voucher_export_detail", pk=export.pk)
        status = 400
    else:
        day = selectors.latest_voucher_date()
        form = VoucherExportForm(
            initial={"entity": main_entity(), "date_from": day, "date_to": day, "format": ExportFormat.KINGDEE}
        )
        status = 200
    drafts = Voucher.objects.filter(status=VoucherStatus.DRAFT).order_by("accounting_date")
    pending = list(drafts.values("entity__code", "accounting_date").distinct()[:31])
    return render(request, "reports/voucher_export.html", {"form": form, "pending": pending}, status=status)


@require_GET
@staff_page(VIEW_EXPORTS)
def voucher_exports(request):
    filterset = VoucherExportFilter(request.GET or None, queryset=selectors.voucher_exports())
    rows = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    return render(
        request,
        "reports/voucher_exports.html",
        {"filter": filterset, "page": paginate(request, rows, 50), "querystring": querystring_without(request, "page")},
    )


@require_GET
@staff_page(VIEW_EXPORTS)
def voucher_export_detail(request, pk: int):
    export = get_object_or_404(selectors.voucher_exports(), pk=pk)
    return render(
        request,
        "reports/voucher_export_detail.html",
        {"x": export, "vouchers": export.vouchers.select_related("entity").order_by("accounting_date", "number")},
    )


@require_GET
@staff_page(VIEW_EXPORTS)
def voucher_export_download(request, pk: int):
    export = get_object_or_404(VoucherExport, pk=pk)
    response = HttpResponse(bytes(export.content), content_type=CONTENT_TYPES[export.format])
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{export.file_name}"
    response["X-Checksum-SHA256"] = export.file_sha256
    return response


# ---------------------------------------------------- acknowledgement ----


@require_http_methods(["GET", "POST"])
@staff_page(VIEW_VOUCHERS, PERM_ACKNOWLEDGE)
def voucher_ack_upload(request):
    """Read the GL's answer file and show what it says; nothing is recorded
    until the uploader confirms."""
    if request.method == "POST":
        form = VoucherAckUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            content = upload.read()
            try:
                preview = voucher_ack_preview(file_name=upload.name, content=content, user=request.user)
            except LedgerError as exc:
                form.add_error("file", exc.message)
                context = {"form": form, "problems": getattr(exc, "problems", None), "more": getattr(exc, "more", 0)}
                return render(request, "reports/voucher_ack_upload.html", context, status=400)
            staged = staged_upload_create(
                kind=StagedUpload.Kind.VOUCHER_ACK,
                user=request.user,
                file_name=upload.name,
                content=content,
                target={},
                preview=preview,
            )
            return redirect("reports:voucher_ack_preview", pk=staged.pk)
        return render(request, "reports/voucher_ack_upload.html", {"form": form}, status=400)
    return render(request, "reports/voucher_ack_upload.html", {"form": VoucherAckUploadForm()})


@require_http_methods(["GET", "POST"])
@staff_page(VIEW_VOUCHERS, PERM_ACKNOWLEDGE)
def voucher_ack_confirm(request, pk: int):
    staged = get_object_or_404(StagedUpload, pk=pk, kind=StagedUpload.Kind.VOUCHER_ACK, uploaded_by=request.user)
    if request.method == "POST":
        try:
            ack_id, replayed = staged_upload_commit(
                staged_id=staged.pk,
                user=request.user,
                commit=lambda s: voucher_ack_import(file_name=s.file_name, content=s.content, user=request.user).pk,
            )
        except LedgerError as exc:
            messages.error(request, f"Not recorded: {exc.message}")
            return redirect("reports:voucher_ack_preview", pk=staged.pk)
        if replayed:
            messages.info(request, f"Acknowledgement #{ack_id} was already recorded from this upload.")
        else:
            messages.success(
                request, f"Acknowledgement #{ack_id}: {staged.preview['new']} vouchers now carry the GL's number."
            )
        return redirect(f"{_vouchers_url()}?status=acknowledged")
    if staged.committed_id is not None:
        return redirect(f"{_vouchers_url()}?status=acknowledged")
    return render(request, "reports/voucher_ack_preview.html", {"staged": staged, "p": staged.preview})


def _vouchers_url() -> str:
    return reverse("reports:vouchers")
