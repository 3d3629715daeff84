"""GL reconciliation pages: the uploaded trial balances, the upload
(``reports.import_gl``, checked here and again by the service) and each
import's differences with the ledger."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.kernel.errors import LedgerError
from accounts.kernel.pages import paginate, querystring_without, staff_page
from accounts.models import Entity
from accounts.selectors import main_entity

from ..eod.models import BalanceSheetRow
from ..eod.selectors import latest_balance_date
from ..staging.models import StagedUpload
from ..staging.services import staged_upload_commit, staged_upload_create
from . import selectors
from .filters import GlDifferenceFilter, GlImportFilter
from .forms import GlUploadForm
from .models import GlImport
from .services import PERM_IMPORT_GL, gl_import, gl_preview

VIEW_GL = "reports.view_glimport"
VIEW_BALANCES = "reports.view_dailybalance"


# ---------------------------------------------------- GL reconciliation ----


@require_GET
@staff_page(VIEW_GL)
def gl_imports(request):
    filterset = GlImportFilter(request.GET or None, queryset=selectors.gl_imports())
    return render(
        request,
        "reports/gl_imports.html",
        {
            "filter": filterset,
            "page": paginate(request, filterset.qs, 50),
            "querystring": querystring_without(request, "page"),
        },
    )


@require_http_methods(["GET", "POST"])
@staff_page(PERM_IMPORT_GL)
def gl_upload(request):
    """Read the file and show what it says (``gl_preview``); nothing is
    imported until the uploader confirms on the preview page."""
    if request.method == "POST":
        form = GlUploadForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            upload = data["file"]
            content = upload.read()
            try:
                preview = gl_preview(
                    entity=data["entity"],
                    accounting_date=data["accounting_date"],
                    file_name=upload.name,
                    content=content,
                    user=request.user,
                )
            except LedgerError as exc:
                form.add_error("file", exc.message)
                context = {"form": form, "problems": getattr(exc, "problems", None), "more": getattr(exc, "more", 0)}
                return render(request, "reports/gl_upload.html", context, status=400)
            staged = staged_upload_create(
                kind=StagedUpload.Kind.GL,
                user=request.user,
                file_name=upload.name,
                content=content,
                target={
                    "entity": data["entity"].code,
                    "accounting_date": data["accounting_date"].isoformat(),
                    "period_start": data["period_start"].isoformat() if data["period_start"] else None,
                },
                preview=preview,
            )
            return redirect("reports:gl_preview", pk=staged.pk)
    else:
        entity = main_entity()
        form = GlUploadForm(initial={"entity": entity, "accounting_date": latest_balance_date(entity=entity)})
    return render(request, "reports/gl_upload.html", {"form": form})


@require_http_methods(["GET", "POST"])
@staff_page(PERM_IMPORT_GL)
def gl_confirm(request, pk: int):
    """The preview of a staged trial balance (GET) and its confirmation
    (POST); only its uploader sees it; confirming twice imports once."""
    staged = get_object_or_404(StagedUpload, pk=pk, kind=StagedUpload.Kind.GL, uploaded_by=request.user)
    entity = get_object_or_404(Entity, code=staged.target["entity"])
    day = date.fromisoformat(staged.target["accounting_date"])
    start = staged.target.get("period_start")
    period_start = date.fromisoformat(start) if start else None
    if request.method == "POST":
        try:
            gl_id, replayed = staged_upload_commit(
                staged_id=staged.pk,
                user=request.user,
                commit=lambda s: (
                    gl_import(
                        entity=entity,
                        accounting_date=day,
                        file_name=s.file_name,
                        content=s.content,
                        user=request.user,
                        period_start=period_start,
                    ).pk
                ),
            )
        except LedgerError as exc:
            messages.error(request, f"Not imported: {exc.message}")
            return redirect("reports:gl_preview", pk=staged.pk)
        if replayed:
            messages.info(request, f"GL import #{gl_id} was already made from this upload.")
        else:
            messages.success(
                request,
                f"GL import #{gl_id}: {staged.preview['row_count']} rows of {staged.file_name} for "
                f"{entity.code} on {day:%Y-%m-%d}.",
            )
        return redirect("reports:gl_import", pk=gl_id)
    if staged.committed_id is not None:
        return redirect("reports:gl_import", pk=staged.committed_id)
    return render(
        request, "reports/gl_preview.html", {"staged": staged, "p": staged.preview, "entity": entity, "day": day}
    )


@require_GET
@staff_page(VIEW_GL, VIEW_BALANCES)
def gl_import_result(request, pk: int):
    gl = get_object_or_404(GlImport.objects.select_related("entity", "uploaded_by"), pk=pk)
    differences = selectors.gl_differences(gl)
    filterset = GlDifferenceFilter(request.GET or None, queryset=gl.rows.all())
    # A period is compared with figures computed from the entries, never missing.
    ledger_has_day = (
        gl.period_start is not None
        or BalanceSheetRow.objects.filter(entity=gl.entity, accounting_date=gl.accounting_date).exists()
    )
    return render(
        request,
        "reports/gl_result.html",
        {
            "gl": gl,
            "differences": filterset.keep(differences),
            "all_count": len(differences),
            "filter": filterset,
            "ledger_has_day": ledger_has_day,
            "compared": gl.rows.count(),
        },
    )
