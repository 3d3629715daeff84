"""Days at the edges (issue 21, tests): a billing day on the 29th-31st in
shorter months, a due date on an accounting day already cut or closed, and
an end of day run again (the accrual is not booked twice)."""

from __future__ import annotations

from datetime import date

import pytest

from postings.credit.models import CreditAccrual
from postings.credit.selectors import BillStatus, bill_position, next_billing_date
from postings.credit.services import bill_repay, bills_issue_due, credit_day_end
from postings.exceptions import DayClosed
from postings.models import Posting
from postings.services import posting_create_by_rule
from postings.services.calendar import day_close, day_cut
from reports.eod.models import EodRun, EodStep, RunStatus
from reports.eod.services import eod_run

from .books import D, accruals_of, bills_of, buy, end_day, member, open_on, owed, product, run_until, statement, today

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "day, after, expected",
    [
        (31, date(2026, 1, 31), date(2026, 2, 28)),
        (31, date(2026, 2, 28), date(2026, 3, 31)),
        (30, date(2026, 1, 30), date(2026, 2, 28)),
        (29, date(2028, 1, 29), date(2028, 2, 29)),  # a leap year
        (29, date(2026, 1, 29), date(2026, 2, 28)),
        (31, date(2026, 4, 29), date(2026, 4, 30)),
        (31, date(2026, 12, 31), date(2027, 1, 31)),
        (1, date(2026, 12, 1), date(2027, 1, 1)),
    ],
)
def test_the_next_billing_date_falls_on_a_shorter_months_last_day(day, after, expected):
    assert next_billing_date(after, day) == expected


def test_billed_on_the_31st_the_periods_follow_the_months_last_days(ledger):
    entity = ledger.entity
    open_on(entity, date(2026, 1, 20))
    product(ledger, billing_day=31)
    m = member(ledger)
    buy(m, "100.00")
    run_until(entity, date(2026, 2, 20))
    buy(m, "50.00")
    run_until(entity, date(2026, 4, 1))
    assert [(statement(b)["period"], str(b.billing_date), statement(b)["due"]) for b in bills_of(m.credit)] == [
        ("2025-12-31..2026-01-30", "2026-01-31", "2026-02-09"),
        ("2026-01-31..2026-02-27", "2026-02-28", "2026-03-09"),
        ("2026-02-28..2026-03-30", "2026-03-31", "2026-04-09"),
    ]
    # Nothing paid. From 10 February the January bill is overdue: interest
    # 100.00 x 0.05 % = 0.05, penalty on its minimum (the floor, 50.00) x
    # 0.03 % = 0.015 -> 0.02 a day; from 10 March the February bill: 150.00 x
    # 0.05 % = 0.075 -> 0.08, and again 0.02.
    jan, feb, mar = (statement(b) for b in bills_of(m.credit))
    assert (jan["closing"], jan["minimum_due"]) == ("100.00", "50.00")
    # 10-27 February, 18 days: 0.90 and 0.36.
    assert (feb["interest"], feb["penalties"], feb["closing"], feb["minimum_due"]) == (
        "0.90",
        "0.36",
        "151.26",
        "50.00",
    )
    # 28 February - 9 March, 10 days at 0.05; 10-30 March, 21 days at 0.08; 31 days of 0.02.
    assert (mar["interest"], mar["penalties"], mar["closing"]) == ("2.18", "0.62", "154.06")


