"""Repayments racing each other on one credit line, with real threads (one
database connection each): each repayment is allocated against what the
ones before it left, nothing is paid twice, a duplicate request is one
repayment, and the splits add up to what was paid."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection

from accounts.exceptions import InsufficientFunds
from postings.credit.models import CreditAllocation
from postings.credit.selectors import owed_now, product_for
from postings.credit.services import bill_repay
from postings.models import Posting

from .books import D, buy, member, open_on, owed, product, run_until

pytestmark = pytest.mark.django_db(transaction=True)


def run_parallel(workers: int, work):
    barrier = threading.Barrier(workers)
    results: list = [None] * workers

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return results


def test_racing_repayments_are_each_allocated_once_against_what_is_left(ledger):
    open_on(ledger.entity, date(2026, 1, 1))
    product(ledger)
    m = member(ledger, limit="2000")
    buy(m, "1000.00")
    run_until(ledger.entity, date(2026, 2, 15))  # overdue since the 11th: 5 days of 0.50 and 0.03
    assert owed(m.credit) == D("1002.65")

    def work(i):
        # Workers 0-5 each pay 200.00 (six of them: 1,200.00 > 1,002.65 owed),
        # workers 6-7 send the same request as worker 0.
        request_no = "pay-0" if i >= 6 else f"pay-{i}"
        try:
            return bill_repay(
                credit_account_no=m.credit.account_no,
                cash_account_no=m.cash.account_no,
                amount="200.00",
                request_no=request_no,
                posted_by=f"worker{i}",
            )
        except InsufficientFunds as exc:
            return exc

    results = run_parallel(8, work)
    paid = [r for r in results if not isinstance(r, Exception) and not r.replayed]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    replays = [r for r in results if not isinstance(r, Exception) and r.replayed]
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, InsufficientFunds)]
    assert unexpected == []
    assert (len(paid), len(refused)) == (5, 1)  # the sixth 200.00 would repay beyond what is owed
    assert len(paid) + len(replays) + len(refused) == 8
    assert {r.posting.pk for r in replays} <= {r.posting.pk for r in paid}
    assert Posting.objects.filter(business_type="credit_repayment").count() == 5

    allocations = list(CreditAllocation.objects.filter(account=m.credit).order_by("account_seq"))
    assert len(allocations) == 5
    assert sum(a.penalty for a in allocations) == D("0.15")
    assert sum(a.interest for a in allocations) == D("2.50")
    assert sum(a.principal for a in allocations) == D("997.35")
    # The first in the chain paid the penalty and the interest first.
    assert (allocations[0].penalty, allocations[0].interest, allocations[0].principal) == (
        D("0.15"),
        D("2.50"),
        D("197.35"),
    )
    assert owed(m.credit) == D("2.65")
    assert owed_now(m.credit, product_for(m.credit)).owed.principal == D("2.65")
