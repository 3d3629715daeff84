"""Reading an uploaded table, CSV or XLSX, for the imports that are refused
whole (a GL trial balance, a GL's voucher acknowledgement): the rows, each
with its spreadsheet row number, empty rows skipped; an unreadable file is
refused with the importer's own ``FileRefused`` class."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator

from .refusals import FileRefused


class XlsxRow(tuple):
    """A row read from a workbook (its cells get spreadsheet references)."""


def read_table(content: bytes, refusal: type[FileRefused]) -> Iterator[tuple[int, list]]:
    """(row number, cell values) of each non-empty row, header first."""
    if content.startswith(b"PK\x03\x04"):
        yield from _read_xlsx(content, refusal)
    elif content.startswith(b"\xd0\xcf\x11\xe0"):
        raise refusal(["row 1: this is an old binary .xls workbook; save it as .xlsx or CSV (UTF-8)"])
    else:
        yield from _read_csv(content, refusal)


def _read_csv(content: bytes, refusal: type[FileRefused]) -> Iterator[tuple[int, list]]:
    """UTF-8 first; a file that is not UTF-8 is read as GB18030 (a superset of
    GBK: what Excel writes when it saves a Chinese sheet as CSV), as channel
    statements are. GBK bytes are almost never valid UTF-8, so the order
    cannot misread a GBK file."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text = content.decode("gb18030")
        except UnicodeDecodeError:
            line = content[: exc.start].count(b"\n") + 1
            raise refusal([f"row {line}: neither UTF-8 nor GBK/GB18030 text (save the CSV as UTF-8)"]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                yield reader.line_num, record
    except csv.Error as exc:
        raise refusal([f"row {reader.line_num}: not a readable CSV line ({exc})"]) from None


def _read_xlsx(content: bytes, refusal: type[FileRefused]) -> Iterator[tuple[int, list]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise refusal([f"row 1: not a readable XLSX workbook ({exc.__class__.__name__})"]) from None
    try:
        sheet = workbook.worksheets[0]
        for row_no, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if any(v is not None and str(v).strip() != "" for v in values):
                yield row_no, XlsxRow(values)
    finally:
        workbook.close()
