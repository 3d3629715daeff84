"""GL reconciliation (与会计系统对账): importing the GL's trial balance and
listing its differences with the ledger's subject totals.

The worked example. The ledger's daily balances of MAIN on day D (balances on
each account's normal side; 2241 member cash and 1002 channel clearing are
both credit-normal in this ledger):

=========  =========  ========  =======  ========  ========
account    subject    opening   debit    credit    closing
=========  =========  ========  =======  ========  ========
cash A1    2241 CNY     500.00   200.00  1,000.00  1,300.00
cash A2    2241 CNY     100.00     0.00     50.00    150.00
channel    1002 CNY    -600.00 1,050.00    200.00 -1,450.00
fee        6051 CNY       0.00     0.00      0.00      0.00
cash U1    2241 USD      10.00     0.00      5.00     15.00
=========  =========  ========  =======  ========  ========

Subject totals: 2241 CNY 600.00 / 200.00 / 1,050.00 / 1,450.00; 1002 CNY
-600.00 / 1,050.00 / 200.00 / -1,450.00; 6051 CNY zeros; 2241 USD 10.00 /
0.00 / 5.00 / 15.00.

The GL says 2241 CNY as the ledger does, 1002 CNY closing -1,440.00 (10.00
more than the ledger), 6601 CNY 0 / 5.00 / 0 / 5.00 (no such account in the
ledger), 2202 CNY all zeros; it has no 2241 USD row. So the differences are
exactly: 1002 CNY closing +10.00; 2241 USD only in the ledger (opening
-10.00, credit -5.00, closing -15.00 as GL minus ledger); 6601 CNY only in
the GL (debit +5.00, closing +5.00). 6051 and 2202 are zero on both sides.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import Workbook

from accounts.kernel.errors import LedgerValidationError
from reports.gl_recon.models import GlImport, GlImportRow
from reports.gl_recon.selectors import gl_differences
from reports.gl_recon.services import GlFileAlreadyImported, GlFileInvalid, GlImportNotAllowed, gl_import

from .reporting import balance_row, ensure_report_roles, staff_user

pytestmark = pytest.mark.django_db

D = date(2026, 3, 14)
HEADER = ["subject_code", "currency", "opening", "debit", "credit", "closing"]
GL_ROWS = [
    ["2241", "CNY", "600.00", "200.00", "1050.00", "1450.00"],
    ["1002", "CNY", "-600.00", "1050.00", "200.00", "-1440.00"],
    ["6601", "CNY", "0", "5.00", "0", "5.00"],
    ["2202", "CNY", "0", "0", "0", "0"],
]


def csv_bytes(rows, header=HEADER, bom=True) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")


def xlsx_bytes(rows, header=HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@pytest.fixture
def finance():
    ensure_report_roles()
    return staff_user("finance", "Finance staff")


@pytest.fixture
def day_books(ledger):
    """The ledger side of the worked example."""
    a1, a2 = ledger.cash(), ledger.cash()
    u1 = ledger.cash(currency="USD")
    channel, fee = ledger.channel(), ledger.internal("FEE_INCOME")
    balance_row(a1, D, "500.00", "200.00", "1000.00", "1300.00", 3)
    balance_row(a2, D, "100.00", "0", "50.00", "150.00", 1)
    balance_row(channel, D, "-600.00", "1050.00", "200.00", "-1450.00", 4)
    balance_row(fee, D, "0", "0", "0", "0", 0)
    balance_row(u1, D, "10.00", "0", "5.00", "15.00", 1)
    # Another day and another entity's day must not leak into day D.
    balance_row(a1, D - timedelta(days=1), "0", "0", "500.00", "500.00", 1)
    return ledger


def nothing_written():
    return GlImport.objects.count() == 0 and GlImportRow.objects.count() == 0


# --------------------------------------------------------- happy paths ----


def test_csv_import_and_its_differences(day_books, finance):
    gl = gl_import(
        entity=day_books.entity,
        accounting_date=D,
        file_name="tb-20260314.csv",
        content=csv_bytes(GL_ROWS),
        user=finance,
    )

    assert gl.row_count == 4 and gl.uploaded_by == finance and gl.file_name == "tb-20260314.csv"
    stored = {(r.subject_code, r.currency): r for r in gl.rows.all()}
    assert stored["1002", "CNY"].line == 3  # the header is row 1
    assert stored["1002", "CNY"].closing == Decimal("-1440.00")
    assert stored["6601", "CNY"].debit == Decimal("5.00")

    diffs = gl_differences(gl)
    assert [(d.subject_code, d.currency, d.presence, d.differing) for d in diffs] == [
        ("1002", "CNY", "both", ("closing",)),
        ("2241", "USD", "ledger_only", ("opening", "credit", "closing")),
        ("6601", "CNY", "gl_only", ("debit", "closing")),
    ]
    channel = diffs[0]
    assert channel.figure("closing").gl == Decimal("-1440.00")
    assert channel.figure("closing").ledger == Decimal("-1450.00")
    assert channel.figure("closing").delta == Decimal("10.00")
    assert channel.figure("debit").delta == 0 and channel.gl_line == 3 and channel.accounts == 1
    usd = diffs[1]
    assert [usd.figure(n).delta for n in ("opening", "debit", "credit", "closing")] == [
        Decimal("-10.00"),
        Decimal("0"),
        Decimal("-5.00"),
        Decimal("-15.00"),
    ]
    assert usd.gl_line is None and usd.figure("opening").gl is None
    assert diffs[2].accounts == 0 and diffs[2].figure("debit").ledger is None


def test_a_gl_that_agrees_has_no_differences(day_books, finance):
    rows = [
        ["2241", "CNY", "600", "200", "1,050.00", "1,450.00"],
        ["1002", "CNY", "-600", "1050", "200", "-1450"],
        ["2241", "USD", "10", "0", "5", "15"],
    ]
    gl = gl_import(
        entity=day_books.entity, accounting_date=D, file_name="tb.csv", content=csv_bytes(rows, bom=False), user=finance
    )
    assert gl_differences(gl) == []


def test_xlsx_import_with_number_and_date_cells(day_books, finance):
    header = ["科目代码", "currency", "opening", "debit", "credit", "closing", "accounting_date", "subject_name"]
    rows = [
        [2241, "CNY", 600, 200, 1050, 1450.0, datetime(2026, 3, 14), "其他应付款"],
        ["1002", "CNY", -600, 1050.5, 200, -1450, D, "渠道清算"],
        [None, None, None, None, None, None, None, None],  # an empty row is skipped
        ["2241", "USD", "10.00", 0, 5, 15, "2026-03-14", "其他应付款 USD"],
    ]
    gl = gl_import(
        entity=day_books.entity, accounting_date=D, file_name="tb.xlsx", content=xlsx_bytes(rows, header), user=finance
    )
    assert gl.row_count == 3
    assert sorted(gl.rows.values_list("subject_code", "currency", "line")) == [
        ("1002", "CNY", 3),
        ("2241", "CNY", 2),
        ("2241", "USD", 5),
    ]
    diffs = gl_differences(gl)
    assert [(d.subject_code, d.currency, d.differing) for d in diffs] == [("1002", "CNY", ("debit",))]
    assert diffs[0].figure("debit").delta == Decimal("0.50")


def test_currency_column_is_optional(day_books, finance):
    rows = [r[:1] + r[2:] for r in GL_ROWS[:2]]
    gl = gl_import(
        entity=day_books.entity,
        accounting_date=D,
        file_name="tb.csv",
        content=csv_bytes(rows, header=["subject_code", "opening", "debit", "credit", "closing"]),
        user=finance,
    )
    assert set(gl.rows.values_list("currency", flat=True)) == {"CNY"}


def test_the_same_file_is_recognised(day_books, finance):
    content = csv_bytes(GL_ROWS)
    first = gl_import(entity=day_books.entity, accounting_date=D, file_name="tb.csv", content=content, user=finance)
    with pytest.raises(GlFileAlreadyImported) as refused:
        gl_import(
            entity=day_books.entity,
            accounting_date=D + timedelta(days=1),
            file_name="copy.csv",
            content=content,
            user=finance,
        )
    assert f"GL import #{first.pk}" in refused.value.message
    assert "tb.csv" in refused.value.message and "finance" in refused.value.message
    assert GlImport.objects.count() == 1 and GlImportRow.objects.count() == 4


def test_only_finance_may_import(day_books):
    ensure_report_roles()
    auditor = staff_user("auditor", "Auditor")
    with pytest.raises(GlImportNotAllowed):
        gl_import(
            entity=day_books.entity, accounting_date=D, file_name="tb.csv", content=csv_bytes(GL_ROWS), user=auditor
        )
    assert nothing_written()


# ----------------------------------------------------------- bad files ----

GOOD = ["2241", "CNY", "600.00", "200.00", "1050.00", "1450.00"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(csv_bytes([GOOD], header=HEADER[:-1]), ["row 1", "missing column closing"], id="missing-column"),
        pytest.param(
            csv_bytes([GOOD, ["1002", "CNY", "0", "12.3x", "0", "0"]]),
            ["row 3, column debit", "'12.3x'"],
            id="non-numeric",
        ),
        pytest.param(
            csv_bytes([GOOD, ["1002", "CNY", "1.5E+3", "0", "0", "0"]]),
            ["row 3, column opening", "1.5E+3"],
            id="exponent",
        ),
        pytest.param(
            csv_bytes([GOOD, ["1002", "CNY", "0", "0", "10.005", "0"]]),
            ["row 3, column credit", "more than 2 decimal places"],
            id="too-many-places",
        ),
        pytest.param(
            csv_bytes([["2241", "JPY", "0", "0", "0", "10.5"]]),
            ["row 2, column closing", "more than 0 decimal places for JPY"],
            id="jpy-places",
        ),
        pytest.param(
            csv_bytes([GOOD, ["1002", "CNY", "0", "", "0", "0"]]), ["row 3, column debit", "empty"], id="empty-amount"
        ),
        pytest.param(
            csv_bytes([GOOD, ["1002", "CNY", "0", "0", "0", "0"], ["9999", "CNY", "0", "0", "0", "0"]]),
            ["row 4, column subject_code", "9999 is not the subject code of any account type"],
            id="unknown-subject",
        ),
        pytest.param(
            csv_bytes([GOOD, ["1002", "CNY", "0", "0", "0", "0"], GOOD]),
            ["row 4, column subject_code", "2241 CNY is already on row 2"],
            id="duplicate-subject",
        ),
        pytest.param(
            csv_bytes([GOOD, ["1002", "XYZ", "0", "0", "0", "0"]]),
            ["row 3, column currency", "XYZ"],
            id="unknown-currency",
        ),
        pytest.param(
            csv_bytes(
                [[*GOOD, "2026-03-14"], ["1002", "CNY", "0", "0", "0", "0", "2026-03-13"]],
                header=[*HEADER, "accounting_date"],
            ),
            ["row 3, column accounting_date", "2026-03-13 is not the date being imported, 2026-03-14"],
            id="wrong-date",
        ),
        pytest.param(
            csv_bytes([[*GOOD, "14/03/2026"]], header=[*HEADER, "accounting_date"]),
            ["row 2, column accounting_date", "not a date"],
            id="unreadable-date",
        ),
        pytest.param(b"", ["empty"], id="empty-file"),
        pytest.param("\ufeff".encode(), ["empty"], id="bom-only"),
        pytest.param(csv_bytes([]), ["row 2", "no rows"], id="header-only"),
        pytest.param(
            csv_bytes([GOOD], header=[*HEADER[:3], "debit", *HEADER[3:]]),
            ["row 1, column debit", "twice"],
            id="duplicate-column",
        ),
        pytest.param(
            b"subject_code,opening,debit,credit,closing\n2241,0,0,0,0\n1002,\xff\xfe,0,0,0\n",
            ["row 3", "neither UTF-8 nor GBK/GB18030"],
            id="neither-utf8-nor-gbk",
        ),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, [".xls"], id="old-xls"),
        pytest.param(b"PK\x03\x04 not really a zip", ["not a readable XLSX"], id="broken-xlsx"),
        pytest.param(
            xlsx_bytes([GOOD, ["1002", "CNY", 0, 100 / 3, 0, 0]]),
            ["row 3, column debit (cell D3)", "more than 2 decimal places"],
            id="xlsx-binary-fraction",
        ),
        pytest.param(
            xlsx_bytes([GOOD, ["1002", "CNY", 0, "abc", 0, 0]]),
            ["row 3, column debit (cell D3)", "'abc'"],
            id="xlsx-text-amount",
        ),
        pytest.param(
            xlsx_bytes([GOOD, [8888, "CNY", 0, 0, 0, 0]]),
            ["row 3, column subject_code (cell A3)", "8888"],
            id="xlsx-unknown-subject",
        ),
    ],
)
def test_bad_files_are_refused_whole(day_books, finance, content, expected):
    with pytest.raises(LedgerValidationError) as refused:
        gl_import(entity=day_books.entity, accounting_date=D, file_name="bad", content=content, user=finance)
    assert isinstance(refused.value, GlFileInvalid)
    for text in expected:
        assert text in refused.value.message, refused.value.message
    assert nothing_written()


def test_every_problem_is_named_at_once(day_books, finance):
    rows = [["2241", "CNY", "x", "0", "0", "0"], ["7777", "CNY", "0", "0", "0", "0"], GOOD]
    with pytest.raises(GlFileInvalid) as refused:
        gl_import(
            entity=day_books.entity, accounting_date=D, file_name="bad.csv", content=csv_bytes(rows), user=finance
        )
    assert refused.value.problems == [
        "row 2, column opening: 'x' is not a decimal amount (digits, an optional sign and decimal point)",
        "row 3, column subject_code: 7777 is not the subject code of any account type",
    ]
    assert nothing_written()


def test_a_refused_file_can_be_fixed_and_imported(day_books, finance):
    bad = csv_bytes([GOOD, ["1002", "CNY", "0", "oops", "0", "0"]])
    with pytest.raises(GlFileInvalid):
        gl_import(entity=day_books.entity, accounting_date=D, file_name="tb.csv", content=bad, user=finance)
    # The refused file was not remembered as imported: the fixed one goes in.
    gl = gl_import(
        entity=day_books.entity,
        accounting_date=D,
        file_name="tb.csv",
        content=csv_bytes([GOOD, ["1002", "CNY", "0", "0", "0", "0"]]),
        user=finance,
    )
    assert gl.row_count == 2
