"""Repayment on the due date (issue 21 §2): an active credit repayment
agreement (代扣协议, purpose credit_repayment, payee the credit line) repays
the bill from the member's cash account, all of it or the minimum as the
member chose, allocated penalty, interest, principal; once per day however
often the job runs, nothing when the bill was paid early, what funds allow
when they are short (partial per the agreement, the rest retried), and
nothing twice when the member repays at the same moment."""

from __future__ import annotations

import threading
from datetime import date

import psycopg
import pytest
from django.db import connection

from accounts.exceptions import InsufficientFunds
from accounts.kernel.errors import LedgerValidationError
from postings.agreements.models import DebitAttempt
from postings.agreements.services import agreement_sign
from postings.credit.models import Bill, CreditAllocation
from postings.credit.selectors import bill_position
from postings.credit.services import bill_repay, bills_autorepay_due
from postings.models import Posting

from .books import D, buy, member, open_on, owed, product, run_until

pytestmark = pytest.mark.django_db


def sign(ledger, m, *, repay=None, allow_partial=False, purpose="credit_repayment", **terms):
    return agreement_sign(
        agreement_no=ledger.next_request("AG"),
        payer_account_no=m.cash.account_no,
        payee_account_no=m.credit.account_no,
        purpose=purpose,
        max_per_debit=terms.pop("max_per_debit", "5000.00"),
        max_per_period=terms.pop("max_per_period", "10000.00"),
        request_no=ledger.next_request("sign"),
        actor="credit-app",
        allow_partial=allow_partial,
        repay=repay,
        **terms,
    )


def overdue_bill(ledger, **member_kw):
    """1,000.00 bought in January, nothing paid: the March bill (due 10 March)
    carries February's interest and penalty; open day 10 March."""
    open_on(ledger.entity, date(2026, 1, 20))
    product(ledger)
    m = member(ledger, **member_kw)
    buy(m, "1000.00")
    run_until(ledger.entity, date(2026, 3, 10))
    bill = Bill.objects.get(account=m.credit, billing_date=date(2026, 3, 1))
    # 18 days (11-28 Feb) of 1,000.00 x 0.05 % and 100.00 x 0.03 %.
    assert (bill.amount_due, bill.minimum_due, bill.interest, bill.penalties) == (
        D("1009.54"),
        D("100.95"),
        D("9.00"),
        D("0.54"),
    )
    assert bill.due_date == date(2026, 3, 10)
    return m, bill


def split(attempt) -> tuple:
    a = CreditAllocation.objects.get(posting=attempt.posting)
    return a.penalty, a.interest, a.principal


def test_full_repayment_on_the_due_date_allocated_and_taken_once(ledger):
    m, bill = overdue_bill(ledger)
    agreement = sign(ledger, m, repay="full")
    before = owed(m.credit)  # the bill plus 1-10 March's accruals (next bill's)
    assert before == D("1009.54") + 10 * D("0.50") + 10 * D("0.03")

    (attempt,) = bills_autorepay_due()
    assert attempt.request_no == f"bill-{bill.pk}-due"
    assert (attempt.outcome, attempt.amount_taken, attempt.agreement_id) == ("taken", D("1009.54"), agreement.pk)
    assert attempt.posting.accounting_date == date(2026, 3, 10)
    # Penalty first (Feb 0.54 + March 0.30), then interest (9.00 + 5.00), the rest principal.
    assert split(attempt) == (D("0.84"), D("14.00"), D("994.70"))
    assert bill_position(bill).status == "paid"
    assert owed(m.credit) == before - D("1009.54")

    (again,) = bills_autorepay_due()  # the job run again the same day
    assert again.pk == attempt.pk and again.replayed
    assert Posting.objects.filter(business_type="agreement_debit").count() == 1
    assert owed(m.credit) == before - D("1009.54")


def test_minimum_repayment_on_the_due_date(ledger):
    m, bill = overdue_bill(ledger)
    agreement = sign(ledger, m, repay="minimum")
    assert agreement.repay == "minimum"

    (attempt,) = bills_autorepay_due()
    assert (attempt.outcome, attempt.amount_taken) == ("taken", D("100.95"))
    assert split(attempt) == (D("0.84"), D("14.00"), D("86.11"))
    assert bill_position(bill).status == "not_due"  # the due date still open; minimum paid
    assert bill_position(bill).minimum_due_left == 0

    run_until(ledger.entity, date(2026, 3, 11))  # the next day is a retry day: nothing left of the minimum
    assert bills_autorepay_due() == []
    assert DebitAttempt.objects.count() == 1


def test_a_bill_paid_early_is_not_debited(ledger):
    open_on(ledger.entity, date(2026, 1, 20))
    product(ledger)
    m = member(ledger)
    buy(m, "600.00")
    run_until(ledger.entity, date(2026, 2, 5))
    sign(ledger, m, repay="full")
    bill_repay(
        credit_account_no=m.credit.account_no, cash_account_no=m.cash.account_no, amount="600.00",
        request_no="early", posted_by="app",
    )  # fmt: skip
    run_until(ledger.entity, date(2026, 2, 10))
    bill = Bill.objects.get(account=m.credit)
    assert bill.due_date == date(2026, 2, 10)
    assert bills_autorepay_due() == []
    assert not DebitAttempt.objects.exists()
    assert owed(m.credit) == 0


