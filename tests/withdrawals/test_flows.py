"""Withdrawals (提现) end to end, one worked example per path.

The desk (see conftest): Alice's wallet holds 100,000.00 CNY, recharged
through ICBC, so ICBC's clearing account stands at -100,000.00 (an internal
account, credit-normal, may go negative); CMB's clearing account and fee
income are at 0. The default CNY fee is 1.00 + 0.1% of the amount, at least
2.00 and at most 25.00, rounded up to the cent.

After every step we read back what an accountant would: Alice's balance,
frozen and available amounts, both clearing accounts, fee income, the
entries of the settlement, the withdrawal's history, and the balance
identity sum(asset) = sum(liability) + sum(internal).

The work Django runs after COMMIT (auto review, handing the instruction to
the bank, the sandbox bank's callbacks; Celery is eager here) is run with
``commit()``; ``pending`` keeps it back so the state in between can be seen.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from postings.models import HoldStatus, Posting
from withdrawals import selectors
from withdrawals.exceptions import IllegalTransition, SegregationOfDuties
from withdrawals.models import Approval, InstructionStatus, PayoutInstruction, ReviewRule, Status
from withdrawals.services import (
    payout_answer_record,
    payout_cancel,
    payout_send,
    payouts_query_unanswered,
    withdrawal_approve,
    withdrawal_reject,
)

from .books import Books, books, entries, history, identity_holds
from .conftest import (
    CARD_BUSY_ONCE,
    CARD_CLOSED,
    CARD_DOUBLE_CALLBACK,
    CARD_OK,
    CARD_SILENT_FAILED,
    CARD_SILENT_PAID,
    CARD_STUCK,
)

pytestmark = pytest.mark.django_db

D = Decimal
START = Books(
    balance=D("100000.00"),
    frozen=D("0"),
    available=D("100000.00"),
    bank_a=D("-100000.00"),
    bank_b=D("0"),
    fee_income=D("0"),
)
SYSTEM = "system:auto-review"


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run what the services leave for after COMMIT, and what that in turn
    leaves (the bank's callbacks), as production would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def pending(django_capture_on_commit_callbacks):
    """Commit, but keep the after-commit work back: ``with pending() as work``."""
    return lambda: django_capture_on_commit_callbacks(execute=False)


def deliver(commit, work):
    """The kept-back work runs now (the instruction reaches the bank, which answers)."""
    with commit():
        for callback in work:
            callback()


def member(desk) -> str:
    return f"member:{desk.member_account.member.member_no}"


def bank_ref(withdrawal, attempt=1) -> str:
    return f"SBX-PO{withdrawal.id:010d}{attempt:02d}"


def settlement(withdrawal) -> Posting:
    posting = withdrawal.settlement
    assert posting is not None
    assert (posting.business_type, posting.request_no, posting.external_ref) == (
        "withdrawal",
        f"W{withdrawal.id}-settle",
        withdrawal.instructions.get(status="succeeded").bank_ref,
    )
    return posting


def withdrawal_postings() -> int:
    return Posting.objects.filter(business_type="withdrawal").count()


def approved(desk, commit, amount, card_number=CARD_OK):
    """A request the new-card rule sends to review, approved by a reviewer."""
    with commit():
        w = desk.request(amount, card_number=card_number)
    withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"))
    return desk.fresh(w)


def test_auto_approved_and_paid(desk, commit, pending):
    """3,000.00 with no review rule firing. To keep the numbers to this one
    withdrawal, the new-card rule is switched off here (finance may do that);
    the other default rules do not fire on 3,000.00 from a month-old account.
    Fee: 1.00 + 3.00 = 4.00."""
    ReviewRule.objects.filter(code="new-card").update(active=False)
    assert books(desk) == START
    identity_holds()

    with commit():
        w = desk.request("3000.00")
    w = desk.fresh(w)
    assert (w.status, w.amount, w.fee, w.review_rules, w.approvals_required) == (
        Status.APPROVED,
        D("3000.00"),
        D("4.00"),
        [],
        1,
    )
    # 3,004.00 frozen: balance unchanged, available down; nothing posted yet.
    assert books(desk) == Books(D("100000.00"), D("3004.00"), D("96996.00"), D("-100000.00"), D("0"), D("0"))
    assert withdrawal_postings() == 0
    assert history(w) == [
        ("", Status.REQUESTED, member(desk), [], ""),
        (Status.REQUESTED, Status.APPROVED, SYSTEM, [], ""),
    ]
    identity_holds()

    with pending() as work:
        instruction = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    assert desk.fresh(w).status == Status.PAYING
    assert (instruction.attempt, instruction.bank, instruction.status, instruction.sent_by) == (
        1,
        desk.bank_a,
        InstructionStatus.SENT,
        "cashier",
    )
    assert books(desk) == Books(D("100000.00"), D("3004.00"), D("96996.00"), D("-100000.00"), D("0"), D("0"))
    identity_holds()

    deliver(commit, work)  # ICBC accepts, pays, calls back once
    w = desk.fresh(w)
    assert w.status == Status.PAID
    assert books(desk) == Books(
        balance=D("96996.00"),
        frozen=D("0"),
        available=D("96996.00"),
        bank_a=D("-97000.00"),  # -100,000.00 + 3,000.00 paid out through ICBC
        bank_b=D("0"),
        fee_income=D("4.00"),
    )
    assert entries(settlement(w)) == [
        (desk.member_account.account_no, "D", D("3004.00")),
        (desk.bank_a.clearing_account.account_no, "C", D("3000.00")),
        (desk.fee_income.account_no, "C", D("4.00")),
    ]
    assert (w.hold.status, w.hold.remaining) == (HoldStatus.SETTLED, D("0"))
    assert history(w) == [
        ("", Status.REQUESTED, member(desk), [], ""),
        (Status.REQUESTED, Status.APPROVED, SYSTEM, [], ""),
        (Status.APPROVED, Status.PAYING, "cashier", [], ""),
        (Status.PAYING, Status.PAID, "bank:callback", [], bank_ref(w)),
    ]
    assert w.events.get(to_status=Status.PAID).instruction == instruction
    identity_holds()


def test_manually_approved_and_paid(desk, commit, pending):
    """1,234.56 to a card never paid before: the new-card rule sends it to a
    reviewer. Fee: 1.00 + 1.23456 = 2.23456, rounded up to 2.24."""
    with commit():
        w = desk.request("1234.56")
    w = desk.fresh(w)
    assert (w.status, w.fee, w.review_rules) == (Status.IN_REVIEW, D("2.24"), ["new-card"])
    assert books(desk) == Books(D("100000.00"), D("1236.80"), D("98763.20"), D("-100000.00"), D("0"), D("0"))
    assert history(w)[-1] == (Status.REQUESTED, Status.IN_REVIEW, SYSTEM, ["new-card"], "")
    identity_holds()

    reviewer = desk.user("Reviewer")
    withdrawal_approve(withdrawal_id=w.id, user=reviewer, reason="card holder matches KYC")
    w = desk.fresh(w)
    assert w.status == Status.APPROVED
    assert list(w.approvals.values_list("reviewer__username", flat=True)) == ["reviewer"]
    assert history(w)[-1] == (Status.IN_REVIEW, Status.APPROVED, "reviewer", [], "")
    assert w.events.last().reason == "approval 1 of 1: card holder matches KYC"
    assert books(desk) == Books(D("100000.00"), D("1236.80"), D("98763.20"), D("-100000.00"), D("0"), D("0"))
    identity_holds()

    with pending() as work:
        payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    assert desk.fresh(w).status == Status.PAYING
    assert books(desk).frozen == D("1236.80")
    assert withdrawal_postings() == 0

    deliver(commit, work)
    w = desk.fresh(w)
    assert w.status == Status.PAID
    assert books(desk) == Books(D("98763.20"), D("0"), D("98763.20"), D("-98765.44"), D("0"), D("2.24"))
    assert entries(settlement(w)) == [
        (desk.member_account.account_no, "D", D("1236.80")),
        (desk.bank_a.clearing_account.account_no, "C", D("1234.56")),
        (desk.fee_income.account_no, "C", D("2.24")),
    ]
    assert history(w) == [
        ("", Status.REQUESTED, member(desk), [], ""),
        (Status.REQUESTED, Status.IN_REVIEW, SYSTEM, ["new-card"], ""),
        (Status.IN_REVIEW, Status.APPROVED, "reviewer", [], ""),
        (Status.APPROVED, Status.PAYING, "cashier", [], ""),
        (Status.PAYING, Status.PAID, "bank:callback", [], bank_ref(w)),
    ]
    identity_holds()


def test_rejected_releases_the_hold_and_posts_nothing(desk, commit):
    """500.00 (fee 1.50, raised to the 2.00 minimum) goes to review and is rejected."""
    with commit():
        w = desk.request("500.00")
    assert books(desk) == Books(D("100000.00"), D("502.00"), D("99498.00"), D("-100000.00"), D("0"), D("0"))

    withdrawal_reject(withdrawal_id=w.id, user=desk.user("Reviewer"), reason="  The card is not in Alice's name.  ")
    w = desk.fresh(w)
    assert (w.status, w.closing_reason, w.settlement) == (Status.REJECTED, "The card is not in Alice's name.", None)
    assert (w.hold.status, w.hold.remaining) == (HoldStatus.RELEASED, D("0"))
    assert books(desk) == START
    assert withdrawal_postings() == 0
    assert not w.instructions.exists() and not w.approvals.exists()
    assert history(w)[-1] == (Status.IN_REVIEW, Status.REJECTED, "reviewer", [], "")
    assert w.events.last().reason == "The card is not in Alice's name."
    identity_holds()


def test_failed_then_paid_through_a_second_bank(desk, commit, pending):
    """2,000.00 (fee 3.00) to a card ICBC refuses once (bank busy); the
    cashier pays again through CMB, which pays. Only CMB's clearing moves."""
    w = approved(desk, commit, "2000.00", CARD_BUSY_ONCE)
    cashier = desk.user("Cashier")
    with commit():
        first = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=cashier)
    w = desk.fresh(w)
    first.refresh_from_db()
    assert w.status == Status.FAILED
    assert (first.status, first.failure_reason, first.bank_ref) == (
        InstructionStatus.FAILED,
        "bank busy, try again (银行繁忙)",
        bank_ref(w, 1),
    )
    # Still frozen, nothing posted: the money has not left.
    assert books(desk) == Books(D("100000.00"), D("2003.00"), D("97997.00"), D("-100000.00"), D("0"), D("0"))
    assert withdrawal_postings() == 0
    assert history(w)[-1] == (Status.PAYING, Status.FAILED, "bank:callback", [], bank_ref(w, 1))
    assert w.events.last().reason == "bank busy, try again (银行繁忙)"
    assert selectors.last_failure(w) == first
    assert w in selectors.payout_queue()
    identity_holds()

    with pending() as work:
        second = payout_send(withdrawal_id=w.id, bank=desk.bank_b, user=cashier)
    assert (second.attempt, second.bank, second.instruction_no) == (2, desk.bank_b, f"PO{w.id:010d}02")
    assert desk.fresh(w).status == Status.PAYING
    deliver(commit, work)
    w = desk.fresh(w)
    assert w.status == Status.PAID
    assert books(desk) == Books(
        balance=D("97997.00"),
        frozen=D("0"),
        available=D("97997.00"),
        bank_a=D("-100000.00"),  # ICBC refused: untouched
        bank_b=D("2000.00"),
        fee_income=D("3.00"),
    )
    assert entries(settlement(w)) == [
        (desk.member_account.account_no, "D", D("2003.00")),
        (desk.bank_b.clearing_account.account_no, "C", D("2000.00")),
        (desk.fee_income.account_no, "C", D("3.00")),
    ]
    assert history(w)[3:] == [
        (Status.APPROVED, Status.PAYING, "cashier", [], ""),
        (Status.PAYING, Status.FAILED, "bank:callback", [], bank_ref(w, 1)),
        (Status.FAILED, Status.PAYING, "cashier", [], ""),
        (Status.PAYING, Status.PAID, "bank:callback", [], bank_ref(w, 2)),
    ]
    assert w.events.get(from_status=Status.FAILED).reason == "attempt 2 through cmb"
    assert w not in selectors.payout_queue()
    identity_holds()


