"""Races, with real threads on real PostgreSQL connections (one per thread).

Every test repeats its race for several rounds so that the two sides really
overlap. Each test names the lock it depends on and what would go wrong
without it. This was checked by running this file with the locks patched
out at start-up (no code changed): without the row lock of
``withdrawals.services._locked`` the cashier, pay-vs-cancel and reviewer
races fail; without ``postings.services.locking._lock_accounts`` the
withdrawal-vs-transfer race fails; the double callback fails only with both
the withdrawal and the instruction lock gone (either one serializes it).
The duplicate-request race rests on unique keys, not on a lock.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from accounts.exceptions import InsufficientFunds
from accounts.models import Account
from postings.models import ACTIVE_HOLD_STATUSES, Hold, Posting
from postings.selectors import account_chain_breaks
from postings.services import Leg, posting_create
from withdrawals.exceptions import IllegalTransition, SegregationOfDuties
from withdrawals.models import Approval, InstructionStatus, PayoutInstruction, Status, Withdrawal
from withdrawals.services import (
    payout_answer_record,
    payout_cancel,
    payout_send,
    withdrawal_approve,
    withdrawal_request,
)

from .books import history, identity_holds
from .conftest import CARD_OK, CARD_SILENT_PAID

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
ROUNDS = 6


def run_parallel(work, *jobs):
    """Run the jobs in threads released at the same instant; results or exceptions, in order."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def target(i):
        try:
            barrier.wait()
            results[i] = work(jobs[i])
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return results


def approved(desk, amount="100.00"):
    w = desk.request(amount)  # committed; the auto review ran after the commit
    if desk.fresh(w).status == Status.IN_REVIEW:  # the card's first payout: the new-card rule fired
        withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"))
    w = desk.fresh(w)
    assert w.status == Status.APPROVED
    return w


def test_two_cashiers_paying_one_request_pay_it_once(desk):
    """Both cashiers press "pay" on the same approved 100.00 (fee 2.00).

    Relies on: payout_send locks the withdrawal row before it checks the
    status and counts the attempts. Without that lock both read "approved"
    and attempt 1, and the second insert runs into the instruction's unique
    keys: a raw IntegrityError instead of IllegalTransition, and without the
    keys the bank would be asked to pay twice."""
    cashiers = [desk.user("Cashier", "Cashier Zhou"), desk.user("Cashier", "Cashier Wu")]
    for _ in range(ROUNDS):
        w = approved(desk)
        results = run_parallel(lambda user: payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=user), *cashiers)
        sent = [r for r in results if isinstance(r, PayoutInstruction)]
        refused = [r for r in results if isinstance(r, IllegalTransition)]
        assert (len(sent), len(refused)) == (1, 1), results
        w = desk.fresh(w)
        assert w.status == Status.PAID  # the winner's instruction went out and the bank called back
        assert list(w.instructions.values_list("attempt", "status")) == [(1, InstructionStatus.SUCCEEDED)]
        assert [row[1] for row in history(w)].count(Status.PAYING) == 1
        assert [row[1] for row in history(w)].count(Status.PAID) == 1

    member = Account.objects.get(pk=desk.member_account.pk)
    assert (member.balance, member.frozen) == (D("100000.00") - ROUNDS * D("102.00"), D("0"))
    assert Posting.objects.filter(business_type="withdrawal").count() == ROUNDS
    assert Account.objects.get(pk=desk.bank_a.clearing_account.pk).balance == D("-100000.00") + ROUNDS * D("100")
    identity_holds()


