"""Balance sheet and voucher downloads: the same filtered rows as the page,
read back from the CSV and the XLSX.

The range example (two days of one member account and the channel):

=======  =========  =======  ========  =======  ========  =======
day      account    opening  debit     credit   closing   entries
=======  =========  =======  ========  =======  ========  =======
D-1      cash       0.00     0.00      500.00   500.00    1
D        cash       500.00   120.00    0.00     380.00    1
D-1      channel    0.00     500.00    0.00     -500.00   1
D        channel    -500.00  0.00      120.00   -380.00   1
=======  =========  =======  ========  =======  ========  =======

Over D-1..D: cash opening 0.00 (its first day), debit 120.00, credit 500.00,
closing 380.00 (its last day), 2 entries; the channel 0.00 / 500.00 /
120.00 / -380.00. A third account only on D-1 (bob, closing 40.00) counts its
D-1 opening and closing.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from reports.vouchers.models import Voucher

from .reporting import as_role, balance_row, books, csv_rows, xlsx_rows  # noqa: F401

pytestmark = pytest.mark.django_db

D = date(2026, 2, 10)
D1 = D - timedelta(days=1)


@pytest.fixture
def two_days(ledger):
    cash, bob, channel = ledger.cash(), ledger.cash(), ledger.channel()
    cash.name = '=HYPERLINK("http://evil")'
    cash.save(update_fields=["name"])
    balance_row(cash, D1, "0", "0", "500.00", "500.00", 1)
    balance_row(cash, D, "500.00", "120.00", "0", "380.00", 1)
    balance_row(channel, D1, "0", "500.00", "0", "-500.00", 1)
    balance_row(channel, D, "-500.00", "0", "120.00", "-380.00", 1)
    balance_row(bob, D1, "0", "0", "40.00", "40.00", 1)
    return {"cash": cash, "bob": bob, "channel": channel}


def test_balance_sheet_over_a_range(two_days, as_role):
    response = as_role("Auditor").get(
        reverse("reports:balance_sheet"), {"date_from": D1.isoformat(), "date_to": D.isoformat(), "group_by": "account"}
    )
    rows = {r["account__account_no"]: r for r in response.context["page"]}
    cash = rows[two_days["cash"].account_no]
    assert (
        cash["opening_total"],
        cash["debit_total"],
        cash["credit_total"],
        cash["closing_total"],
        cash["entries"],
    ) == (Decimal("0"), Decimal("120.00"), Decimal("500.00"), Decimal("380.00"), 2)
    channel = rows[two_days["channel"].account_no]
    assert (channel["opening_total"], channel["debit_total"], channel["credit_total"], channel["closing_total"]) == (
        Decimal("0"),
        Decimal("500.00"),
        Decimal("120.00"),
        Decimal("-380.00"),
    )
    assert rows[two_days["bob"].account_no]["closing_total"] == Decimal("40.00")

    (cny,) = response.context["sheet"].totals
    by_category = {r["category"]: r for r in cny.by_category}
    assert by_category["liability"]["closing_total"] == Decimal("420.00")  # 380 + 40
    assert by_category["internal"]["closing_total"] == Decimal("-380.00")
    assert cny.debit == Decimal("620.00") and cny.credit == Decimal("660.00")


def test_balance_sheet_by_subject_over_a_range(two_days, as_role):
    response = as_role("Auditor").get(
        reverse("reports:balance_sheet"), {"date_from": D1.isoformat(), "date_to": D.isoformat(), "group_by": "subject"}
    )
    rows = {r["subject_code"]: r for r in response.context["page"]}
    assert rows["2241"]["opening_total"] == Decimal("0")
    assert rows["2241"]["closing_total"] == Decimal("420.00")
    assert rows["2241"]["accounts"] == 2 and rows["2241"]["entries"] == 3


def test_balance_sheet_csv_has_the_filtered_rows(two_days, as_role):
    response = as_role("Finance staff").get(
        reverse("reports:balance_sheet_csv"),
        {"date_from": D1.isoformat(), "date_to": D.isoformat(), "subject_code": "2241"},
    )
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="balance-sheet-account-{D1:%Y%m%d}-{D:%Y%m%d}.csv"' in response["Content-Disposition"]
    rows = csv_rows(response)
    assert list(rows[0]) == [
        "date_from",
        "date_to",
        "entity",
        "account_no",
        "account_name",
        "account_type",
        "subject_code",
        "category",
        "currency",
        "opening",
        "debit",
        "credit",
        "closing",
        "entry_count",
        "accounts",
    ]
    got = {r["account_no"]: (r["opening"], r["debit"], r["credit"], r["closing"], r["entry_count"]) for r in rows}
    assert got == {
        two_days["cash"].account_no: ("0.00", "120.00", "500.00", "380.00", "2"),
        two_days["bob"].account_no: ("0.00", "0.00", "40.00", "40.00", "1"),
    }
    cash = next(r for r in rows if r["account_no"] == two_days["cash"].account_no)
    assert cash["account_name"].startswith("'=")  # never a formula
    assert cash["date_from"] == D1.isoformat() and cash["subject_code"] == "2241"


def test_balance_sheet_xlsx_has_the_filtered_rows(two_days, as_role):
    response = as_role("Finance staff").post(
        reverse("reports:balance_sheet_xlsx") + f"?date_from={D.isoformat()}&group_by=account_type&currency=CNY"
    )
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = xlsx_rows(response)
    got = {r["account_type"]: (Decimal(str(r["opening"])), Decimal(str(r["closing"])), r["accounts"]) for r in rows}
    assert got == {
        "CHANNEL_CLEARING": (Decimal("-500"), Decimal("-380"), 1),
        "USER_CASH": (Decimal("500"), Decimal("380"), 1),
    }  # bob has no row on D
    assert rows[0]["date_from"].date() == D


def test_xlsx_text_never_becomes_a_formula(two_days, as_role):
    response = as_role("Finance staff").post(reverse("reports:balance_sheet_xlsx") + f"?date_from={D.isoformat()}")
    from io import BytesIO

    from openpyxl import load_workbook

    from .reporting import body

    sheet = load_workbook(BytesIO(body(response))).worksheets[0]
    names = [c.value for c in sheet["E"]]
    assert '=HYPERLINK("http://evil")' in names
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_downloads_of_nothing_are_just_the_header(db, as_role):
    rows = csv_rows(as_role("Auditor").get(reverse("reports:balance_sheet_csv")))
    assert rows == []
    assert xlsx_rows(as_role("Auditor").get(reverse("reports:vouchers_xlsx"))) == []


LINE_HEADER = [
    "voucher_no",
    "accounting_date",
    "status",
    "kind",
    "gl_voucher_no",
    "line_no",
    "subject_code",
    "direction",
    "business_type",
    "currency",
    "amount",
    "dimensions",
    "entry_count",
    "first_entry_serial",
    "last_entry_serial",
]


def test_voucher_lines_csv(books, as_role):
    vouchers = books.vouchers_from_entries()
    response = as_role("Auditor").get(reverse("reports:vouchers_csv"), {"business_type": "transfer"})
    rows = csv_rows(response)
    assert list(rows[0]) == LINE_HEADER
    (transfer,) = [v for v in vouchers if v.group_key == "type:transfer"]
    expected = [
        (
            transfer.voucher_no,
            str(ln.line_no),
            ln.subject_code,
            ln.direction,
            str(ln.amount.quantize(Decimal("0.01"))),
            str(ln.entry_count),
            str(ln.first_entry_serial),
            str(ln.last_entry_serial),
        )
        for ln in transfer.lines.order_by("line_no")
    ]
    got = [
        (
            r["voucher_no"],
            r["line_no"],
            r["subject_code"],
            r["direction"],
            r["amount"],
            r["entry_count"],
            r["first_entry_serial"],
            r["last_entry_serial"],
        )
        for r in rows
    ]
    assert got == expected
    assert {r["accounting_date"] for r in rows} == {books.day.isoformat()}
    assert {r["status"] for r in rows} == {"draft"} and {r["amount"] for r in rows} == {"300.00"}


def test_voucher_lines_xlsx(books, as_role):
    books.vouchers_from_entries()
    response = as_role("Auditor").get(reverse("reports:vouchers_xlsx"), {"subject_code": "1002"})
    rows = xlsx_rows(response)
    assert list(rows[0]) == LINE_HEADER
    got = sorted((r["subject_code"], r["direction"], r["business_type"], Decimal(str(r["amount"]))) for r in rows)
    assert got == [("1002", "D", "recharge", Decimal("1000")), ("2241", "C", "recharge", Decimal("1000"))]
    assert Voucher.objects.count() == 2
