"""Batch posting: many independent postings in one call, each with its own
request number, idempotency and outcome."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.kernel.errors import LedgerValidationError
from accounts.models import PostingMode
from postings.models import Entry, Posting
from postings.selectors import account_chain_breaks, identity_totals
from postings.services import Leg, PostingRequest, posting_create, posting_create_batch
from postings.services.buffers import buffers_flush, posting_mode_set

D = Decimal


def transfer(request_no, payer, payee, amount, **kw):
    return PostingRequest(
        request_no=request_no,
        business_type="transfer",
        legs=[Leg.debit(payer.account_no, amount), Leg.credit(payee.account_no, amount)],
        **kw,
    )


@pytest.mark.django_db
def test_each_item_succeeds_or_fails_on_its_own_in_order(ledger):
    a, b, c = ledger.cash(), ledger.cash(), ledger.cash()
    ledger.recharge(a, "100")
    posting_create(
        request_no="old-1",
        business_type="transfer",
        posted_by="trade",
        legs=[Leg.debit(a.account_no, "1"), Leg.credit(b.account_no, "1")],
    )
    items = [
        transfer("t1", a, b, "50"),  # ok
        transfer("t2", b, c, "51"),  # ok only because t1 came first (b had 1)
        transfer("t3", a, c, "60"),  # a has 49 left: insufficient
        transfer("old-1", a, b, "1"),  # replay of an earlier request
        transfer("old-1x", a, b, "1"),  # ok
        PostingRequest("t5", "transfer", [Leg.debit("NOPE", "1"), Leg.credit(b.account_no, "1")]),
        PostingRequest("t6", "no-such-type", [Leg.debit(a.account_no, "1"), Leg.credit(b.account_no, "1")]),
        transfer("t1", a, b, "50"),  # repeated in the batch: same answer
        transfer("t2", a, b, "9"),  # repeated with other content: conflict
        transfer("old-1", a, c, "2"),  # earlier request number, other content: conflict
        PostingRequest("t7", "transfer", [Leg.debit(a.account_no, "1"), Leg.credit(b.account_no, "2")]),
        transfer("t8", a, b, 0.5),  # floats are refused
    ]
    results = posting_create_batch(items, posted_by="trade", source_system="ledger")

    outcome = [
        (r.request_no, r.error.code if r.error else ("replayed" if r.posting.replayed else "created")) for r in results
    ]
    assert outcome == [
        ("t1", "created"),
        ("t2", "created"),
        ("t3", "insufficient_funds"),
        ("old-1", "replayed"),
        ("old-1x", "created"),
        ("t5", "not_found"),
        ("t6", "validation_error"),
        ("t1", "replayed"),
        ("t2", "idempotency_conflict"),
        ("old-1", "idempotency_conflict"),
        ("t7", "unbalanced_posting"),
        ("t8", "invalid_amount"),
    ]
    assert results[7].posting.serial_no == results[0].posting.serial_no
    assert ledger.balance(a) == D("100") - 1 - 50 - 1
    assert ledger.balance(b) == D("1") + 50 - 51 + 1
    assert ledger.balance(c) == D("51")
    assert not Posting.objects.filter(request_no__in=["t3", "t5", "t6", "t7", "t8"]).exists()
    for account in (a, b, c):
        assert account_chain_breaks(account=ledger.fresh(account)) == []
    assert all(t.holds for t in identity_totals())

    again = posting_create_batch(items[:2], posted_by="trade")
    assert [(r.posting.serial_no, r.posting.replayed) for r in again] == [
        (results[0].posting.serial_no, True),
        (results[1].posting.serial_no, True),
    ]


@pytest.mark.django_db
def test_a_batch_takes_a_handful_of_round_trips_not_a_few_per_posting(ledger):
    members = [ledger.cash() for _ in range(20)]
    for m in members:
        ledger.recharge(m, "100")
    fee = ledger.internal("FEE_INCOME")
    items = [
        PostingRequest(f"fee-{i}", "fee", [Leg.debit(members[i % 20].account_no, "1"), Leg.credit(fee.account_no, "1")])
        for i in range(100)
    ]
    with CaptureQueriesContext(connection) as queries:
        results = posting_create_batch(items, posted_by="trade")
    assert all(r.ok for r in results)
    assert len(queries) <= 12, [q["sql"][:80] for q in queries]
    assert ledger.balance(fee) == D("100")
    assert account_chain_breaks(account=ledger.fresh(fee)) == []


@pytest.mark.django_db
def test_a_batch_posts_buffered_legs_as_pending(ledger):
    fee = ledger.internal("FEE_INCOME")
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="ops")
    member = ledger.cash()
    ledger.recharge(member, "10")
    items = [
        PostingRequest(f"bf-{i}", "fee", [Leg.debit(member.account_no, "1"), Leg.credit(fee.account_no, "1")])
        for i in range(12)
    ]
    results = posting_create_batch(items, posted_by="trade")
    assert [r.error.code for r in results if r.error] == ["insufficient_funds", "insufficient_funds"]
    assert Entry.objects.filter(account=fee, account_seq__isnull=True).count() == 10
    assert all(t.holds for t in identity_totals())
    buffers_flush()
    assert (ledger.balance(fee), ledger.balance(member)) == (D("10"), D("0"))


@pytest.mark.django_db
def test_a_batch_larger_than_the_limit_is_refused_whole(ledger, settings):
    settings.POSTING_BATCH_MAX = 3
    a, b = ledger.cash(), ledger.cash()
    ledger.recharge(a, "10")
    with pytest.raises(LedgerValidationError, match="at most 3"):
        posting_create_batch([transfer(f"x{i}", a, b, "1") for i in range(4)], posted_by="trade")
    assert ledger.balance(a) == D("10")


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_with_the_same_requests_post_each_once(ledger):
    from tests.postings.test_concurrency import run_parallel

    payers = [ledger.cash() for _ in range(10)]
    payee = ledger.cash()
    for p in payers:
        ledger.recharge(p, "100")
    items = [transfer(f"cb-{i}", payers[i % 10], payee, "1") for i in range(60)]

    def work(worker):
        mine = items[worker * 10 :] + items[: worker * 10]  # overlapping, in different orders
        return posting_create_batch(mine, posted_by=f"trade{worker}")

    results = run_parallel(4, work)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert all(r.ok for batch in results for r in batch), [r.error for batch in results for r in batch if r.error]
    assert Posting.objects.filter(request_no__startswith="cb-").count() == 60
    assert ledger.balance(payee) == D("60")
    for batch in results:
        by_request = {r.request_no: r.posting.serial_no for r in batch}
        assert by_request == {r.request_no: r.posting.serial_no for r in results[0]}
    assert all(t.holds for t in identity_totals())
