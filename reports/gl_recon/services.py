"""GL reconciliation (与会计系统对账): importing the general ledger's trial
balance (科目余额表) for one entity and accounting date.

The file
--------
CSV (UTF-8, with or without a BOM, or GBK/GB18030, what Excel writes for a
Chinese sheet; comma separated) or XLSX (the first worksheet). The first non-empty row is the header; columns are found by
name, in any order, case-insensitive; other columns (a subject name, say)
are ignored. Empty rows are skipped.

==================  =========  ==============================================
column              required   meaning
==================  =========  ==============================================
``subject_code``    yes        the subject (会计科目); must be the subject code
                               of some account type of the chart
``currency``        no         ISO code; missing column or empty cell: the
                               entity's base currency
``opening``         yes        opening balance of the day (期初余额)
``debit``           yes        debit turnover of the day (借方发生额)
``credit``          yes        credit turnover of the day (贷方发生额)
``closing``         yes        closing balance of the day (期末余额)
``accounting_date`` no         if present, every row must carry the date the
                               file is imported for (YYYY-MM-DD, YYYYMMDD,
                               YYYY/MM/DD or an XLSX date cell)
==================  =========  ==============================================

The Chinese headers 科目代码, 币种, 期初余额, 借方发生额, 贷方发生额,
期末余额 and 会计日期 are accepted as the same columns.

Amounts are exact decimals: ``1234.50``, ``-20``, ``1,234.50``; no more
places than the currency has (CNY 2, JPY 0). Anything else is refused,
including exponent notation (``1.2E+11`` is what a spreadsheet writes after it
has lost digits) and XLSX number cells that are binary fractions rather than
the decimal they display (``0.30000000000000004``). An empty amount cell is
refused too: write 0.

Signs. The ledger keeps every balance on its account's normal side (see
``accounts.models``): asset subjects on the debit side, liability and
internal subjects on the credit side. The GL file must give ``opening`` and
``closing`` on that same side: positive when the balance is on the subject's
normal side, negative when it is on the other (an internal clearing subject
whose balance is on the debit side after recharges is negative). ``debit``
and ``credit`` are the plain turnovers of each side and need no sign.

Refusal is whole: a file with any problem writes nothing, and the error
(a ``LedgerValidationError``) names the row and column of each problem found
(row 1 is the header, as a spreadsheet numbers rows). A file whose SHA-256
was imported before, for whatever entity or date, is refused and the earlier
import named: a corrected GL gives a different file.

A period's trial balance (a month or a year, 月/年 科目余额表) is imported the
same way for the period's last day, with ``period_start`` its first: opening
is the balance before the period, debit and credit the period's turnover,
closing the balance at its end.

The comparison itself is ``reports.gl_recon.selectors.gl_differences``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.kernel.errors import InvalidAmount, LedgerValidationError, NotAllowed
from accounts.kernel.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS, currency_places, parse_amount
from accounts.kernel.permissions import require_permission
from accounts.models import AccountType, Entity

from ..refusals import FileRefused, Problems
from ..tables import XlsxRow, read_table
from .models import GlImport, GlImportRow

PERM_IMPORT_GL = "reports.import_gl"
MAX_ROWS = 50_000  # a trial balance has hundreds of subjects; this is a runaway file

AMOUNT_COLUMNS = ("opening", "debit", "credit", "closing")
COLUMNS = {
    "subject_code": ("subject_code", "科目代码"),
    "currency": ("currency", "币种"),
    "opening": ("opening", "期初余额"),
    "debit": ("debit", "借方发生额"),
    "credit": ("credit", "贷方发生额"),
    "closing": ("closing", "期末余额"),
    "accounting_date": ("accounting_date", "会计日期"),
}
REQUIRED = ("subject_code", *AMOUNT_COLUMNS)
_HEADER_NAMES = {alias.lower(): name for name, aliases in COLUMNS.items() for alias in aliases}

_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d")


class GlFileInvalid(FileRefused):
    """The file is refused whole; ``problems`` lists each "row N, column C: why"."""

    code = "gl_file_invalid"
    subject = "GL file"


class GlFileAlreadyImported(LedgerValidationError):
    code = "gl_file_already_imported"

    def __init__(self, earlier: GlImport):
        self.earlier = earlier
        when = timezone.localtime(earlier.uploaded_at).strftime("%Y-%m-%d %H:%M")
        super().__init__(
            f"This file was already imported as GL import #{earlier.pk} ({earlier.entity.code}, "
            f"{earlier.accounting_date:%Y-%m-%d}, {earlier.file_name}, by {earlier.uploaded_by.get_username()} "
            f"at {when}).",
            earlier_import=earlier.pk,
        )


class GlImportNotAllowed(NotAllowed):
    code = "forbidden"
    http_status = 403
    default_message = "You do not have the permission to upload GL trial balances."


@dataclass(frozen=True)
class Cell:
    row: int
    column: str  # the header name as found in the file
    letter: str | None  # XLSX cell reference, e.g. "D4"
    value: Any

    def where(self) -> str:
        ref = f" (cell {self.letter})" if self.letter else ""
        return f"row {self.row}, column {self.column}{ref}"


def gl_import(
    *, entity: Entity, accounting_date: date, file_name: str, content: bytes, user, period_start: date | None = None
) -> GlImport:
    """Check the whole file, then store it with its rows in one transaction."""
    require_permission(user, PERM_IMPORT_GL, error=GlImportNotAllowed)
    sha256 = hashlib.sha256(content).hexdigest()
    earlier = GlImport.objects.select_related("entity", "uploaded_by").filter(file_sha256=sha256).first()
    if earlier is not None:
        raise GlFileAlreadyImported(earlier)

    rows, _ = _parse(file_name, content, entity=entity, accounting_date=accounting_date)
    try:
        with transaction.atomic():
            gl = GlImport.objects.create(
                entity=entity,
                accounting_date=accounting_date,
                period_start=period_start,
                file_name=(file_name or "")[-255:] or "upload",
                file_sha256=sha256,
                row_count=len(rows),
                uploaded_by=user,
            )
            GlImportRow.objects.bulk_create(GlImportRow(gl_import=gl, **row) for row in rows)
    except IntegrityError:
        # The same file uploaded twice at once: the unique constraint decided.
        earlier = GlImport.objects.select_related("entity", "uploaded_by").filter(file_sha256=sha256).first()
        if earlier is None:
            raise
        raise GlFileAlreadyImported(earlier) from None
    return gl


def gl_preview(*, entity: Entity, accounting_date: date, file_name: str, content: bytes, user) -> dict:
    """What ``gl_import`` would store, refused as it would be, with nothing
    written: the dates found, the row count, the totals by side and currency,
    the first and last rows (as JSON, kept with the staged upload)."""
    require_permission(user, PERM_IMPORT_GL, error=GlImportNotAllowed)
    earlier = (
        GlImport.objects.select_related("entity", "uploaded_by")
        .filter(file_sha256=hashlib.sha256(content).hexdigest())
        .first()
    )
    if earlier is not None:
        raise GlFileAlreadyImported(earlier)
    rows, dates = _parse(file_name, content, entity=entity, accounting_date=accounting_date)
    totals: dict[str, dict] = {}
    for row in rows:
        total = totals.setdefault(row["currency"], {"currency": row["currency"], "rows": 0, "debit": 0, "credit": 0})
        total["rows"] += 1
        total["debit"] += row["debit"]
        total["credit"] += row["credit"]

    def shown(row: dict) -> dict:
        return {key: str(value) for key, value in row.items()}

    return {
        "dates": [f"{day:%Y-%m-%d}" for day in sorted(dates)],
        "row_count": len(rows),
        "totals": [{**t, "debit": str(t["debit"]), "credit": str(t["credit"])} for _, t in sorted(totals.items())],
        "first": shown(rows[0]),
        "last": shown(rows[-1]),
    }


# ------------------------------------------------------------- reading ----


def _parse(file_name: str, content: bytes, *, entity: Entity, accounting_date: date) -> tuple[list[dict], set[date]]:
    """The rows, and the dates the file's accounting_date column gives (none without the column)."""
    problems = Problems(GlFileInvalid)
    table = read_table(content, GlFileInvalid)
    header_row, header = next(table, (None, None))
    if header is None:
        raise GlFileInvalid(["the file is empty (row 1: no header row)"])
    columns = _columns(header_row, header, problems)
    problems.raise_if_any()

    subjects = set(AccountType.objects.values_list("subject_code", flat=True))
    seen: dict[tuple[str, str], int] = {}
    rows: list[dict] = []
    dates: set[date] = set()
    for row_no, values in table:
        if len(rows) >= MAX_ROWS:
            problems.add(f"row {row_no}: more than {MAX_ROWS} rows; is this a trial balance?")
            break
        cells = {
            name: Cell(row_no, text, _letter(index, row_no, values), values[index] if index < len(values) else None)
            for name, (index, text) in columns.items()
        }
        if "accounting_date" in cells:
            day = _date(cells["accounting_date"].value)
            if day is not None:
                dates.add(day)
        row = _read_row(cells, subjects, entity, accounting_date, problems)
        if row is None:
            continue
        key = (row["subject_code"], row["currency"])
        if key in seen:
            problems.add(f"{cells['subject_code'].where()}: {key[0]} {key[1]} is already on row {seen[key]}")
            continue
        seen[key] = row_no
        rows.append(row)
    problems.raise_if_any()
    if not rows:
        raise GlFileInvalid([f"row {header_row + 1}: the file has a header but no rows"])
    return rows, dates


