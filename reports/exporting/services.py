"""Spreadsheets written by a worker, one mechanism for every kind of export.

A CSV streams from the request (``reports.exports.csv_response``): each row
is sent as it is read. An XLSX cannot be sent before its last row is written
(a workbook is a zip whose directory comes last), and writing 68,000 rows
took a minute; so a large one is written by a worker
(``reports.tasks.export_run``) into an ``Export`` row, which the page that
asked for it follows with a progress bar (``reports.exporting.views``) until
the file can be downloaded.

What is exported is an ``ExportKind``, registered by the app part that owns
the rows (``reports.channel.exporting``: the differences;
``reports.pages.exporting``: the balance sheet) when the app is ready: how
to select the rows from the criteria the page's filter gave (plain values,
kept on the row and applied by the worker, so the file holds the rows the
page would show when the worker reads them), the columns, and who may ask.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.kernel.tasks import enqueue_on_commit

from ..exports import Column, xlsx_write
from .models import Export, ExportStatus

log = logging.getLogger(__name__)

TASK = "reports.tasks.export_run"
# An export is its requester's download for a day; older ones are dropped at the next request.
KEEP = timedelta(days=1)
# How often the worker says how far it has got (one small UPDATE each time).
PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class ExportKind:
    name: str
    title: str  # the progress page's heading
    sheet: str  # the workbook's sheet name
    noun: str  # what a row is, singular: "Ready: 3 differences"
    permission: str  # asks for it and downloads it
    page: str  # the URL name of the page it is asked from
    page_label: str  # "the differences": "Back to the differences"
    rows: Callable[[dict], QuerySet]
    columns: Callable[[dict], list[Column]]
    currency_of: Callable[[Any], str]


KINDS: dict[str, ExportKind] = {}


def register(kind: ExportKind) -> ExportKind:
    KINDS[kind.name] = kind
    return kind


def in_request(rows: int) -> bool:
    """Whether a spreadsheet of ``rows`` rows is small enough to write inside
    the request (``EXPORT_XLSX_IN_REQUEST_ROWS``): asking a worker and
    following a progress page costs a few seconds that a small sheet does not."""
    return rows <= settings.EXPORT_XLSX_IN_REQUEST_ROWS


def export_request(*, user, kind: str, criteria: dict, file_name: str) -> Export:
    """Record an XLSX export of ``kind`` for ``criteria`` and queue its
    writing once this commits (a broker that is down keeps it in the outbox,
    accounts.kernel.tasks)."""
    KINDS[kind]  # an unknown kind fails here, in the request, not in a worker
    with transaction.atomic():
        Export.objects.filter(requested_at__lt=timezone.now() - KEEP).delete()
        export = Export.objects.create(requested_by=user, kind=kind, criteria=criteria, file_name=file_name[:195])
        enqueue_on_commit(TASK, export.pk)
    return export


def export_run(*, export_id: int) -> Export | None:
    """Write the export's workbook (the task's body). A second delivery of a
    written export changes nothing; of one a dead worker left half done, it
    writes it again from the start. None when the export was dropped."""
    export = Export.objects.filter(pk=export_id).first()
    if export is None or export.status == ExportStatus.DONE:
        return export
    try:
        kind = KINDS[export.kind]
        rows = kind.rows(export.criteria)
        _update(export, status=ExportStatus.RUNNING, rows_total=rows.count(), rows_done=0, error="")
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            written = xlsx_write(
                spool,
                kind.sheet,
                kind.columns(export.criteria),
                rows.iterator(chunk_size=2000),
                kind.currency_of,
                progress=lambda done: _update(export, rows_done=done),
                progress_every=PROGRESS_EVERY,
            )
            spool.seek(0)
            content = spool.read()
    except Exception as exc:  # noqa: BLE001 (any failure is the requester's to see)
        log.exception("export %s (%s) failed", export.pk, export.kind)
        # Said on the page that follows it; raising would only tell the worker's log again.
        _update(
            export, status=ExportStatus.FAILED, error=f"{exc.__class__.__name__}: {exc}", finished_at=timezone.now()
        )
        return export
    _update(
        export,
        status=ExportStatus.DONE,
        rows_total=written,
        rows_done=written,
        content=content,
        finished_at=timezone.now(),
    )
    return export


def _update(export: Export, **fields) -> None:
    """One UPDATE, committed at once (the task writes no other rows), so the
    progress page sees it while the workbook is still being written."""
    Export.objects.filter(pk=export.pk).update(**fields)
    for name, value in fields.items():
        setattr(export, name, value)
