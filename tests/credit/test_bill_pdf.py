"""A bill as PDF (issue 21 §3), read back with pdftotext as a member's PDF
reader would: the header (member, line, period, billing and due dates), the
summary adding up to the amount due, the minimum, every movement of the
period with its totals; downloaded from the staff bill page by the roles
that read bills, and from the API."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.urls import reverse

from postings.credit.models import Bill
from postings.credit.services import bill_repay
from tests import pdftext
from tests.api.conftest import Caller, client_with_key

from .books import D, buy, ensure_credit_roles, member, open_on, product, run_until
from .test_pages import READS, ROLES, client_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def bill(ledger) -> Bill:
    """The March bill: January's 1,000.00 unpaid, 300.00 repaid and 250.00
    bought in February, 18 days of interest and penalty."""
    ensure_credit_roles()
    open_on(ledger.entity, date(2026, 1, 20))
    product(ledger)
    m = member(ledger)
    buy(m, "1000.00")
    run_until(ledger.entity, date(2026, 2, 5))
    bill_repay(
        credit_account_no=m.credit.account_no, cash_account_no=m.cash.account_no, amount="30.00",
        request_no="part", posted_by="app",
    )  # fmt: skip
    run_until(ledger.entity, date(2026, 2, 15))
    buy(m, "250.00")
    run_until(ledger.entity, date(2026, 3, 2))
    return Bill.objects.get(account=m.credit, billing_date=date(2026, 3, 1))


def figures(pdf: bytes) -> str:
    return pdftext.squeezed(pdf)


def test_the_pdf_states_the_bill(bill):
    from postings.credit.documents import bill_pdf

    text = figures(bill_pdf(bill=bill))
    member = bill.account.member
    assert "Credit bill 信用账单" in text
    assert member.name in text and member.member_no in text and bill.account.account_no in text
    assert "Period 账单周期 2026-02-01 – 2026-02-28" in text
    assert "Billing date 账单日 2026-03-01" in text and "Due date 还款日 2026-03-10" in text
    # Opening 1,000.00; 30.00 repaid on the 5th (short of the minimum 100.00);
    # 250.00 bought on the 15th; interest and penalty from the 11th.
    assert (bill.opening, bill.purchases, bill.repayments) == (D("1000.00"), D("250.00"), D("30.00"))
    for label, value in (
        ("Opening 上期应还", bill.opening),
        ("Purchases 本期消费", bill.purchases),
        ("Repayments 本期还款", -bill.repayments),
        ("Interest 利息", bill.interest),
        ("Penalties 罚息", bill.penalties),
        ("Amount due 应还金额", bill.amount_due),
    ):
        assert f"{label} {value:,.2f}" in text, label
    assert f"Minimum due 最低还款额 CNY {bill.minimum_due:,.2f}" in text
    assert f"Amount due 应还金额 CNY {bill.amount_due:,.2f}" in text
    assert bill.amount_due == bill.opening + bill.purchases - bill.repayments + bill.interest + bill.penalties
    # Every movement: the repayment, the purchase and 28 days' accruals; the
    # totals' debits less credits are the amount due less the opening.
    movements = re.search(r"Totals 合计 (\d+) 笔 ([0-9,.]+) ([0-9,.]+)", text)
    count, debits, credits = int(movements[1]), D(movements[2].replace(",", "")), D(movements[3].replace(",", ""))
    assert count == bill.entry_count
    assert debits - credits == bill.amount_due - bill.opening
    assert credits == bill.repayments


@pytest.mark.parametrize("role", ROLES)
def test_who_downloads_a_bill(role, bill):
    client = client_of(role)
    response = client.get(reverse("postings:credit_bill_pdf", args=[bill.pk]))
    if role not in READS:
        assert response.status_code == 403
        return
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert f'filename="bill-B{bill.pk}-' in response["Content-Disposition"]
    assert f"{bill.amount_due:,.2f}" in figures(response.content)
    page = client.get(reverse("postings:credit_bill", args=[bill.pk])).content.decode()
    assert reverse("postings:credit_bill_pdf", args=[bill.pk]) in page


def test_the_api_serves_the_pdf(bill):
    _, key = client_with_key("member-app", ["read"])
    app = Caller(key, "member-app")
    response = app.http.get(f"/api/v1/bills/{bill.pk}.pdf", **app.headers())
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = figures(response.content)
    assert f"Due date 还款日 {bill.due_date}" in text and f"{bill.amount_due:,.2f}" in text
    assert app.http.get(f"/api/v1/bills/{bill.pk + 999}.pdf", **app.headers()).status_code == 404
    assert app.http.get(f"/api/v1/bills/{bill.pk}.pdf").status_code in (401, 403)