def _letter(index: int, row_no: int, values) -> str | None:
    if not isinstance(values, XlsxRow):
        return None
    from openpyxl.utils import get_column_letter

    return f"{get_column_letter(index + 1)}{row_no}"


def _columns(row_no: int, header, problems: Problems) -> dict[str, tuple[int, str]]:
    """Our column name -> (index in the row, the header text as written)."""
    found: dict[str, tuple[int, str]] = {}
    for index, raw in enumerate(header):
        text = "" if raw is None else str(raw).strip()
        name = _HEADER_NAMES.get(text.lower())
        if name is None:
            continue
        if name in found:
            problems.add(f"row {row_no}, column {text}: the column appears twice (also column {found[name][0] + 1})")
        else:
            found[name] = (index, text)
    missing = [name for name in REQUIRED if name not in found]
    if missing:
        problems.add(
            f"row {row_no}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(the header must name subject_code, opening, debit, credit, closing; currency and "
            f"accounting_date are optional)"
        )
    return found


def _read_row(
    cells: dict[str, Cell], subjects: set[str], entity: Entity, accounting_date: date, problems: Problems
) -> dict | None:
    before = len(problems.items) + problems.more
    subject = _text(cells["subject_code"].value)
    if not subject:
        problems.add(f"{cells['subject_code'].where()}: empty")
    elif subject not in subjects:
        problems.add(f"{cells['subject_code'].where()}: {subject} is not the subject code of any account type")

    currency = entity.base_currency
    if "currency" in cells:
        given = _text(cells["currency"].value).upper()
        if given and given not in settings.CURRENCIES:
            problems.add(
                f"{cells['currency'].where()}: {given} is not a currency of the ledger "
                f"({', '.join(settings.CURRENCIES)})"
            )
        currency = given or currency

    if "accounting_date" in cells:
        cell = cells["accounting_date"]
        day = _date(cell.value)
        if day is None:
            problems.add(f"{cell.where()}: {_shown(cell.value)} is not a date (YYYY-MM-DD)")
        elif day != accounting_date:
            problems.add(f"{cell.where()}: {day:%Y-%m-%d} is not the date being imported, {accounting_date:%Y-%m-%d}")

    amounts = {}
    for name in AMOUNT_COLUMNS:
        cell = cells[name]
        amount, why = _amount(cell.value, currency)
        if why:
            problems.add(f"{cell.where()}: {why}")
        amounts[name] = amount
    if len(problems.items) + problems.more > before:
        return None
    line = cells["subject_code"].row
    return {"line": line, "subject_code": subject, "currency": currency, **amounts}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a subject code typed into a number cell
    return str(value).strip()


