"""The credit product's jobs through a real Celery worker on Redis: the
bills' beat job issues a bill once however often it is delivered, and the
end of day's job books the next day's interest and penalty once."""

from __future__ import annotations

from datetime import date

import pytest

from postings.credit.models import Bill, CreditAccrual

from .books import D, buy, member, open_on, product

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_bills_and_accruals_on_the_worker(ledger, celery_worker_on_redis):
    run = celery_worker_on_redis
    open_on(ledger.entity, date(2026, 1, 30))
    product(ledger, due_days=1)
    m = member(ledger)
    buy(m, "1000.00")
    for day in ("2026-01-30", "2026-01-31"):
        assert "done" in run("reports.tasks.eod_run_day", "MAIN", day)

    (issued,) = run("postings.credit.tasks.bills_issue_due")
    bill = Bill.objects.get()
    assert issued == f"B{bill.pk} {m.credit.account_no} 1000.00"
    assert (bill.period_start, bill.period_end, bill.due_date) == (
        date(2026, 1, 1),
        date(2026, 1, 31),
        date(2026, 2, 2),
    )
    assert run("postings.credit.tasks.bills_issue_due") == []  # delivered again: one bill

    for day in ("2026-02-01", "2026-02-02", "2026-02-02"):  # the 2nd's end of day delivered twice
        assert "done" in run("reports.tasks.eod_run_day", "MAIN", day)
    accruals = list(CreditAccrual.objects.order_by("kind").values_list("accrual_date", "kind", "amount"))
    assert accruals == [(date(2026, 2, 3), "interest", D("0.50")), (date(2026, 2, 3), "penalty", D("0.03"))]


def test_due_date_repayment_on_the_worker(ledger, celery_worker_on_redis):
    from postings.agreements.models import DebitAttempt
    from postings.agreements.services import agreement_sign
    from postings.credit.models import CreditAllocation

    from .books import owed, run_until

    run = celery_worker_on_redis
    open_on(ledger.entity, date(2026, 1, 20))
    product(ledger)
    m = member(ledger)
    buy(m, "1000.00")
    run_until(ledger.entity, date(2026, 2, 10))
    agreement_sign(
        agreement_no="AG-W", payer_account_no=m.cash.account_no, payee_account_no=m.credit.account_no,
        purpose="credit_repayment", repay="minimum", max_per_debit="2000.00", max_per_period="2000.00",
        request_no="sign-w", actor="credit-app",
    )  # fmt: skip
    bill = Bill.objects.get()

    (done,) = run("postings.credit.tasks.bills_autorepay_due")
    assert done == f"B{bill.pk} bill-{bill.pk}-due taken 100.00/100.00"
    assert run("postings.credit.tasks.bills_autorepay_due") == [done]  # delivered again: the same debit
    attempt = DebitAttempt.objects.get()
    assert CreditAllocation.objects.get(posting=attempt.posting).principal == D("100.00")
    assert owed(m.credit) == D("900.00")
