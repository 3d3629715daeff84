"""The export files of vouchers, one writer per layout (docs/vouchers.md
has every column). Each writer takes the vouchers with their lines (in
voucher then line order) and returns (file name, bytes, data checksum).

The checksum every file carries is the SHA-256 of its voucher rows written
as CSV text (UTF-8, comma separated, ``\\r\\n`` line ends, the layout's own
header row first): in a CSV file, of the bytes before the checksum line; in
a workbook, of its voucher sheet's rows (so a test, or the GL's operator,
recomputes it from the sheet); in the Yonyou text file, which takes no
comment line, in the file's name and in the export record.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from accounts.kernel.money import currency_places

from .models import ExportFormat, Voucher, VoucherLine

CHECKSUM_SHEET = "checksum"
U8_FIRST_LINE = "填制凭证,V800"


@dataclass(frozen=True)
class Written:
    file_name: str
    content: bytes
    data_sha256: str


def _plain(amount: Decimal, currency: str) -> str:
    return str(amount.quantize(Decimal(1).scaleb(-currency_places(currency))))


def _sides(line: VoucherLine) -> tuple[Decimal, Decimal]:
    zero = Decimal(0)
    return (line.amount, zero) if line.direction == "D" else (zero, line.amount)


def _csv_text(rows: Iterable[list]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _safe(value: Any) -> Any:
    """Text a spreadsheet will not run as a formula (summaries are ours, but
    dimension values come from member numbers and channel codes)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "@", "\t", "\r"):
        return "'" + value
    return value


# ---------------------------------------------------------- generic ----

GENERIC_COLUMNS: list[tuple[str, Callable[[Voucher, VoucherLine], Any]]] = [
    ("voucher_no", lambda v, ln: v.voucher_no),
    ("entity", lambda v, ln: v.entity.code),
    ("accounting_date", lambda v, ln: v.accounting_date.isoformat()),
    ("period", lambda v, ln: f"{v.period:%Y-%m}"),
    ("voucher_word", lambda v, ln: v.word),
    ("number", lambda v, ln: v.number),
    ("kind", lambda v, ln: v.kind),
    ("reverses", lambda v, ln: v.reverses.voucher_no if v.reverses_id else ""),
    ("summary", lambda v, ln: v.summary),
    ("line_no", lambda v, ln: ln.line_no),
    ("subject_code", lambda v, ln: ln.subject_code),
    ("direction", lambda v, ln: ln.direction),
    ("currency", lambda v, ln: ln.currency),
    ("debit", lambda v, ln: _plain(_sides(ln)[0], ln.currency)),
    ("credit", lambda v, ln: _plain(_sides(ln)[1], ln.currency)),
    ("business_type", lambda v, ln: ln.business_type),
    ("posting_serial", lambda v, ln: ln.posting_serial or ""),
    ("customer", lambda v, ln: ln.customer),
    ("member", lambda v, ln: ln.member),
    ("merchant", lambda v, ln: ln.merchant),
    ("channel", lambda v, ln: ln.channel),
    ("bank_account", lambda v, ln: ln.bank_account),
    ("department", lambda v, ln: ln.department),
    ("entry_count", lambda v, ln: ln.entry_count),
    ("first_entry_serial", lambda v, ln: ln.first_entry_serial),
    ("last_entry_serial", lambda v, ln: ln.last_entry_serial),
]


def _generic_rows(vouchers: list[Voucher]) -> list[list]:
    rows: list[list] = [[name for name, _ in GENERIC_COLUMNS]]
    for v in vouchers:
        for line in v.lines.all():
            rows.append([value(v, line) for _, value in GENERIC_COLUMNS])
    return rows


def write_csv(vouchers: list[Voucher], stem: str) -> Written:
    text = _csv_text([[_safe(c) for c in row] for row in _generic_rows(vouchers)])
    digest = _sha(text)
    trailer = _csv_text([[f"# sha256={digest}", f"rows={text.count(chr(10)) - 1}", f"vouchers={len(vouchers)}"]])
    return Written(f"{stem}.csv", ("\ufeff" + text + trailer).encode("utf-8"), digest)


def _workbook(sheet_title: str, rows: list[list], digest: str, header_rows: int) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title)
    for row in rows:
        sheet.append([_safe(c) for c in row])
    check = workbook.create_sheet(CHECKSUM_SHEET)
    check.append(["algorithm", "sha256"])
    check.append(["of", f"sheet {sheet_title!r}: its rows as CSV text (UTF-8, comma, CRLF), header included"])
    check.append(["sha256", digest])
    check.append(["rows", len(rows) - header_rows])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def write_xlsx(vouchers: list[Voucher], stem: str) -> Written:
    rows = _generic_rows(vouchers)
    digest = _sha(_csv_text(rows))
    return Written(f"{stem}.xlsx", _workbook("vouchers", rows, digest, 1), digest)


# ---------------------------------------------------------- Kingdee ----
# The K/3 Cloud (云星空) import template of the voucher form GL_VOUCHER:
# row 1 the field keys, row 2 their captions; a voucher's header fields are
# written on its first line only, the entry (FEntity) fields on every line.

