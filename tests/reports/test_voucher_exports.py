"""Export files for the GL, parsed back and checked against the vouchers;
the export recorded; the GL's acknowledgement, from its answer file or by
staff. The day is tests/reports/test_vouchers.py's (4 vouchers, 8 lines)."""

from __future__ import annotations

import csv
import hashlib
import io

import pytest
from openpyxl import Workbook, load_workbook

from reports.vouchers.models import Voucher, VoucherAckImport, VoucherExport, VoucherStatus
from reports.vouchers.services import (
    NothingToExport,
    VoucherAckAlreadyImported,
    VoucherAckInvalid,
    VoucherExportRefused,
    voucher_ack_import,
    voucher_ack_preview,
    voucher_acknowledge,
    vouchers_export,
)

from .eod_books import D, post
from .reporting import ensure_report_roles, staff_user
from .test_vouchers import DEC2, closed, day  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance():
    ensure_report_roles()
    return staff_user("finance", "Finance staff")


@pytest.fixture
def built(day, ledger):  # noqa: F811
    closed(ledger)
    return ledger


def export(ledger, user, fmt):
    return vouchers_export(entity=ledger.entity, date_from=DEC2, date_to=DEC2, format=fmt, user=user)


def expected_lines() -> list[tuple]:
    """(our voucher no, subject, debit, credit) of every line, in file order."""
    out = []
    for v in Voucher.objects.select_related("entity").order_by("number"):
        for ln in v.lines.order_by("line_no"):
            debit, credit = (ln.amount, D(0)) if ln.direction == "D" else (D(0), ln.amount)
            out.append((v.voucher_no, ln.subject_code, debit, credit))
    return out


def csv_text(rows) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def test_generic_csv_parsed_back_with_its_checksum(built, finance):
    x = export(built, finance, "csv")
    content = bytes(x.content)
    assert hashlib.sha256(content).hexdigest() == x.file_sha256
    text = content.decode("utf-8-sig")
    body, trailer = text[: text.rindex("# sha256=")], text[text.rindex("# sha256=") :]
    assert hashlib.sha256(body.encode()).hexdigest() == x.data_sha256
    assert trailer.startswith(f"# sha256={x.data_sha256},rows=8,vouchers=4")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["voucher_no"], r["subject_code"], D(r["debit"]), D(r["credit"])) for r in rows] == expected_lines()
    assert {r["voucher_word"] for r in rows} == {"记"} and rows[0]["accounting_date"] == "2026-12-02"

    # Recorded: who, when, which vouchers; and they are exported now.
    assert (x.created_by, x.voucher_count, x.line_count, x.format) == (finance, 4, 8, "csv")
    assert set(x.vouchers.values_list("number", flat=True)) == {1, 2, 3, 4}
    assert set(Voucher.objects.values_list("status", flat=True)) == {VoucherStatus.EXPORTED}
    # Nothing is left to export: a second click exports nothing and names the first.
    with pytest.raises(NothingToExport, match=f"#{x.pk}"):
        export(built, finance, "csv")
    assert VoucherExport.objects.count() == 1


def test_generic_xlsx_carries_the_same_checksum_as_the_csv_of_its_rows(built, finance):
    x = export(built, finance, "xlsx")
    workbook = load_workbook(io.BytesIO(bytes(x.content)), read_only=True)
    rows = [list("" if c is None else c for c in row) for row in workbook["vouchers"].iter_rows(values_only=True)]
    check = {r[0]: r[1] for r in workbook["checksum"].iter_rows(values_only=True)}
    assert check["sha256"] == x.data_sha256 == hashlib.sha256(csv_text(rows).encode()).hexdigest()
    header = rows[0]
    got = [
        (r[0], r[header.index("subject_code")], D(r[header.index("debit")]), D(r[header.index("credit")]))
        for r in rows[1:]
    ]
    assert got == expected_lines()


def test_kingdee_layout(built, finance):
    x = export(built, finance, "kingdee")
    assert x.file_name == "vouchers-MAIN-20261202-kingdee.xlsx"
    workbook = load_workbook(io.BytesIO(bytes(x.content)), read_only=True)
    rows = [list("" if c is None else c for c in row) for row in workbook["GL_VOUCHER"].iter_rows(values_only=True)]
    keys, captions, data = rows[0], rows[1], rows[2:]
    assert keys[:3] == ["FBillHead(GL_VOUCHER)", "FAccountBookID", "FDate"] and captions[0] == "凭证(单据头)"
    col = {k: i for i, k in enumerate(keys)}
    assert hashlib.sha256(csv_text(rows).encode()).hexdigest() == x.data_sha256
    # The header fields on each voucher's first line only; every line its subject and sides.
    heads = [r[col["FBillHead(GL_VOUCHER)"]] for r in data]
    assert heads == [
        "MAIN-202612-记-0001",
        "",
        "MAIN-202612-记-0002",
        "",
        "MAIN-202612-记-0003",
        "",
        "MAIN-202612-记-0004",
        "",
    ]
    assert [r[col["FVOUCHERGROUPNO"]] for r in data if r[col["FVOUCHERGROUPNO"]] != ""] == [1, 2, 3, 4]
    got, current = [], None
    for r in data:
        current = r[col["FBillHead(GL_VOUCHER)"]] or current
        got.append((current, r[col["FACCOUNTID"]], D(r[col["FDEBIT"]]), D(r[col["FCREDIT"]])))
    assert got == expected_lines()
    debit = sum(g[2] for g in got)
    assert debit == sum(g[3] for g in got) == D("932")