def _shown(value) -> str:
    return "an empty cell" if value is None or str(value).strip() == "" else repr(str(value).strip())


def _amount(value, currency: str) -> tuple[Decimal | None, str | None]:
    """(amount, None) or (None, why not)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "empty (write 0 for no amount)"
    if isinstance(value, bool) or isinstance(value, (datetime, date)):
        return None, f"{_shown(value)} is not an amount"
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        # An XLSX number cell: its shortest decimal form is what the sheet
        # shows; a binary fraction such as 0.1 + 0.2 is refused by the
        # places check below rather than silently rounded.
        amount = Decimal(repr(value))
    else:
        text = str(value).strip()
        try:
            amount = parse_amount(text, grouped=True)
        except InvalidAmount:
            return None, f"{_shown(value)} is not a decimal amount (digits, an optional sign and decimal point)"
    if not amount.is_finite():
        return None, f"{_shown(value)} is not a decimal amount"
    places = currency_places(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        return None, f"{_shown(value)} has more than {places} decimal places for {currency}"
    if amount.copy_abs() >= Decimal(10) ** (AMOUNT_MAX_DIGITS - AMOUNT_DECIMAL_PLACES):
        return None, f"{_shown(value)} is too large"
    return amount.quantize(Decimal(1).scaleb(-AMOUNT_DECIMAL_PLACES)), None


def _date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date() if value.time() == datetime.min.time() else None
    if isinstance(value, date):
        return value
    text = _text(value)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None
