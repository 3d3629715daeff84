"""A worked year of one member's credit line (issue 21, tests): twelve
billing cycles of buying on credit, paying in full, paying the minimum,
paying late, a refund of a billed purchase and a cut of the limit. Every
figure below is worked out by hand from the product's rules (docs/credit.md),
not by the code under test, and the bills, the accruals and the balances
must come out exactly so.

The product: billing day 1, due 9 days later (the 10th), interest 0.05 % a
day on overdue principal, penalty 0.03 % a day on the overdue minimum,
minimum 10 % of the amount due (at least 50.00), no grace. The day's accrual
is booked by the end of the day before, on that day's close: paying k days
late costs k days.
"""

from __future__ import annotations

from datetime import date

import pytest

from accounts.exceptions import InsufficientFunds
from accounts.models import Account
from accounts.services import account_set_credit_limit
from postings.credit.models import CreditAllocation
from postings.credit.selectors import BillStatus, bill_position, credit_summary
from postings.credit.services import bill_repay
from postings.models import Posting
from postings.services import refund_create

from .books import D, accruals_of, bills_of, buy, member, open_on, owed, product, run_until, statement, today

pytestmark = pytest.mark.django_db


def repay(m, amount, request_no):
    return bill_repay(
        credit_account_no=m.credit.account_no,
        cash_account_no=m.cash.account_no,
        amount=amount,
        request_no=request_no,
        posted_by="member-app",
    )


def split(allocation) -> tuple[str, str, str]:
    return (f"{allocation.penalty:.2f}", f"{allocation.interest:.2f}", f"{allocation.principal:.2f}")