def test_a_due_date_already_cut_makes_a_later_repayment_late_by_a_day(ledger):
    """The due date is 10 February. Cut (日切) before the member pays: nothing
    can be dated the 10th any more; the repayment is the 11th's, and the end
    of the 10th charged the 11th's interest on the 10th's close."""
    entity = ledger.entity
    open_on(entity, date(2026, 1, 1))
    product(ledger)
    m = member(ledger)
    buy(m, "1000.00")
    run_until(entity, date(2026, 2, 10))
    (bill,) = bills_of(m.credit)
    assert bill.due_date == date(2026, 2, 10)
    day_cut(entity=entity, day=date(2026, 2, 10))  # the day cut, before the end of day ran
    with pytest.raises(DayClosed):
        posting_create_by_rule(
            business_type="credit_repayment",
            request_no="too-late-for-the-10th",
            params={"cash_account": m.cash.account_no, "credit_account": m.credit.account_no, "amount": "1000"},
            posted_by="member-app",
            accounting_date=date(2026, 2, 10),
        )
    credit_day_end(entity=entity, day=date(2026, 2, 10))
    day_close(entity=entity, day=date(2026, 2, 10))
    assert today(entity) == date(2026, 2, 11)
    (interest,) = accruals_of(m.credit, "interest")
    assert (interest.accrual_date, interest.base, interest.amount) == (date(2026, 2, 11), D("1000"), D("0.50"))
    # 1000.00 x 0.03 % on the unpaid minimum of 100.00: 0.03
    assert owed(m.credit) == D("1000.50") + D("0.03")
    paid = bill_repay(
        credit_account_no=m.credit.account_no,
        cash_account_no=m.cash.account_no,
        amount="1000.53",
        request_no="pay-11th",
        posted_by="member-app",
    )
    assert (paid.posting.accounting_date, paid.allocation.penalty, paid.allocation.interest) == (
        date(2026, 2, 11),
        D("0.03"),
        D("0.50"),
    )
    run_until(entity, date(2026, 2, 20))
    assert len(accruals_of(m.credit)) == 2  # the 11th's interest and penalty, nothing after
    assert bill_position(bill).status == BillStatus.PAID


def test_a_bill_issued_after_its_due_date_is_charged_for_the_days_it_missed(ledger):
    """The bills' job was down from 1 to 13 February: the January bill is
    issued on the 13th, its due date (the 10th) a day closed long ago. The
    ends of the 10th to the 12th ran without it; the first end of day that
    sees it charges the 11th to the 14th, each on its own day's start."""
    entity = ledger.entity
    open_on(entity, date(2026, 1, 1))
    product(ledger)
    m = member(ledger)
    buy(m, "1000.00")
    run_until(entity, date(2026, 1, 31))
    while today(entity) < date(2026, 2, 13):  # ends of day without the bills' job
        day = today(entity)
        day_cut(entity=entity, day=day)
        credit_day_end(entity=entity, day=day)
        day_close(entity=entity, day=day)
    (bill,) = bills_issue_due()
    assert (bill.billing_date, bill.issued_on, bill.due_date) == (
        date(2026, 2, 1),
        date(2026, 2, 13),
        date(2026, 2, 10),
    )
    end_day(entity)  # the end of the 13th
    assert [(a.accrual_date.day, a.kind, a.amount) for a in accruals_of(m.credit)] == [
        (day, kind, amount)
        for day in (11, 12, 13, 14)
        for kind, amount in (("interest", D("0.50")), ("penalty", D("0.03")))
    ]
    assert {a.posting.accounting_date for a in accruals_of(m.credit)} == {date(2026, 2, 14)}


def test_an_end_of_day_run_again_does_not_book_the_accrual_twice(ledger):
    entity = ledger.entity
    open_on(entity, date(2026, 1, 28))
    product(ledger)
    m = member(ledger)
    buy(m, "1000.00")
    while today(entity) < date(2026, 2, 12):  # the real end of day, every step
        assert eod_run(entity=entity, accounting_date=today(entity), actor="beat").status == RunStatus.DONE
        bills_issue_due()
    booked = len(accruals_of(m.credit))
    owed_before = owed(m.credit)
    first = eod_run(entity=entity, accounting_date=date(2026, 2, 12), actor="beat")
    assert first.status == RunStatus.DONE
    assert len(accruals_of(m.credit)) == booked + 2  # the 13th's interest and penalty
    assert EodStep.objects.get(run=first, name="credit_accrual").message == "2 accruals for 2026-02-13 (0.53)"
    failed = [c.check_name for r in EodRun.objects.all() for c in r.checks.all() if not c.passed]
    assert failed == []  # the accruals and bills leave every end-of-day check passing
    again = eod_run(entity=entity, accounting_date=date(2026, 2, 12), actor="ops")  # a done day is recomputed
    assert again.pk == first.pk and again.status == RunStatus.DONE
    assert len(accruals_of(m.credit)) == booked + 2
    assert owed(m.credit) == owed_before + D("0.53")
    assert EodStep.objects.get(run=again, name="credit_accrual").message == (
        "0 accruals for 2026-02-13 (0.00), 2 booked before"
    )
    assert CreditAccrual.objects.filter(accrual_date=date(2026, 2, 13)).count() == 2
    assert (
        Posting.objects.filter(request_no__startswith="credit-interest-", request_no__endswith="-20260213").count() == 1
    )
    assert EodRun.objects.filter(accounting_date=date(2026, 2, 12)).count() == 1
