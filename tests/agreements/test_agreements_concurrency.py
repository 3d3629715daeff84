"""Agreement debits racing each other and a manual repayment of the same
wallet, in real threads with their own connections: nothing is taken twice
(one posting per request number, a duplicate answered with the first), the
agreement's limit per period is never passed, the wallet never goes below
zero, and every attempt is recorded."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from postings.agreements.models import DebitAttempt
from postings.models import Posting
from postings.selectors import account_chain_breaks, identity_totals
from postings.services import posting_create_by_rule
from tests.postings.test_concurrency import run_parallel

from .books import sign

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


def _outcome(call):
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001 - counted by the test
        return getattr(exc, "code", repr(exc))
    return "replayed" if getattr(result, "replayed", False) else "done"


def test_twelve_debits_at_once_take_no_more_than_the_periods_limit(ledger):
    m = sign(ledger, funds="5000.00", max_per_debit="100.00", max_per_period="300.00")
    results = run_parallel(12, lambda i: _outcome(lambda: m.debit("100.00", f"r-{i}")))
    assert Counter(results) == Counter(done=3, agreement_limit_exceeded=9), results
    assert ledger.balance(m.payer) == D("4700.00") and ledger.balance(m.payee) == D("300.00")
    taken = DebitAttempt.objects.filter(agreement=m.agreement, posting__isnull=False)
    assert taken.count() == 3 and sum(t.amount_taken for t in taken) == D("300.00")
    assert DebitAttempt.objects.filter(agreement=m.agreement, outcome="refused").count() == 9


def test_debits_racing_each_other_and_a_manual_repayment_take_nothing_twice(ledger):
    """A member owes 1,000.00 on a credit line and has 500.00 in the wallet;
    the lender's agreement repays 100.00 a debit, at most 300.00 a month.
    Ten threads at once: eight agreement debits under six request numbers
    (two sent twice) and two repayments of 150.00 the member makes by hand."""
    credit, shop = ledger.credit(limit="2000"), ledger.cash()
    posting_create_by_rule(
        business_type="credit_purchase",
        request_no="buy",
        params={"credit_account": credit.account_no, "merchant_account": shop.account_no, "amount": "1000.00"},
        posted_by="t",
    )
    m = sign(ledger, payee=credit, funds="500.00", max_per_debit="100.00", max_per_period="300.00")

    def work(i):
        if i >= 8:
            return _outcome(
                lambda: posting_create_by_rule(
                    business_type="credit_repayment",
                    request_no=f"manual-{i}",
                    params={
                        "cash_account": m.payer.account_no,
                        "credit_account": credit.account_no,
                        "amount": "150.00",
                    },
                    posted_by="member",
                )
            )
        return _outcome(lambda: m.debit("100.00", f"auto-{i % 6}"))

    results = run_parallel(10, work)
    debits, manual = results[:8], results[8:]
    assert set(debits) <= {"done", "replayed", "agreement_limit_exceeded", "insufficient_funds"}, debits
    assert set(manual) <= {"done", "insufficient_funds"}, manual

    postings = Posting.objects.filter(business_type="agreement_debit")
    per_request = Counter(postings.values_list("request_no", flat=True))
    assert all(n == 1 for n in per_request.values()), per_request  # nothing taken twice
    k, j = postings.count(), manual.count("done")
    assert k <= 3  # the month's limit
    assert debits.count("done") == k
    # Each duplicate is the first one's answer or a refusal of its own; never a second debit.
    assert ledger.balance(m.payer) == D("500.00") - D("100.00") * k - D("150.00") * j >= 0
    assert ledger.fresh(m.payer).frozen == 0
    assert ledger.balance(credit) == D("1000.00") - D("100.00") * k - D("150.00") * j
    attempts = DebitAttempt.objects.filter(agreement=m.agreement)
    assert attempts.filter(posting__isnull=False).count() == k
    assert attempts.filter(outcome="refused").count() == debits.count("agreement_limit_exceeded") + debits.count(
        "insufficient_funds"
    )
    assert all(t.holds for t in identity_totals())
    for account in (m.payer, credit):
        assert account_chain_breaks(account=ledger.fresh(account)) == []
