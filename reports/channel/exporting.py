"""Exports of the differences (对账差错) as a spreadsheet.

The CSV streams from the request (``reports.exports.csv_response``): each
row is sent as it is read, so a long list starts downloading at once. The
XLSX, whatever its size, is written by a worker: an export of the kind
``DIFFERENCES`` (``reports.exporting.services``), whose criteria are the
page filter's (``selectors.differences_where``), so the file holds the rows
the list would show when the worker reads them.
"""

from __future__ import annotations

from django.utils import timezone

from ..exporting.services import ExportKind
from ..exports import Column
from .selectors import differences_where

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

DIFFERENCES = ExportKind(
    name="differences",
    title="Differences as XLSX · 导出差错",
    sheet="Differences",
    noun="difference",
    permission="reports.view_difference",
    page="reports:recon_differences",
    page_label="the differences",
    rows=lambda criteria: differences_where(**criteria),
    columns=lambda criteria: DIFFERENCE_COLUMNS,
    currency_of=lambda d: d.currency,
)