def test_short_of_funds_takes_what_is_there_and_retries_the_rest(ledger):
    open_on(ledger.entity, date(2026, 1, 20))
    product(ledger)
    m = member(ledger, cash="300.00")
    buy(m, "1000.00")
    run_until(ledger.entity, date(2026, 2, 10))
    bill = Bill.objects.get(account=m.credit)
    sign(ledger, m, repay="full", allow_partial=True, retry_every_days=1, max_retries=3)

    (attempt,) = bills_autorepay_due()
    assert (attempt.outcome, attempt.amount_asked, attempt.amount_taken) == ("partial", D("1000.00"), D("300.00"))
    assert split(attempt) == (D("0"), D("0"), D("300.00"))
    assert bills_autorepay_due()[0].pk == attempt.pk  # run again: the day's debit, nothing more

    ledger.recharge(m.cash, "2000.00")
    run_until(ledger.entity, date(2026, 2, 11))  # one day late: 700.00 left, 0.35 interest (next bill's)
    (retry,) = bills_autorepay_due()
    assert retry.request_no == f"bill-{bill.pk}-due-r1"
    assert (retry.outcome, retry.amount_taken) == ("taken", D("700.00"))
    assert bill_position(bill).status == "paid"


def test_short_of_funds_without_partial_takes_nothing_and_is_retried(ledger):
    open_on(ledger.entity, date(2026, 1, 20))
    product(ledger)
    m = member(ledger, cash="50.00")
    buy(m, "1000.00")
    run_until(ledger.entity, date(2026, 2, 10))
    sign(ledger, m, repay="minimum", retry_every_days=2, max_retries=1)

    (refused,) = bills_autorepay_due()
    assert (refused.outcome, refused.amount_asked, refused.code) == ("refused", D("100.00"), "insufficient_funds")
    assert owed(m.credit) == D("1000.00")
    run_until(ledger.entity, date(2026, 2, 11))
    assert bills_autorepay_due() == []  # not a retry day (every 2 days)
    run_until(ledger.entity, date(2026, 2, 12))
    (retry,) = bills_autorepay_due()  # still short: refused again, nothing taken
    assert (retry.outcome, retry.amount_taken) == ("refused", D("0"))
    run_until(ledger.entity, date(2026, 2, 14))
    assert bills_autorepay_due() == []  # out of retries
    assert owed(m.credit) > D("1000.00")  # interest runs: the member owes it


def test_only_a_credit_repayment_agreement_chooses_what_it_repays(ledger):
    open_on(ledger.entity, date(2026, 1, 20))
    product(ledger)
    m = member(ledger)
    assert sign(ledger, m).repay == "full"  # the default
    with pytest.raises(LedgerValidationError):
        sign(ledger, m, purpose="membership_fee", repay="minimum")
    with pytest.raises(LedgerValidationError):
        sign(ledger, m, repay="everything")


def test_what_an_agreement_repays_never_changes_in_the_database(ledger, runtime_sql):
    open_on(ledger.entity, date(2026, 1, 20))
    product(ledger)
    agreement = sign(ledger, member(ledger), repay="full")
    with pytest.raises(psycopg.Error, match="fixed when signed"):
        runtime_sql("UPDATE agreements_agreement SET repay = 'minimum' WHERE id = %s", [agreement.pk])


@pytest.mark.django_db(transaction=True)
def test_due_date_job_racing_a_manual_repayment_repays_once(ledger):
    m, bill = overdue_bill(ledger, limit="5000")
    sign(ledger, m, repay="full")
    owed_before = owed(m.credit)
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def job(i):
        try:
            barrier.wait()
            if i == 0:
                results[i] = bills_autorepay_due()
            else:
                results[i] = bill_repay(
                    credit_account_no=m.credit.account_no, cash_account_no=m.cash.account_no,
                    amount="1009.54", request_no="by-hand", posted_by="app",
                )  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=job, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    assert not isinstance(results[0], BaseException), results[0]
    assert not isinstance(results[1], BaseException) or isinstance(results[1], InsufficientFunds), results[1]

    repaid = owed_before - owed(m.credit)
    # The bill paid exactly once: by the job or by hand, whichever locked first;
    # the other found it paid (the job takes nothing) or nothing of it left.
    assert bill_position(bill).amount_due_left == 0
    taken = sum(a.amount_taken for a in DebitAttempt.objects.all())
    by_hand = D("1009.54") if Posting.objects.filter(request_no="by-hand").exists() else D("0")
    assert repaid == taken + by_hand
    assert repaid <= D("1009.54") + (owed_before - D("1009.54"))  # never beyond what was owed
    assert CreditAllocation.objects.filter(account=m.credit, posting__accounting_date=date(2026, 3, 10)).count() == (
        (taken > 0) + (by_hand > 0)
    )


def test_the_member_chooses_the_minimum_through_the_api(ledger):
    from tests.api.conftest import Caller, client_with_key, error_of

    open_on(ledger.entity, date(2026, 1, 20))
    product(ledger)
    m = member(ledger)
    _, key = client_with_key("credit-app", ["read", "post"])
    app = Caller(key, "credit-app")
    body = {
        "request_no": "sign-api", "agreement_no": "AG-API", "payer_account_no": m.cash.account_no,
        "payee_account_no": m.credit.account_no, "purpose": "credit_repayment",
        "max_per_debit": "5000.00", "max_per_period": "10000.00", "repay": "minimum",
    }  # fmt: skip
    r = app.post("agreements", body)
    assert r.status_code == 201, r.content
    assert r.json()["repay"] == "minimum"
    again = app.post("agreements", {**body, "repay": "full"})
    error_of(again, 409, "idempotency_conflict")  # the same request with another choice
    wrong = {**body, "request_no": "sign-api-2", "agreement_no": "AG-API-2", "purpose": "membership"}
    error_of(app.post("agreements", wrong), 400, "validation_error")
