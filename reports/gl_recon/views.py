"""GL reconciliation pages: the uploaded trial balances, the upload
(``reports.import_gl``, checked here and again by the service) and each
import's differences with the ledger."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.kernel.errors import LedgerError
from accounts.kernel.pages import paginate, querystring_without, staff_page
from accounts.selectors import main_entity

from ..eod.models import BalanceSheetRow
from ..eod.selectors import latest_balance_date
from . import selectors
from .filters import GlDifferenceFilter, GlImportFilter
from .forms import GlUploadForm
from .models import GlImport
from .services import PERM_IMPORT_GL, gl_import

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
    if request.method == "POST":
        form = GlUploadForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            upload = data["file"]
            try:
                gl = gl_import(
                    entity=data["entity"],
                    accounting_date=data["accounting_date"],
                    file_name=upload.name,
                    content=upload.read(),
                    user=request.user,
                )
            except LedgerError as exc:
                form.add_error("file", exc.message)
                problems = getattr(exc, "problems", None)
                return render(request, "reports/gl_upload.html", {"form": form, "problems": problems}, status=400)
            messages.success(
                request,
                f"GL import #{gl.pk}: {gl.row_count} rows of {gl.file_name} for "
                f"{gl.entity.code} on {gl.accounting_date:%Y-%m-%d}.",
            )
            return redirect("reports:gl_import", pk=gl.pk)
    else:
        entity = main_entity()
        form = GlUploadForm(initial={"entity": entity, "accounting_date": latest_balance_date(entity=entity)})
    return render(request, "reports/gl_upload.html", {"form": form})


@require_GET
@staff_page(VIEW_GL, VIEW_BALANCES)
def gl_import_result(request, pk: int):
    gl = get_object_or_404(GlImport.objects.select_related("entity", "uploaded_by"), pk=pk)
    differences = selectors.gl_differences(gl)
    filterset = GlDifferenceFilter(request.GET or None, queryset=gl.rows.all())
    ledger_has_day = BalanceSheetRow.objects.filter(entity=gl.entity, accounting_date=gl.accounting_date).exists()
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
