"""Exports of the differences (对账差错) as a spreadsheet.

The CSV streams from the request (``reports.exports.csv_response``): each
row is sent as it is read, so a long list starts downloading at once. The
XLSX cannot be sent before its last row is written (a workbook is a zip
whose directory comes last), and writing 68,000 differences took a minute:
it is written by a worker (``reports.tasks.difference_export_run``) into a
``DifferenceExport`` row, which the page asking for it follows with a
progress bar until the file can be downloaded.

The worker applies the criteria the page's filter gave
(``selectors.differences_where``), so the file holds the rows the list
would show when the worker reads them.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.kernel.tasks import enqueue_on_commit

from ..exports import Column, xlsx_write
from .models import DifferenceExport, ExportStatus
from .selectors import differences_where

log = logging.getLogger(__name__)

# An export is its requester's download for a day; older ones are dropped at the next request.
KEEP = timedelta(days=1)
# How often the worker says how far it has got (one small UPDATE each time).
PROGRESS_EVERY = 1000

DIFFERENCE_COLUMNS = [
    Column("difference", lambda d: f"D{d.pk}"),
    Column("channel", lambda d: d.channel.code),
    Column("recon_date", lambda d: d.recon_date, "date"),
    Column("outcome", lambda d: d.outcome),
    Column("status", lambda d: d.status),
    Column("owner", lambda d: d.owner.get_username() if d.owner_id else ""),
    Column("serial_no", lambda d: d.serial_no),
    Column("currency", lambda d: d.currency),
    Column("channel_direction", lambda d: d.channel_direction),
    Column("channel_amount", lambda d: d.channel_amount, "amount"),
    Column("ledger_direction", lambda d: d.ledger_direction),
    Column("ledger_amount", lambda d: d.ledger_amount, "amount"),
    Column("difference_amount", lambda d: d.difference, "amount"),
    Column("statement_line", lambda d: d.statement_line.line_no if d.statement_line_id else ""),
    Column("posting", lambda d: d.posting_id or ""),
    Column("entry", lambda d: d.entry_id or ""),
    Column("found_at", lambda d: timezone.localtime(d.created_at).strftime("%Y-%m-%d %H:%M:%S")),
    Column("note", lambda d: d.note, "text"),
]


def difference_export_request(*, user, criteria: dict, file_name: str) -> DifferenceExport:
    """Record an XLSX export of the differences matching ``criteria`` and
    queue its writing once this commits (a broker that is down keeps it in
    the outbox, accounts.kernel.tasks)."""
    with transaction.atomic():
        DifferenceExport.objects.filter(requested_at__lt=timezone.now() - KEEP).delete()
        export = DifferenceExport.objects.create(requested_by=user, criteria=criteria, file_name=file_name[:195])
        enqueue_on_commit("reports.tasks.difference_export_run", export.pk)
    return export


def difference_export_run(*, export_id: int) -> DifferenceExport | None:
    """Write the export's workbook (the task's body). A second delivery of a
    written export changes nothing; of one a dead worker left half done, it
    writes it again from the start. None when the export was dropped."""
    export = DifferenceExport.objects.filter(pk=export_id).first()
    if export is None or export.status == ExportStatus.DONE:
        return export
    rows = differences_where(**export.criteria)
    total = rows.count()
    _update(export, status=ExportStatus.RUNNING, rows_total=total, rows_done=0, error="")
    try:
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            written = xlsx_write(
                spool,
                "Differences",
                DIFFERENCE_COLUMNS,
                rows.iterator(chunk_size=2000),
                lambda d: d.currency,
                progress=lambda done: _update(export, rows_done=done),
                progress_every=PROGRESS_EVERY,
            )
            spool.seek(0)
            content = spool.read()
    except Exception as exc:  # noqa: BLE001 (any failure is the requester's to see)
        log.exception("difference export %s failed", export.pk)
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


def _update(export: DifferenceExport, **fields) -> None:
    """One UPDATE, committed at once (the task writes no other rows), so the
    progress page sees it while the workbook is still being written."""
    DifferenceExport.objects.filter(pk=export.pk).update(**fields)
    for name, value in fields.items():
        setattr(export, name, value)