def test_failed_then_cancelled(desk, commit):
    """800.00 (fee 2.00) to a closed card: refused, and the cashier cancels
    with a reason Alice can act on; the 802.00 comes back to her available."""
    w = approved(desk, commit, "800.00", CARD_CLOSED)
    cashier = desk.user("Cashier")
    with commit():
        payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=cashier)
    assert desk.fresh(w).status == Status.FAILED
    assert books(desk) == Books(D("100000.00"), D("802.00"), D("99198.00"), D("-100000.00"), D("0"), D("0"))

    reason = "The bank says this card is closed; please add another card."
    payout_cancel(withdrawal_id=w.id, user=cashier, reason=reason)
    w = desk.fresh(w)
    assert (w.status, w.closing_reason, w.settlement) == (Status.CANCELLED, reason, None)
    assert (w.hold.status, w.hold.remaining) == (HoldStatus.RELEASED, D("0"))
    assert books(desk) == START
    assert withdrawal_postings() == 0
    assert history(w)[-2:] == [
        (Status.PAYING, Status.FAILED, "bank:callback", [], bank_ref(w)),
        (Status.FAILED, Status.CANCELLED, "cashier", [], ""),
    ]
    assert w.events.last().reason == reason
    identity_holds()


def test_double_approval_above_the_threshold(desk, commit):
    """60,000.00 is above the 50,000 dual-approval threshold: two different
    reviewers must approve. Fee: 1.00 + 60.00 = 61.00, capped at 25.00."""
    with commit():
        w = desk.request("60000.00")
    w = desk.fresh(w)
    # 60,000 also exceeds the large-amount (5,000) and daily-amount (20,000) rules.
    assert (w.status, w.approvals_required, w.fee) == (Status.IN_REVIEW, 2, D("25.00"))
    assert w.review_rules == ["daily-amount", "dual-approval", "large-amount", "new-card"]
    assert history(w)[-1] == (
        Status.REQUESTED,
        Status.IN_REVIEW,
        SYSTEM,
        ["daily-amount", "dual-approval", "large-amount", "new-card"],
        "",
    )
    assert books(desk) == Books(D("100000.00"), D("60025.00"), D("39975.00"), D("-100000.00"), D("0"), D("0"))

    wang, li = desk.user("Reviewer", "Reviewer Wang"), desk.user("Reviewer", "Reviewer Li")
    withdrawal_approve(withdrawal_id=w.id, user=wang)
    w = desk.fresh(w)
    assert w.status == Status.IN_REVIEW  # one of two
    assert history(w)[-1] == (Status.IN_REVIEW, Status.IN_REVIEW, "reviewer_wang", [], "")
    assert w.events.last().reason == "approval 1 of 2"

    events_before = len(history(w))
    with pytest.raises(SegregationOfDuties) as refused:
        withdrawal_approve(withdrawal_id=w.id, user=wang)
    assert refused.value.code == "segregation_of_duties"
    w = desk.fresh(w)
    assert (w.status, w.approvals.count(), len(history(w))) == (Status.IN_REVIEW, 1, events_before)

    withdrawal_approve(withdrawal_id=w.id, user=li)
    w = desk.fresh(w)
    assert w.status == Status.APPROVED
    assert history(w)[-1] == (Status.IN_REVIEW, Status.APPROVED, "reviewer_li", [], "")
    assert w.events.last().reason == "approval 2 of 2"
    assert set(Approval.objects.filter(withdrawal=w).values_list("reviewer__username", flat=True)) == {
        "reviewer_wang",
        "reviewer_li",
    }
    assert books(desk).frozen == D("60025.00")

    with commit():
        payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    assert desk.fresh(w).status == Status.PAID
    assert books(desk) == Books(D("39975.00"), D("0"), D("39975.00"), D("-40000.00"), D("0"), D("25.00"))
    identity_holds()