def test_paying_and_cancelling_at_once_do_not_both_happen(desk):
    """One cashier pays while another cancels. Without the withdrawal lock
    both read "approved": the hold is released AND the payment goes out."""
    pay_user, cancel_user = desk.user("Cashier", "Cashier Zhou"), desk.user("Cashier", "Cashier Wu")
    outcomes = set()
    for _ in range(ROUNDS):
        w = approved(desk)

        def work(job):
            if job == "pay":
                return payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=pay_user)
            return payout_cancel(withdrawal_id=w.id, user=cancel_user, reason="member changed her mind")

        results = run_parallel(work, "pay", "cancel")
        assert sum(isinstance(r, IllegalTransition) for r in results) == 1, results
        assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, IllegalTransition)]
        w = desk.fresh(w)
        outcomes.add(w.status)
        if w.status == Status.PAID:
            assert (w.hold.status, w.settlement is not None) == ("settled", True)
        else:
            assert w.status == Status.CANCELLED
            assert (w.hold.status, w.instructions.count()) == ("released", 0)

    member = Account.objects.get(pk=desk.member_account.pk)
    paid = Withdrawal.objects.filter(status=Status.PAID).count()
    assert (member.balance, member.frozen) == (D("100000.00") - paid * D("102.00"), D("0"))
    identity_holds()


def test_two_bank_callbacks_at_once_settle_once(desk):
    """The bank's notification arrives twice at the same instant (two worker
    processes). Relies on: payout_answer_record locks the withdrawal, then
    the instruction, before it looks at the instruction's status. Without
    those locks both see "sent": the settlement is only replayed by its
    request number, but the paid transition is written twice and the
    duplicate is never counted."""
    cashier = desk.user("Cashier")
    for _ in range(ROUNDS):
        # A silent card: the sandbox calls back by itself never; the test plays the bank.
        w = desk.request("100.00", card_number=CARD_SILENT_PAID)
        if desk.fresh(w).status == Status.IN_REVIEW:
            withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"))
        instruction = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=cashier)
        assert desk.fresh(w).status == Status.PAYING

        results = run_parallel(
            lambda n: payout_answer_record(
                instruction_no=instruction.instruction_no,
                outcome="succeeded",
                bank_ref=f"SBX-{instruction.instruction_no}",
                source=f"callback-{n}",
            ),
            1,
            2,
        )
        assert not [r for r in results if isinstance(r, BaseException)], results
        instruction.refresh_from_db()
        assert (instruction.status, instruction.duplicate_answers) == (InstructionStatus.SUCCEEDED, 1)
        w = desk.fresh(w)
        assert w.status == Status.PAID
        assert [row[1] for row in history(w)].count(Status.PAID) == 1
        assert Posting.objects.filter(request_no=f"W{w.id}-settle").count() == 1
    identity_holds()


def test_the_same_request_sent_four_times_at_once_is_one_withdrawal(desk):
    """The app retries a slow request while the first is still running. The
    unique request number (on the hold and on the withdrawal) lets one win;
    the others wait for it and answer with its withdrawal."""
    for round_no in range(ROUNDS):
        results = run_parallel(lambda _: desk.request("100.00", request_no=f"dup-{round_no}"), 1, 2, 3, 4)
        assert not [r for r in results if isinstance(r, BaseException)], results
        assert len({w.id for w in results}) == 1
        assert sorted(w.replayed for w in results) == [False, True, True, True]
    member = Account.objects.get(pk=desk.member_account.pk)
    assert member.frozen == ROUNDS * D("102.00")  # each frozen once
    assert Hold.objects.filter(account=member).count() == Withdrawal.objects.count() == ROUNDS


def test_two_reviewers_approving_at_once_make_two_approvals(desk, ledger):
    """A 60,000.00 request needs two approvals; both reviewers approve at the
    same moment. Without the withdrawal lock each counts only its own
    approval (the other's is not committed yet) and the request stays in
    review with two approvals."""
    ledger.recharge(desk.member_account, str(ROUNDS * 60100))
    reviewers = [desk.user("Reviewer", "Reviewer Wang"), desk.user("Reviewer", "Reviewer Li")]
    for _ in range(ROUNDS):
        w = desk.request("60000.00")
        assert desk.fresh(w).approvals_required == 2
        results = run_parallel(lambda user: withdrawal_approve(withdrawal_id=w.id, user=user), *reviewers)
        assert not [r for r in results if isinstance(r, BaseException)], results
        w = desk.fresh(w)
        assert (w.status, w.approvals.count()) == (Status.APPROVED, 2)
        assert [e.reason for e in w.events.filter(from_status=Status.IN_REVIEW)] == [
            "approval 1 of 2",
            "approval 2 of 2",
        ]