def test_yonyou_u8_layout(built, finance):
    x = export(built, finance, "yonyou")
    assert x.file_name == f"vouchers-MAIN-20261202-u8-sha256-{x.data_sha256[:16]}.txt"
    text = bytes(x.content).decode("gb18030")
    first, body = text.split("\r\n", 1)
    assert first == "填制凭证,V800"
    assert hashlib.sha256(body.encode()).hexdigest() == x.data_sha256
    rows = list(csv.reader(io.StringIO(body)))
    # 制单日期, 凭证类别字, 业务号, 附单据数, 摘要, 科目编码, 金额借方, 金额贷方, ...
    assert [(r[2], r[5], D(r[6]), D(r[7])) for r in rows] == expected_lines()
    assert {(r[0], r[1]) for r in rows} == {("2026-12-02", "记")}


def test_yonyou_refuses_a_foreign_currency_voucher_and_writes_nothing(day, ledger, finance):  # noqa: F811
    usd = ledger.cash(currency="USD")
    post("recharge", member_account=usd, channel_account=ledger.channel(currency="USD"), amount="5")
    closed(ledger)
    with pytest.raises(VoucherExportRefused, match="USD"):
        export(ledger, finance, "yonyou")
    assert VoucherExport.objects.count() == 0 and not Voucher.objects.exclude(status="draft").exists()
    assert export(ledger, finance, "kingdee").voucher_count == 5  # the USD recharge has a voucher of its own


def test_only_finance_exports(built):
    ensure_report_roles()
    auditor = staff_user("auditor", "Auditor")
    from accounts.kernel.errors import NotAllowed

    with pytest.raises(NotAllowed):
        export(built, auditor, "csv")
    assert not Voucher.objects.exclude(status="draft").exists()


# ---------------------------------------------------- acknowledgement ----


def answer(rows, header=("voucher_no", "gl_voucher_no")) -> bytes:
    return ("\ufeff" + csv_text([list(header), *rows])).encode()


def test_the_gls_answer_file_acknowledges_exported_vouchers(built, finance):
    export(built, finance, "kingdee")
    content = answer([[f"MAIN-202612-记-{n:04d}", f"记-{100 + n}"] for n in (1, 2, 3, 4)])
    preview = voucher_ack_preview(file_name="answer.csv", content=content, user=finance)
    assert (preview["row_count"], preview["new"], preview["already"]) == (4, 4, 0)
    assert not Voucher.objects.filter(status="acknowledged").exists()  # a preview records nothing

    ack = voucher_ack_import(file_name="answer.csv", content=content, user=finance)
    assert (ack.row_count, ack.acknowledged, ack.uploaded_by) == (4, 4, finance)
    assert sorted(Voucher.objects.values_list("number", "status", "gl_voucher_no", "acknowledged_from")) == [
        (n, "acknowledged", f"记-{100 + n}", "file answer.csv") for n in (1, 2, 3, 4)
    ]
    with pytest.raises(VoucherAckAlreadyImported):
        voucher_ack_import(file_name="again.csv", content=content, user=finance)
    # The same numbers in another file: already recorded, nothing changes.
    again = voucher_ack_import(file_name="resent.xlsx", content=xlsx([["MAIN-202612-记-0001", "记-101"]]), user=finance)
    assert again.acknowledged == 0


def xlsx(rows) -> bytes:
    wb = Workbook()
    wb.active.append(["业务号", "总账凭证号"])
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_an_answer_file_with_any_problem_is_refused_whole(built, finance):
    export(built, finance, "csv")
    voucher_acknowledge(voucher=Voucher.objects.get(number=4), gl_voucher_no="记-9", user=finance)
    bad = answer(
        [
            ["MAIN-202612-记-0001", "记-1"],  # good
            ["MAIN-202612-记-0099", "记-2"],  # no such voucher
            ["MAIN-202612-记-0004", "记-4"],  # acknowledged as 记-9
            ["MAIN-202612-记-0001", "记-1"],  # twice
            ["MAIN-202612-记-0002", ""],  # no GL number
        ]
    )
    with pytest.raises(VoucherAckInvalid) as refused:
        voucher_ack_import(file_name="bad.csv", content=bad, user=finance)
    # An empty cell is found while reading; the rows are matched with vouchers once every cell is read.
    assert refused.value.problems == ["row 6, column gl_voucher_no: empty or longer than 64 characters"]
    bad = answer(
        [
            ["MAIN-202612-记-0001", "记-1"],
            ["MAIN-202612-记-0099", "记-2"],
            ["MAIN-202612-记-0004", "记-4"],
            ["MAIN-202612-记-0001", "记-1"],
        ]
    )
    with pytest.raises(VoucherAckInvalid) as refused:
        voucher_ack_import(file_name="bad.csv", content=bad, user=finance)
    assert refused.value.problems == [
        "row 3, column voucher_no: no voucher MAIN-202612-记-0099",
        "row 4, column gl_voucher_no: MAIN-202612-记-0004 was acknowledged as GL voucher 记-9, not 记-4",
        "row 5, column voucher_no: MAIN-202612-记-0001 is already on row 2",
    ]
    assert Voucher.objects.filter(status="acknowledged").count() == 1 and VoucherAckImport.objects.count() == 0
    with pytest.raises(VoucherAckInvalid, match="missing column gl_voucher_no"):
        voucher_ack_import(file_name="x.csv", content=answer([["a"]], header=("voucher_no",)), user=finance)


def test_a_draft_cannot_be_acknowledged(built, finance):
    from reports.vouchers.services import VoucherNotExported

    with pytest.raises(VoucherNotExported):
        voucher_acknowledge(voucher=Voucher.objects.get(number=1), gl_voucher_no="记-1", user=finance)
    with pytest.raises(VoucherAckInvalid, match="has not been exported"):
        voucher_ack_import(file_name="a.csv", content=answer([["MAIN-202612-记-0001", "记-1"]]), user=finance)