def test_duplicate_callbacks_settle_once(desk, commit):
    """The bank calls back twice for one payment of 100.00 (fee 2.00)."""
    w = approved(desk, commit, "100.00", CARD_DOUBLE_CALLBACK)
    with commit():
        instruction = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    instruction.refresh_from_db()
    w = desk.fresh(w)
    assert (w.status, instruction.status, instruction.duplicate_answers, instruction.needs_attention) == (
        Status.PAID,
        InstructionStatus.SUCCEEDED,
        1,
        "",
    )
    assert withdrawal_postings() == 1
    assert [row[1] for row in history(w)].count(Status.PAID) == 1
    assert books(desk) == Books(D("99898.00"), D("0"), D("99898.00"), D("-99900.00"), D("0"), D("2.00"))
    identity_holds()


def test_late_callbacks_after_paid_are_counted_or_flagged(desk, commit):
    w = approved(desk, commit, "100.00")
    with commit():
        instruction = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    paid = books(desk)
    assert paid == Books(D("99898.00"), D("0"), D("99898.00"), D("-99900.00"), D("0"), D("2.00"))
    events = history(w)

    # The same answer again, a day late: counted, nothing else.
    again = payout_answer_record(
        instruction_no=instruction.instruction_no, outcome="succeeded", bank_ref=bank_ref(w), source="callback"
    )
    assert (again.status, again.duplicate_answers, again.needs_attention) == (InstructionStatus.SUCCEEDED, 1, "")
    # A contradicting answer: nothing undone, flagged for finance.
    contra = payout_answer_record(
        instruction_no=instruction.instruction_no, outcome="failed", reason="account frozen", source="callback"
    )
    assert contra.status == InstructionStatus.SUCCEEDED
    assert "bank answered failed by callback" in contra.needs_attention
    assert desk.fresh(w).status == Status.PAID
    assert books(desk) == paid
    assert history(w) == events
    assert withdrawal_postings() == 1
    identity_holds()


