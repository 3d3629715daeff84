"""Opening-balance pages (期初建账): upload, preview and confirm
(``reports.import_opening``, checked here and again by the service), and the
import's result."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.kernel.errors import LedgerError
from accounts.kernel.pages import staff_page
from accounts.selectors import main_entity
from postings.selectors import current_accounting_date

from ..staging.models import StagedUpload
from ..staging.services import staged_upload_commit, staged_upload_create
from .forms import OpeningUploadForm
from .models import OpeningImport
from .services import PERM_IMPORT_OPENING, opening_import, opening_preview


@require_http_methods(["GET", "POST"])
@staff_page(PERM_IMPORT_OPENING)
def opening_upload(request):
    """Read the file and show what it would open and post; nothing is
    written until the uploader confirms on the preview page."""
    if request.method == "POST":
        form = OpeningUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            content = upload.read()
            try:
                preview = opening_preview(file_name=upload.name, content=content, user=request.user)
            except LedgerError as exc:
                form.add_error("file", exc.message)
                context = {"form": form, "problems": getattr(exc, "problems", None), "more": getattr(exc, "more", 0)}
                return render(request, "reports/opening_upload.html", context, status=400)
            staged = staged_upload_create(
                kind=StagedUpload.Kind.OPENING,
                user=request.user,
                file_name=upload.name,
                content=content,
                target={"accounting_date": form.cleaned_data["accounting_date"].isoformat()},
                preview=preview,
            )
            return redirect("reports:opening_preview", pk=staged.pk)
    else:
        entity = main_entity()
        form = OpeningUploadForm(initial={"accounting_date": entity and current_accounting_date(entity=entity)})
    return render(request, "reports/opening_upload.html", {"form": form})


@require_http_methods(["GET", "POST"])
@staff_page(PERM_IMPORT_OPENING)
def opening_confirm(request, pk: int):
    """The preview (GET) and its confirmation (POST); only the uploader sees
    it; confirming twice imports once."""
    staged = get_object_or_404(StagedUpload, pk=pk, kind=StagedUpload.Kind.OPENING, uploaded_by=request.user)
    day = date.fromisoformat(staged.target["accounting_date"])
    if request.method == "POST":
        try:
            import_id, replayed = staged_upload_commit(
                staged_id=staged.pk,
                user=request.user,
                commit=lambda s: (
                    opening_import(accounting_date=day, file_name=s.file_name, content=s.content, user=request.user).pk
                ),
            )
        except LedgerError as exc:
            messages.error(request, f"Not imported: {exc.message}")
            return redirect("reports:opening_preview", pk=staged.pk)
        if replayed:
            messages.info(request, f"Opening import #{import_id} was already made from this upload.")
        else:
            messages.success(
                request,
                f"Opening import #{import_id}: {staged.preview['account_count']} accounts of {staged.file_name} "
                f"posted on {day:%Y-%m-%d}.",
            )
        return redirect("reports:opening_import", pk=import_id)
    if staged.committed_id is not None:
        return redirect("reports:opening_import", pk=staged.committed_id)
    return render(request, "reports/opening_preview.html", {"staged": staged, "p": staged.preview, "day": day})


@require_GET
@staff_page(PERM_IMPORT_OPENING)
def opening_result(request, pk: int):
    record = get_object_or_404(OpeningImport.objects.select_related("imported_by"), pk=pk)
    postings = record.postings.select_related("entity", "posting").order_by("entity__code", "currency")
    return render(
        request,
        "reports/opening_result.html",
        {"record": record, "postings": postings},
    )