def test_one_reviewer_clicking_twice_gives_one_approval(desk, ledger):
    """The same reviewer's approval arrives twice at once. Without the lock
    both pass the "approved already?" check and the second insert hits the
    one-approval-per-reviewer key as a raw IntegrityError."""
    ledger.recharge(desk.member_account, str(ROUNDS * 60100))
    wang = desk.user("Reviewer", "Reviewer Wang")
    for _ in range(ROUNDS):
        w = desk.request("60000.00")
        results = run_parallel(lambda user: withdrawal_approve(withdrawal_id=w.id, user=user), wang, wang)
        assert sum(isinstance(r, Withdrawal) for r in results) == 1, results
        assert sum(isinstance(r, SegregationOfDuties) for r in results) == 1, results
        w = desk.fresh(w)
        assert (w.status, w.approvals.count()) == (Status.IN_REVIEW, 1)
    assert Approval.objects.count() == ROUNDS


def test_a_withdrawal_and_a_transfer_racing_for_the_same_money(desk, ledger):
    """Each round a fresh wallet holds exactly 100.00. At the same instant
    its owner asks to withdraw 98.00 (+ 2.00 fee = 100.00) and pays 100.00 to
    Bob. The money covers one of them: exactly one succeeds, the other is
    refused for insufficient funds, and available never goes below zero.

    Relies on: the hold and the posting both lock the account row
    (``_lock_accounts``) before reading balance and frozen. Without it both
    read 100.00 / 0.00 and write back absolute values: either the transfer
    overwrites the freshly frozen amount with its stale 0.00 (both succeed,
    the hold covers money that is gone) or the database's sign-rule CHECK
    rejects the row as a raw IntegrityError."""
    bob = ledger.cash()
    winners = set()
    for round_no in range(ROUNDS):
        wallet = ledger.cash()
        ledger.recharge(wallet, "100.00")

        def work(job):
            if job == "withdraw":
                return withdrawal_request(
                    account_no=wallet.account_no,
                    amount="98.00",
                    card_holder="Alice Zhang",
                    card_bank="ICBC",
                    card_number=CARD_OK,
                    request_no=f"race-{round_no}",
                )
            return posting_create(
                request_no=f"race-t-{round_no}",
                business_type="transfer",
                posted_by="trade",
                legs=[Leg.debit(wallet.account_no, "100.00"), Leg.credit(bob.account_no, "100.00")],
            )

        results = run_parallel(work, "withdraw", "transfer")
        ok = [r for r in results if isinstance(r, (Withdrawal, Posting))]
        short = [r for r in results if isinstance(r, InsufficientFunds)]
        assert (len(ok), len(short)) == (1, 1), results
        winners.add(type(ok[0]).__name__)

        w = Account.objects.get(pk=wallet.pk)
        held = Hold.objects.filter(account=w, status__in=ACTIVE_HOLD_STATUSES).aggregate(s=Sum("remaining"))["s"]
        assert w.available == D("0") and w.available >= 0
        assert w.frozen == (held or D("0"))
        if isinstance(ok[0], Withdrawal):
            assert (w.balance, w.frozen) == (D("100.00"), D("100.00"))
        else:
            assert (w.balance, w.frozen, Withdrawal.objects.filter(account=w).count()) == (D("0"), D("0"), 0)
        assert account_chain_breaks(account=w) == []

    assert account_chain_breaks(account=Account.objects.get(pk=bob.pk)) == []
    identity_holds()
