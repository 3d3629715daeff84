"""Concurrency with real parallel database connections (one per thread).

Each thread runs the services on its own PostgreSQL connection, so row locks,
unique indexes and deadlock detection are the real ones.
"""

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from accounts.exceptions import InsufficientFunds
from accounts.services import account_change_status
from postings.exceptions import HoldExceeded, HoldNotActive
from postings.models import Entry, Posting
from postings.selectors import account_chain_breaks, identity_totals
from postings.services import Leg, PostingRequest, hold_place, hold_settle, posting_create, posting_create_batch
from postings.services import batch as batch_module

pytestmark = pytest.mark.django_db(transaction=True)


def run_parallel(workers: int, work):
    """Start ``workers`` threads at the same instant; collect results and errors."""
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


def test_many_debits_on_one_account_never_overdraw(ledger):
    """8 workers x 200 debits of 1.00 against 1,000.00: exactly 1,000 succeed."""
    wallet, channel = ledger.cash(), ledger.channel()
    ledger.recharge(wallet, "1000")

    def work(worker):
        outcome = Counter()
        for i in range(200):
            try:
                posting_create(
                    request_no=f"w{worker}-{i}",
                    business_type="withdrawal",
                    posted_by=f"worker{worker}",
                    legs=[Leg.debit(wallet.account_no, "1.00"), Leg.credit(channel.account_no, "1.00")],
                )
                outcome["ok"] += 1
            except InsufficientFunds:
                outcome["refused"] += 1
        return outcome

    results = run_parallel(8, work)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    total = sum(results, Counter())
    assert total == Counter(ok=1000, refused=600)
    w = ledger.fresh(wallet)
    assert w.balance == Decimal("0")
    assert w.entry_seq == 1001  # the recharge plus 1,000 debits, no lost update
    assert account_chain_breaks(account=w) == []
    assert account_chain_breaks(account=ledger.fresh(channel)) == []
    assert all(t.holds for t in identity_totals())


def test_concurrent_duplicates_post_once(ledger):
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "100")

    def work(_):
        return posting_create(
            request_no="dup-1",
            business_type="transfer",
            posted_by="trade",
            legs=[Leg.debit(payer.account_no, "30"), Leg.credit(payee.account_no, "30")],
        )

    results = run_parallel(8, work)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert len({p.serial_no for p in results}) == 1
    assert sorted(p.replayed for p in results) == [False] + [True] * 7
    assert Posting.objects.filter(request_no="dup-1").count() == 1
    assert (ledger.balance(payer), ledger.balance(payee)) == (Decimal("70"), Decimal("30"))


def test_opposite_transfers_do_not_deadlock(ledger):
    """A→B and B→A at once lock the same two rows; id order keeps them from deadlocking."""
    a, b = ledger.cash(), ledger.cash()
    ledger.recharge(a, "1000")
    ledger.recharge(b, "1000")

    def work(worker):
        src, dst = (a, b) if worker % 2 == 0 else (b, a)
        for i in range(150):
            posting_create(
                request_no=f"x{worker}-{i}",
                business_type="transfer",
                posted_by="t",
                legs=[Leg.credit(dst.account_no, "1"), Leg.debit(src.account_no, "1")],
            )
        return "done"

    results = run_parallel(4, work)
    assert results == ["done"] * 4, [r for r in results if r != "done"]
    assert (ledger.balance(a), ledger.balance(b)) == (Decimal("1000"), Decimal("1000"))
    assert Entry.objects.filter(account=a).count() == 601
    for acct in (a, b):
        assert account_chain_breaks(account=ledger.fresh(acct)) == []


def test_racing_settlements_of_one_hold_settle_once(ledger):
    wallet, escrow = ledger.cash(), ledger.internal("ESCROW")
    ledger.recharge(wallet, "100")
    hold = hold_place(account_no=wallet.account_no, amount="100", reason="escrow", request_no="h", actor="t")

    def work(worker):
        return hold_settle(
            hold_id=hold.id,
            request_no=f"settle-{worker}",
            amount="100",
            business_type="guarantee_settlement",
            actor=f"w{worker}",
            counter_account_no=escrow.account_no,
        )

    results = run_parallel(6, work)
    settled = [r for r in results if isinstance(r, Posting)]
    refused = [r for r in results if isinstance(r, (HoldNotActive, HoldExceeded))]
    assert (len(settled), len(refused)) == (1, 5), results
    w = ledger.fresh(wallet)
    assert (w.balance, w.frozen) == (Decimal("0"), Decimal("0"))
    assert ledger.balance(escrow) == Decimal("100")