KINGDEE_COLUMNS: list[tuple[str, str, Callable[[Voucher, VoucherLine], Any], bool]] = [
    # (field key, caption, value, header field: on the voucher's first line only)
    ("FBillHead(GL_VOUCHER)", "凭证(单据头)", lambda v, ln: v.voucher_no, True),
    ("FAccountBookID", "账簿", lambda v, ln: v.entity.code, True),
    ("FDate", "日期", lambda v, ln: v.accounting_date.isoformat(), True),
    ("FYEAR", "会计年度", lambda v, ln: v.period.year, True),
    ("FPERIOD", "期间", lambda v, ln: v.period.month, True),
    ("FVOUCHERGROUPID", "凭证字", lambda v, ln: v.word, True),
    ("FVOUCHERGROUPNO", "凭证号", lambda v, ln: v.number, True),
    ("FEntity", "分录", lambda v, ln: ln.line_no, False),
    ("FEXPLANATION", "摘要", lambda v, ln: v.summary, False),
    ("FACCOUNTID", "科目编码", lambda v, ln: ln.subject_code, False),
    ("FDetailID#FFLEX5", "核算维度.部门", lambda v, ln: ln.department, False),
    ("FDetailID#FFLEX6", "核算维度.客户", lambda v, ln: ln.member or ln.customer, False),
    ("FDetailID#FF100001", "核算维度.渠道", lambda v, ln: ln.channel, False),
    ("FDetailID#FF100002", "核算维度.银行账户", lambda v, ln: ln.bank_account, False),
    ("FDetailID#FF100003", "核算维度.商户", lambda v, ln: ln.merchant, False),
    ("FCURRENCYID", "币别", lambda v, ln: ln.currency, False),
    ("FEXCHANGERATETYPE", "汇率类型", lambda v, ln: "HLTX01_SYS", False),
    ("FEXCHANGERATE", "汇率", lambda v, ln: 1, False),
    ("FAMOUNTFOR", "原币金额", lambda v, ln: _plain(ln.amount, ln.currency), False),
    ("FDEBIT", "借方金额", lambda v, ln: _plain(_sides(ln)[0], ln.currency), False),
    ("FCREDIT", "贷方金额", lambda v, ln: _plain(_sides(ln)[1], ln.currency), False),
]


def write_kingdee(vouchers: list[Voucher], stem: str) -> Written:
    rows: list[list] = [[c[0] for c in KINGDEE_COLUMNS], [c[1] for c in KINGDEE_COLUMNS]]
    for v in vouchers:
        for i, line in enumerate(v.lines.all()):
            rows.append(["" if head and i else value(v, line) for _, _, value, head in KINGDEE_COLUMNS])
    digest = _sha(_csv_text(rows))
    return Written(f"{stem}-kingdee.xlsx", _workbook("GL_VOUCHER", rows, digest, 2), digest)


# ---------------------------------------------------------- Yonyou ----
# U8's 总账工具 凭证引入 text file: a first line naming the layout, then one
# line per entry, fields comma separated; [制单日期 + 凭证类别字 + 业务号]
# identifies a voucher, whose lines are consecutive. GB18030 (GBK) text.

YONYOU_COLUMNS: list[tuple[str, Callable[[Voucher, VoucherLine], Any]]] = [
    ("制单日期", lambda v, ln: v.accounting_date.isoformat()),
    ("凭证类别字", lambda v, ln: v.word),
    ("业务号", lambda v, ln: v.voucher_no),
    ("附单据数", lambda v, ln: 0),
    ("摘要", lambda v, ln: v.summary[:60]),
    ("科目编码", lambda v, ln: ln.subject_code),
    ("金额借方", lambda v, ln: _plain(_sides(ln)[0], ln.currency)),
    ("金额贷方", lambda v, ln: _plain(_sides(ln)[1], ln.currency)),
    ("数量", lambda v, ln: ""),
    ("外币金额", lambda v, ln: ""),
    ("汇率", lambda v, ln: ""),
    ("制单人", lambda v, ln: "ledger"),
    ("结算方式", lambda v, ln: ""),
    ("票号", lambda v, ln: ""),
    ("发生日期", lambda v, ln: v.accounting_date.isoformat()),
    ("部门编码", lambda v, ln: ln.department),
    ("个人编码", lambda v, ln: ""),
    ("客户编码", lambda v, ln: ln.member or ln.customer or ln.merchant),
]


def write_yonyou(vouchers: list[Voucher], stem: str) -> Written:
    rows: list[list] = []
    for v in vouchers:
        if v.currency != v.entity.base_currency:
            # U8's amount columns are the book's currency; a foreign currency voucher needs a rate we do not keep.
            raise ValueError(f"{v.voucher_no} is in {v.currency}, not the book's {v.entity.base_currency}")
        for line in v.lines.all():
            rows.append([value(v, line) for _, value in YONYOU_COLUMNS])
    body = _csv_text(rows)
    digest = _sha(body)
    text = U8_FIRST_LINE + "\r\n" + body
    return Written(f"{stem}-u8-sha256-{digest[:16]}.txt", text.encode("gb18030"), digest)


WRITERS: dict[str, Callable[[list[Voucher], str], Written]] = {
    ExportFormat.KINGDEE: write_kingdee,
    ExportFormat.YONYOU: write_yonyou,
    ExportFormat.CSV: write_csv,
    ExportFormat.XLSX: write_xlsx,
}


def file_stem(entity_code: str, date_from: date, date_to: date) -> str:
    days = f"{date_from:%Y%m%d}" + ("" if date_from == date_to else f"-{date_to:%Y%m%d}")
    return f"vouchers-{entity_code}-{days}"