def test_paid_answer_after_the_request_was_cancelled_settles_nothing(desk, commit):
    """The bank refused 300.00 (fee 2.00), the cashier cancelled, and then
    the bank says it paid after all. Money may have left without a
    settlement: the ledger books nothing and flags it for finance."""
    w = approved(desk, commit, "300.00", CARD_CLOSED)
    cashier = desk.user("Cashier")
    with commit():
        instruction = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=cashier)
    payout_cancel(withdrawal_id=w.id, user=cashier, reason="card closed; please add another card")
    assert books(desk) == START
    events = history(w)

    late = payout_answer_record(
        instruction_no=instruction.instruction_no, outcome="succeeded", bank_ref=bank_ref(w), source="callback"
    )
    assert late.status == InstructionStatus.FAILED  # the first answer stands
    assert "bank answered succeeded" in late.needs_attention and "cancelled" in late.needs_attention
    w = desk.fresh(w)
    assert (w.status, w.settlement, w.hold.status) == (Status.CANCELLED, None, HoldStatus.RELEASED)
    assert books(desk) == START
    assert withdrawal_postings() == 0
    assert history(w) == events
    assert list(selectors.instructions_needing_attention()) == [instruction]
    assert selectors.dashboard().needs_attention == 1
    identity_holds()


def test_silent_bank_is_answered_by_the_query(desk, commit, settings):
    """No callback for 400.00 (fee 2.00); the periodic query finds it paid."""
    w = approved(desk, commit, "400.00", CARD_SILENT_PAID)
    with commit():
        instruction = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    instruction.refresh_from_db()
    assert (desk.fresh(w).status, instruction.status, instruction.bank_ref) == (
        Status.PAYING,
        InstructionStatus.SENT,
        bank_ref(w),
    )  # accepted, then silence
    assert books(desk).frozen == D("402.00")

    settings.PAYOUT_QUERY_AFTER_SECONDS = 60
    assert payouts_query_unanswered() == 0  # too early to ask
    assert desk.fresh(w).status == Status.PAYING

    settings.PAYOUT_QUERY_AFTER_SECONDS = 0
    with commit():
        assert payouts_query_unanswered() == 1
    w = desk.fresh(w)
    assert w.status == Status.PAID
    assert history(w)[-1] == (Status.PAYING, Status.PAID, "bank:query", [], bank_ref(w))
    assert books(desk) == Books(D("99598.00"), D("0"), D("99598.00"), D("-99600.00"), D("0"), D("2.00"))
    identity_holds()
    assert payouts_query_unanswered() == 0  # nothing left to ask about