def test_concurrent_duplicates_that_would_overdraw_answer_with_the_original(ledger):
    """20 identical requests for 60 of 100: the first posts; the others, even
    those that waited for its lock and then found the balance short, answer
    with that posting, not with insufficient funds for a payment that was made."""
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "100")

    def work(_):
        return posting_create(
            request_no="dup-60",
            business_type="transfer",
            posted_by="trade",
            legs=[Leg.debit(payer.account_no, "60"), Leg.credit(payee.account_no, "60")],
        )

    results = run_parallel(20, work)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert len({p.serial_no for p in results}) == 1
    assert sum(not p.replayed for p in results) == 1
    assert ledger.balance(payer) == Decimal("40")


def test_concurrent_identical_batches_answer_with_the_original_postings(ledger):
    from postings.services import PostingRequest, posting_create_batch

    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "100")
    items = [
        PostingRequest("bdup-60", "transfer", [Leg.debit(payer.account_no, "60"), Leg.credit(payee.account_no, "60")])
    ]

    results = run_parallel(8, lambda _: posting_create_batch(items, posted_by="trade"))
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert all(batch[0].ok for batch in results), [batch[0].error for batch in results]
    assert len({batch[0].posting.serial_no for batch in results}) == 1
    assert ledger.balance(payer) == Decimal("40")


def test_batches_with_refused_items_race_without_loss_or_double_posting(ledger, monkeypatch):
    """6 threads post 8 batches of 10 transfers each among four wallets of
    50.00, with items to a closed account and debits that may come up short:
    the one call stops at each refused item, which takes the full path alone,
    and the next call goes on. Every item is posted once or refused with its
    own error, nothing is lost or doubled, and the books hold."""
    import random

    wallets = [ledger.cash() for _ in range(4)]
    for w in wallets:
        ledger.recharge(w, "50")
    closed = ledger.cash()
    account_change_status(account=closed, to_status="closed", reason="left", actor="ops")
    stops = Counter()
    original = batch_module._batch_in_one_call

    def counting(*args, **kw):
        stopped_at = original(*args, **kw)
        stops["stopped" if stopped_at is not None else "all"] += 1
        return stopped_at

    monkeypatch.setattr(batch_module, "_batch_in_one_call", counting)
    monkeypatch.setattr(batch_module, "_BATCH_RUN_MIN", 0)  # a new call after every stop: the most calls to race

    def work(worker):
        rng = random.Random(worker)
        answers = []
        for b in range(8):
            items = []
            for i in range(10):
                payer, payee = rng.sample(wallets, 2)
                if i == 7:
                    payee = closed
                amount = f"{rng.randint(1, 30)}.00"
                legs = [Leg.debit(payer.account_no, amount), Leg.credit(payee.account_no, amount)]
                items.append(PostingRequest(f"race-{worker}-{b}-{i}", "transfer", legs))
            for item, result in zip(items, posting_create_batch(items, posted_by="test")):
                answers.append((item, result))
        return answers

    results = run_parallel(6, work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    answers = [a for worker in results for a in worker]
    assert len(answers) == 6 * 8 * 10
    codes = Counter(result.error.code if result.error else "ok" for _, result in answers)
    assert set(codes) <= {"ok", "insufficient_funds", "account_closed"}, codes
    assert codes["account_closed"] == 6 * 8 and codes["ok"] > 0 and codes["insufficient_funds"] > 0, codes
    assert stops["stopped"] >= 6 * 8  # every batch has its closed-account item

    posted = {p.request_no: p for p in Posting.objects.filter(request_no__startswith="race-")}
    assert set(posted) == {item.request_no for item, result in answers if result.ok}
    for item, result in answers:
        if result.ok:
            assert result.posting.serial_no == posted[item.request_no].serial_no and not result.posting.replayed
    assert Entry.objects.filter(posting__request_no__startswith="race-").count() == 2 * len(posted)
    balances = [ledger.balance(w) for w in wallets]
    assert sum(balances) == Decimal("200.00") and min(balances) >= 0
    for account in [*wallets, closed]:
        assert account_chain_breaks(account=ledger.fresh(account)) == []
    assert all(t.holds for t in identity_totals())
