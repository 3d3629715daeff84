"""CSV and XLSX downloads of the report pages.

CSV is streamed row by row (UTF-8 with a BOM, so a spreadsheet reads the
Chinese), amounts as plain decimals in the currency's places. XLSX is
written by openpyxl in write-only mode (``xlsx_write``) to a spooled temporary
file, amounts as number cells with the currency's places as their format; a
long one (the differences) by a worker, not the request
(``reports.channel.exporting``). Free text
(account names) cannot start a formula in either.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.http import FileResponse, StreamingHttpResponse

from accounts.kernel.money import currency_places

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], Any]
    kind: str = "plain"  # "plain", "text" (free text), "amount" (needs the row's currency), "date"


def plain_amount(amount: Decimal | None, currency: str) -> Decimal | None:
    if amount is None:  # an amount the row does not have (one side of a reconciliation difference)
        return None
    return amount.quantize(Decimal(1).scaleb(-currency_places(currency)))


def _safe_text(value) -> str:
    """Text as a spreadsheet will not run it as a formula."""
    value = "" if value is None else str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


class _Echo:
    def write(self, value):
        return value


def csv_response(filename: str, columns: list[Column], rows: Iterable, currency_of: Callable[[Any], str]):
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff" + writer.writerow([c.header for c in columns])
        for row in rows:
            out = []
            for c in columns:
                value = c.value(row)
                if c.kind == "amount":
                    value = "" if value is None else str(plain_amount(value, currency_of(row)))
                elif c.kind == "text":
                    value = _safe_text(value)
                elif c.kind == "date":
                    value = value.isoformat() if value else ""
                out.append(value)
            yield writer.writerow(out)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def xlsx_response(filename: str, title: str, columns: list[Column], rows: Iterable, currency_of: Callable[[Any], str]):
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    xlsx_write(spool, title, columns, rows, currency_of)
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename=f"{filename}.xlsx", content_type=XLSX_TYPE)


def xlsx_write(
    out,
    title: str,
    columns: list[Column],
    rows: Iterable,
    currency_of: Callable[[Any], str],
    *,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 1000,
) -> int:
    """Write the rows as a workbook to the binary file ``out``; the number of
    rows written. ``progress(rows written)`` is called every ``progress_every`` rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    bold = Font(bold=True)
    header = []
    for c in columns:
        cell = WriteOnlyCell(sheet, value=c.header)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    formats: dict[str, str] = {}
    written = 0
    for row in rows:
        out_row = []
        for c in columns:
            value = c.value(row)
            if c.kind == "amount":
                currency = currency_of(row)
                places = currency_places(currency)
                cell = WriteOnlyCell(sheet, value=plain_amount(value, currency))
                cell.number_format = formats.setdefault(currency, "#,##0" + ("." + "0" * places if places else ""))
            elif c.kind == "date":
                cell = WriteOnlyCell(sheet, value=value if isinstance(value, date) else None)
                cell.number_format = "yyyy-mm-dd"
            else:
                cell = WriteOnlyCell(sheet, value="" if value is None else value)
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # never a formula, whatever the text starts with
            out_row.append(cell)
        sheet.append(out_row)
        written += 1
        if progress is not None and written % progress_every == 0:
            progress(written)
    workbook.save(out)
    return written