def test_silent_bank_refusal_is_found_by_the_query(desk, commit, settings):
    w = approved(desk, commit, "400.00", CARD_SILENT_FAILED)
    with commit():
        payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    assert desk.fresh(w).status == Status.PAYING

    settings.PAYOUT_QUERY_AFTER_SECONDS = 0
    with commit():
        assert payouts_query_unanswered() == 1
    w = desk.fresh(w)
    assert w.status == Status.FAILED
    assert history(w)[-1] == (Status.PAYING, Status.FAILED, "bank:query", [], bank_ref(w))
    assert selectors.last_failure(w).failure_reason == "card frozen by the bank (卡片冻结)"
    assert books(desk) == Books(D("100000.00"), D("402.00"), D("99598.00"), D("-100000.00"), D("0"), D("0"))
    identity_holds()


def test_stuck_payout_stays_paying_and_is_listed_once_old(desk, commit, settings):
    w = approved(desk, commit, "400.00", CARD_STUCK)
    cashier = desk.user("Cashier")
    with commit():
        instruction = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=cashier)

    settings.PAYOUT_QUERY_AFTER_SECONDS = 0
    assert payouts_query_unanswered() == 0  # the bank says "processing"
    instruction.refresh_from_db()
    assert instruction.status == InstructionStatus.SENT and instruction.last_queried_at is not None
    assert desk.fresh(w).status == Status.PAYING
    assert books(desk).frozen == D("402.00")

    settings.PAYOUT_STUCK_AFTER_MINUTES = 10
    assert list(selectors.instructions_stuck()) == []
    PayoutInstruction.objects.filter(pk=instruction.pk).update(sent_at=timezone.now() - timedelta(minutes=11))
    assert list(selectors.instructions_stuck()) == [instruction]
    assert selectors.dashboard().stuck == 1

    # The money may be on its way: nobody can cancel it while the bank has it.
    with pytest.raises(IllegalTransition):
        payout_cancel(withdrawal_id=w.id, user=cashier, reason="taking too long")
    assert desk.fresh(w).status == Status.PAYING
    assert books(desk) == Books(D("100000.00"), D("402.00"), D("99598.00"), D("-100000.00"), D("0"), D("0"))
    identity_holds()


