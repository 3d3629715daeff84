"""What the database refuses on vouchers, even to a process that bypasses
the application (reports/sql/vouchers.sql): SQL committed as the runtime
role, as a compromised web process would (docs/operations.md)."""

from __future__ import annotations

import psycopg
import pytest

from reports.vouchers.build import vouchers_build
from reports.vouchers.models import Voucher, VoucherExport, VoucherLine
from reports.vouchers.services import voucher_acknowledge, vouchers_export

from .reporting import ensure_report_roles, make_books, staff_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def built(ledger):
    """The open day's vouchers (a recharge and a transfer), committed."""
    books = make_books(ledger)
    vouchers_build(entity=ledger.entity, accounting_date=books.day)
    return books


def refused(run, sql, params=(), *, code: str) -> str:
    with pytest.raises(psycopg.Error) as caught:
        run(sql, params)
    assert caught.value.sqlstate == code, caught.value
    return str(caught.value)


def new_voucher_sql(voucher: Voucher, number: int) -> str:
    return (
        "INSERT INTO reports_voucher (entity_id, accounting_date, period, number, word, summary, kind, group_key,"
        " currency, status, created_at, gl_voucher_no, acknowledged_by, acknowledged_from)"
        f" VALUES ({voucher.entity_id}, '{voucher.accounting_date}', '{voucher.period}', {number}, '记', 'forged',"
        " 'blue', 'forged', 'CNY', 'draft', now(), '', '', '') RETURNING id"
    )


LINE = (
    "INSERT INTO reports_voucherline (voucher_id, line_no, subject_code, direction, currency, amount,"
    " business_type, customer, member, merchant, channel, bank_account, department, entry_count,"
    " first_entry_serial, last_entry_serial) VALUES (%s, %s, %s, %s, 'CNY', %s, 'adjustment', '', '', '', '', '',"
    " '', 1, 1, 1)"
)


def test_an_unbalanced_voucher_is_refused_at_commit(built, runtime_sql):
    voucher = Voucher.objects.first()
    conn = runtime_sql.connection
    with pytest.raises(psycopg.errors.CheckViolation, match="does not balance in CNY"):
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(new_voucher_sql(voucher, 900))
            (forged,) = cursor.fetchone()
            cursor.execute(LINE, (forged, 1, "1002", "D", "100.00"))
            cursor.execute(LINE, (forged, 2, "2241", "C", "99.00"))
    with pytest.raises(psycopg.errors.CheckViolation, match="at least two"):
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(new_voucher_sql(voucher, 901))
            (forged,) = cursor.fetchone()
            cursor.execute(LINE, (forged, 1, "1002", "D", "0.00"))
    # Balanced, it goes in.
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(new_voucher_sql(voucher, 902))
        (forged,) = cursor.fetchone()
        cursor.execute(LINE, (forged, 1, "1002", "D", "100.00"))
        cursor.execute(LINE, (forged, 2, "2241", "C", "100.00"))
    assert Voucher.objects.filter(number=902).exists() and not Voucher.objects.filter(number__in=(900, 901)).exists()


def test_a_drafts_line_changed_out_of_balance_is_refused(built, runtime_sql):
    line = VoucherLine.objects.order_by("id").first()
    refused(runtime_sql, "UPDATE reports_voucherline SET amount = amount + 1 WHERE id = %s", [line.pk], code="23514")
    refused(runtime_sql, "DELETE FROM reports_voucherline WHERE id = %s", [line.pk], code="23514")
    assert VoucherLine.objects.get(pk=line.pk).amount == line.amount


def test_an_exported_voucher_is_never_changed_but_acknowledged(built, runtime_sql):
    ensure_report_roles()
    finance = staff_user("finance", "Finance staff")
    books = built
    vouchers_export(entity=books.ledger.entity, date_from=books.day, date_to=books.day, format="csv", user=finance)
    voucher = Voucher.objects.order_by("number").first()
    line = voucher.lines.order_by("line_no").first()

    # Even a change that keeps it balanced.
    refused(
        runtime_sql,
        "UPDATE reports_voucherline SET subject_code = '9999' WHERE voucher_id = %s",
        [voucher.pk],
        code="23001",
    )
    refused(runtime_sql, "UPDATE reports_voucher SET summary = 'edited' WHERE id = %s", [voucher.pk], code="23001")
    refused(runtime_sql, "UPDATE reports_voucher SET status = 'draft' WHERE id = %s", [voucher.pk], code="23001")
    refused(runtime_sql, "DELETE FROM reports_voucherline WHERE id = %s", [line.pk], code="23001")
    refused(runtime_sql, "DELETE FROM reports_voucher WHERE id = %s", [voucher.pk], code="23001")
    refused(
        runtime_sql,
        LINE,
        (voucher.pk, 99, "1002", "D", "0.00"),
        code="23001",
    )
    refused(runtime_sql, "UPDATE reports_voucherexport SET file_name = 'x'", code="23001")
    refused(runtime_sql, "DELETE FROM reports_voucherexport_vouchers", code="23001")
    # Acknowledged without a GL number: refused too.
    refused(runtime_sql, "UPDATE reports_voucher SET status = 'acknowledged' WHERE id = %s", [voucher.pk], code="23001")

    # The one change allowed: the GL's number.
    voucher_acknowledge(voucher=voucher, gl_voucher_no="记-0017", user=finance)
    voucher.refresh_from_db()
    assert (voucher.status, voucher.gl_voucher_no) == ("acknowledged", "记-0017")
    # ... once.
    refused(
        runtime_sql, "UPDATE reports_voucher SET gl_voucher_no = '记-0018' WHERE id = %s", [voucher.pk], code="23001"
    )
    assert VoucherExport.objects.count() == 1
    assert voucher.lines.get(line_no=1).subject_code == line.subject_code


def test_a_draft_is_exported_before_it_is_acknowledged(built, runtime_sql):
    voucher = Voucher.objects.first()
    refused(
        runtime_sql,
        "UPDATE reports_voucher SET status = 'acknowledged', gl_voucher_no = '1' WHERE id = %s",
        [voucher.pk],
        code="23001",
    )