def test_a_worked_year(ledger):
    entity = ledger.entity
    open_on(entity, date(2026, 1, 1))
    product(ledger)
    m = member(ledger, limit="3000")

    # January: two purchases. Bill of 1 Feb: 1,500.00 due on 10 Feb, minimum 150.00.
    run_until(entity, date(2026, 1, 5))
    buy(m, "1000.00")
    run_until(entity, date(2026, 1, 20))
    buy(m, "500.00")
    run_until(entity, date(2026, 2, 1))
    (feb,) = bills_of(m.credit)
    assert statement(feb) == {
        "period": "2026-01-01..2026-01-31",
        "due": "2026-02-10",
        "opening": "0.00",
        "purchases": "1500.00",
        "repayments": "0.00",
        "refunds": "0.00",
        "interest": "0.00",
        "penalties": "0.00",
        "closing": "1500.00",
        "minimum_due": "150.00",
    }

    # February: paid in full before the due date; no interest. A purchase of 800.00.
    run_until(entity, date(2026, 2, 8))
    paid = repay(m, "1500.00", "feb-full")
    assert split(paid.allocation) == ("0.00", "0.00", "1500.00")
    assert bill_position(feb).status == BillStatus.PAID
    run_until(entity, date(2026, 2, 15))
    buy(m, "800.00")
    run_until(entity, date(2026, 3, 1))
    mar = bills_of(m.credit)[-1]
    assert statement(mar) == {
        "period": "2026-02-01..2026-02-28",
        "due": "2026-03-10",
        "opening": "1500.00",
        "purchases": "800.00",
        "repayments": "1500.00",
        "refunds": "0.00",
        "interest": "0.00",
        "penalties": "0.00",
        "closing": "800.00",
        "minimum_due": "80.00",
    }
    assert accruals_of(m.credit) == []

    # March: the minimum (80.00) on the due date. No penalty; interest on the
    # 720.00 principal left, from 11 March: 720.00 x 0.0005 = 0.36 a day.
    run_until(entity, date(2026, 3, 10))
    assert split(repay(m, "80.00", "mar-minimum").allocation) == ("0.00", "0.00", "80.00")
    run_until(entity, date(2026, 3, 12))
    buy(m, "200.00")
    run_until(entity, date(2026, 4, 1))
    # (1 April's is booked already, by the end of 31 March: it is on the next bill.)
    march_interest = [a for a in accruals_of(m.credit, "interest") if a.accrual_date.month == 3]
    assert [a.accrual_date.day for a in march_interest] == list(range(11, 32))
    assert {(str(a.base), str(a.amount)) for a in march_interest} == {("720.0000", "0.3600")}
    assert accruals_of(m.credit, "penalty") == []
    apr = bills_of(m.credit)[-1]
    # 21 days x 0.36 = 7.56; closing 800 + 200 - 80 + 7.56 = 927.56; minimum 92.756 -> 92.76.
    assert statement(apr) == {
        "period": "2026-03-01..2026-03-31",
        "due": "2026-04-10",
        "opening": "800.00",
        "purchases": "200.00",
        "repayments": "80.00",
        "refunds": "0.00",
        "interest": "7.56",
        "penalties": "0.00",
        "closing": "927.56",
        "minimum_due": "92.76",
    }
    assert (apr.closing_principal, apr.closing_interest) == (D("920"), D("7.56"))
    assert bill_position(mar, as_of=date(2026, 4, 1)).status == BillStatus.MINIMUM_PAID

    # April: nothing paid by the due date. 1-10 April the March bill is still
    # the latest past due: 0.36 a day. From 11 April the April bill: interest
    # 920.00 x 0.0005 = 0.46, penalty on the unpaid minimum 92.76 x 0.0003 =
    # 0.027828 -> 0.03. Paid on 15 April: five days late, five days of both
    # (the 15th's booked by the end of the 14th).
    run_until(entity, date(2026, 4, 15))
    summary = credit_summary(m.credit)
    assert (summary.position.status, summary.days_overdue) == (BillStatus.OVERDUE, 5)
    late_total = D("927.56") + 10 * D("0.36") + 5 * D("0.46") + 5 * D("0.03")
    assert late_total == D("933.61")
    assert summary.owed.total == late_total == owed(m.credit)
    assert (summary.owed.penalty, summary.owed.interest) == (D("0.15"), D("7.56") + D("3.60") + D("2.30"))
    late = repay(m, "933.61", "apr-late")
    assert split(late.allocation) == ("0.15", "13.46", "920.00")  # penalty, interest, then principal
    run_until(entity, date(2026, 5, 1))
    assert [(a.accrual_date, a.kind, a.amount) for a in accruals_of(m.credit) if a.accrual_date.month == 4][-2:] == [
        (date(2026, 4, 15), "interest", D("0.46")),
        (date(2026, 4, 15), "penalty", D("0.03")),
    ]
    may = bills_of(m.credit)[-1]
    assert statement(may) == {
        "period": "2026-04-01..2026-04-30",
        "due": "2026-05-10",
        "opening": "927.56",
        "purchases": "0.00",
        "repayments": "933.61",
        "refunds": "0.00",
        "interest": "5.90",
        "penalties": "0.15",
        "closing": "0.00",
        "minimum_due": "0.00",
    }

    # May: nothing bought, nothing owed: no bill on 1 June.
    run_until(entity, date(2026, 6, 5))
    assert bills_of(m.credit)[-1] == may
    # June: a purchase of 300.00, billed on 1 July; 100.00 of it refunded on
    # 3 July, 200.00 repaid on 8 July: the bill is paid.
    purchase = buy(m, "300.00")
    run_until(entity, date(2026, 7, 3))
    jul = bills_of(m.credit)[-1]
    assert (statement(jul)["period"], statement(jul)["closing"], statement(jul)["minimum_due"]) == (
        "2026-06-01..2026-06-30",
        "300.00",
        "50.00",  # 10 % is 30.00: the floor
    )
    refund = refund_create(serial_no=purchase.serial_no, request_no="jul-refund", amount="100.00", requested_by="shop")
    run_until(entity, date(2026, 7, 8))
    repay(m, "200.00", "jul-rest")
    assert bill_position(jul).status == BillStatus.PAID
    refund_allocation = CreditAllocation.objects.get(posting=refund.posting)  # recorded by the end of its day
    assert (refund_allocation.kind, split(refund_allocation)) == ("refund", ("0.00", "0.00", "100.00"))

    # August: 900.00 bought; the limit cut from 3,000.00 to 500.00 on 12 August.
    run_until(entity, date(2026, 8, 10))
    buy(m, "900.00")
    run_until(entity, date(2026, 8, 12))
    account_set_credit_limit(account=m.credit, credit_limit="500", reason="risk review", actor="risk-officer")
    with pytest.raises(InsufficientFunds):
        buy(m, "10.00")
    run_until(entity, date(2026, 9, 5))
    repay(m, "400.00", "sep-part")  # 500.00 used, the limit 500.00: still no room
    with pytest.raises(InsufficientFunds):
        buy(m, "0.01")
    run_until(entity, date(2026, 9, 10))
    repay(m, "500.00", "sep-rest")
    run_until(entity, date(2026, 9, 20))
    buy(m, "100.00")  # within the new limit again

    # October to December: bought and paid in full each month.
    for month in (10, 11, 12):
        run_until(entity, date(2026, month, 3))
        repay(m, str(owed(m.credit)), f"pay-{month}")
        buy(m, f"{month * 10}.00")
    run_until(entity, date(2027, 1, 1))

    bills = bills_of(m.credit)
    assert [b.billing_date for b in bills] == [date(2026, month, 1) for month in (2, 3, 4, 5, 7, 8, 9, 10, 11, 12)] + [
        date(2027, 1, 1)
    ]
    assert [statement(b)["closing"] for b in bills] == [
        "1500.00",
        "800.00",
        "927.56",
        "0.00",
        "300.00",
        "0.00",  # July: 300 - 100 refunded - 200 repaid
        "900.00",
        "100.00",  # September: 900 - 400 - 500 + 100
        "100.00",  # October: 100 paid, 100 bought
        "110.00",
        "120.00",
    ]
    aug = bills[5]
    assert (statement(aug)["refunds"], statement(aug)["repayments"]) == ("100.00", "200.00")
    # Every accrual of the year: March 21 x 0.36, April 10 x 0.36 + 5 x 0.46, 5 x 0.03.
    assert sum(a.amount for a in accruals_of(m.credit, "interest")) == D("7.56") + D("3.60") + D("2.30")
    assert sum(a.amount for a in accruals_of(m.credit, "penalty")) == D("0.15")
    income = {
        code: Account.objects.get(account_type__code=code).balance for code in ("INTEREST_INCOME", "PENALTY_INCOME")
    }
    assert income == {"INTEREST_INCOME": D("13.46"), "PENALTY_INCOME": D("0.15")}
    assert owed(m.credit) == D("120.00")
    assert D("100000") - Account.objects.get(pk=m.cash.pk).balance == sum(
        (a.amount for a in CreditAllocation.objects.filter(account=m.credit, kind="repayment")), D("0")
    )
    # Every accrual is one posting, booked once.
    assert Posting.objects.filter(business_type__in=["credit_interest", "credit_penalty"]).count() == len(
        accruals_of(m.credit)
    )
    assert today(entity) == date(2027, 1, 1)