def test_one_payout_the_ledger_cannot_settle_does_not_hold_back_the_others(desk, commit, settings):
    """Two silent payouts are found paid by the query. CMB's clearing account
    has been blocked for credits meanwhile, so the first cannot be booked:
    it stays in flight (and will show as stuck); the second is settled."""
    from accounts.services import account_change_status

    cashier = desk.user("Cashier")
    first = approved(desk, commit, "400.00", CARD_SILENT_PAID)
    with commit():
        payout_send(withdrawal_id=first.id, bank=desk.bank_b, user=cashier)
    second = approved(desk, commit, "400.00", CARD_SILENT_PAID)
    with commit():
        payout_send(withdrawal_id=second.id, bank=desk.bank_a, user=cashier)
    account_change_status(
        account=desk.bank_b.clearing_account,
        to_status="credit_blocked",
        reason="channel under reconciliation",
        actor="ops",
    )

    settings.PAYOUT_QUERY_AFTER_SECONDS = 0
    with commit():
        assert payouts_query_unanswered() == 1
    assert (desk.fresh(first).status, desk.fresh(second).status) == (Status.PAYING, Status.PAID)
    assert first.instructions.get().status == InstructionStatus.SENT
    assert books(desk) == Books(D("99598.00"), D("402.00"), D("99196.00"), D("-99600.00"), D("0"), D("2.00"))
    identity_holds()
