"""An export's progress page and its file (``reports.exporting.services``):
the requester's own, while they still hold the permission of its kind."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from accounts.kernel.pages import staff_page
from accounts.kernel.permissions import has_permission

from ..exports import XLSX_TYPE
from .models import Export, ExportStatus
from .services import KINDS


def _own_export(request, pk: int):
    export = get_object_or_404(Export.objects.defer("content"), pk=pk, requested_by=request.user)
    kind = KINDS[export.kind]
    if not has_permission(request.user, kind.permission):
        raise PermissionDenied
    return export, kind


@require_GET
@staff_page()
def export_page(request, pk: int):
    """How far the worker has got; the page reloads itself until the file is ready."""
    export, kind = _own_export(request, pk)
    return render(request, "reports/export.html", {"export": export, "kind": kind, "ExportStatus": ExportStatus})


@require_GET
@staff_page()
def export_file(request, pk: int):
    export, _ = _own_export(request, pk)
    if export.status != ExportStatus.DONE:
        return redirect("reports:export", pk=export.pk)
    content = Export.objects.values_list("content", flat=True).get(pk=export.pk)
    response = HttpResponse(bytes(content), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{export.file_name}"'
    return response
