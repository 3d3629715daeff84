"""Never pay twice (issue 18 §3): while the bank may have paid, a withdrawal
is neither paid again nor cancelled.

Two cases. The bank answered both "failed" and "succeeded" (two callbacks, or
a callback and a query, racing): the first answer stands and the other is a
flag (``needs_attention``) that finance resolves against the bank statement
(``withdrawal_flag_resolve``: bank_paid settles the frozen amount once,
bank_not_paid closes the flag). Or the last instruction was sent and never
answered: a query must find it refused first.

Real threads on real PostgreSQL for the race; the bank is played by the
test (a silent sandbox card never calls back by itself).
"""

from decimal import Decimal

import pytest

from accounts.kernel.errors import LedgerValidationError, NotAllowed
from postings.models import HoldStatus, Posting
from withdrawals import selectors
from withdrawals.exceptions import PayoutOutcomeUnknown, UnresolvedBankAnswer
from withdrawals.models import InstructionStatus, PayoutInstruction, Status
from withdrawals.services import (
    BANK_NOT_PAID,
    BANK_PAID,
    payout_answer_record,
    payout_cancel,
    payout_query,
    payout_send,
    payout_send_batch,
    withdrawal_approve,
    withdrawal_flag_resolve,
)

from .books import Books, books, history, identity_holds
from .conftest import CARD_SILENT_FAILED, CARD_SILENT_PAID
from .test_concurrency import run_parallel

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
ROUNDS = 6
START = Books(D("100000.00"), D("0"), D("100000.00"), D("-100000.00"), D("0"), D("0"))
FROZEN = Books(D("100000.00"), D("102.00"), D("99898.00"), D("-100000.00"), D("0"), D("0"))
PAID_A = Books(D("99898.00"), D("0"), D("99898.00"), D("-99900.00"), D("0"), D("2.00"))


def paying(desk, card_number=CARD_SILENT_PAID, amount="100.00"):
    """100.00 (fee 2.00) sent through ICBC, accepted, no answer yet."""
    w = desk.request(amount, card_number=card_number)
    if desk.fresh(w).status == Status.IN_REVIEW:
        withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"))
    instruction = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    assert desk.fresh(w).status == Status.PAYING
    return w, instruction


def answer(instruction, outcome, source):
    return payout_answer_record(
        instruction_no=instruction.instruction_no,
        outcome=outcome,
        bank_ref=f"SBX-{instruction.instruction_no}",
        reason="card frozen" if outcome == "failed" else "",
        source=source,
    )


def failed_then_paid(desk):
    """The bank refuses, then says it paid after all: failed, flagged."""
    w, instruction = paying(desk)
    answer(instruction, "failed", "callback")
    late = answer(instruction, "succeeded", "query")
    assert late.status == InstructionStatus.FAILED and "bank answered succeeded" in late.needs_attention
    assert desk.fresh(w).status == Status.FAILED
    return w, late


def settlements(w) -> int:
    return Posting.objects.filter(request_no=f"W{w.id}-settle").count()


def assert_pay_again_and_cancel_refused(desk, w, error):
    cashier = desk.user("Cashier")
    events = history(w)
    for bank in (desk.bank_a, desk.bank_b):
        with pytest.raises(error) as exc:
            payout_send(withdrawal_id=w.id, bank=bank, user=cashier)
        assert exc.value.code in {"unresolved_bank_answer", "payout_outcome_unknown"}
    batch = payout_send_batch(withdrawal_ids=[w.id], bank=desk.bank_b, user=cashier)
    assert batch.sent == [] and w.id in batch.refused
    with pytest.raises(error):
        payout_cancel(withdrawal_id=w.id, user=cashier, reason="card closed; add another card")
    assert history(w) == events  # nothing moved
    assert desk.fresh(w).hold.status == HoldStatus.HELD


def test_failed_and_succeeded_answers_racing_leave_no_way_to_pay_twice(desk):
    """The bank's "failed" callback and a "succeeded" answer arrive at the same
    instant. Whichever is first stands; the other is flagged. If "failed"
    won, the money may have left: the cashier can neither pay it again nor
    cancel it (which would release the freeze) until finance resolves it."""
    seen = set()
    for _ in range(ROUNDS):
        w, instruction = paying(desk)
        results = run_parallel(lambda outcome: answer(instruction, outcome, f"race-{outcome}"), "failed", "succeeded")
        assert not [r for r in results if isinstance(r, BaseException)], results
        instruction.refresh_from_db()
        w = desk.fresh(w)
        seen.add(w.status)
        assert instruction.needs_attention and instruction.attention_resolved_at is None
        if w.status == Status.FAILED:
            assert instruction.status == InstructionStatus.FAILED
            assert "bank answered succeeded" in instruction.needs_attention
            assert settlements(w) == 0
            assert_pay_again_and_cancel_refused(desk, w, UnresolvedBankAnswer)
        else:
            assert (w.status, instruction.status) == (Status.PAID, InstructionStatus.SUCCEEDED)
            assert "bank answered failed" in instruction.needs_attention
            assert settlements(w) == 1
        assert PayoutInstruction.objects.filter(withdrawal=w).count() == 1
    identity_holds()
    assert seen <= {Status.FAILED, Status.PAID}


def test_resolved_as_bank_paid_settles_the_freeze_exactly_once(desk):
    w, instruction = failed_then_paid(desk)
    assert books(desk) == FROZEN
    assert_pay_again_and_cancel_refused(desk, w, UnresolvedBankAnswer)

    # A cashier may not resolve it; a reason is required.
    with pytest.raises(NotAllowed):
        withdrawal_flag_resolve(
            instruction_id=instruction.id, outcome=BANK_PAID, reason="statement", user=desk.user("Cashier")
        )
    finance, finance_2 = desk.user("Finance staff"), desk.user("Finance staff", "Finance staff 2")
    with pytest.raises(LedgerValidationError):
        withdrawal_flag_resolve(instruction_id=instruction.id, outcome=BANK_PAID, reason=" ", user=finance)
    with pytest.raises(LedgerValidationError):
        withdrawal_flag_resolve(instruction_id=instruction.id, outcome="maybe", reason="x", user=finance)

    # Two finance staff resolve it at the same instant: one settles, once.
    reason = "ICBC statement 2026-12-06 line 14: 100.00 paid"
    results = run_parallel(
        lambda user: withdrawal_flag_resolve(
            instruction_id=instruction.id, outcome=BANK_PAID, reason=reason, user=user
        ),
        finance,
        finance_2,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], LedgerValidationError), results
    w = desk.fresh(w)
    assert (w.status, w.hold.status) == (Status.PAID, HoldStatus.SETTLED)
    assert settlements(w) == 1 and w.settlement.request_no == f"W{w.id}-settle"
    assert books(desk) == PAID_A
    instruction.refresh_from_db()
    assert instruction.attention_resolution == BANK_PAID
    assert instruction.attention_resolved_by in {"finance_staff", "finance_staff_2"}
    assert instruction.attention_resolution_reason == reason
    last = w.events.order_by("id").last()
    assert (last.from_status, last.to_status, last.actor) == (
        Status.FAILED,
        Status.PAID,
        instruction.attention_resolved_by,
    )
    assert reason in last.reason and BANK_PAID in last.reason

    # Once resolved, nothing more: no second settlement, no pay again.
    with pytest.raises(LedgerValidationError):
        withdrawal_flag_resolve(instruction_id=instruction.id, outcome=BANK_PAID, reason=reason, user=finance)
    with pytest.raises(Exception) as exc:
        payout_send(withdrawal_id=w.id, bank=desk.bank_b, user=desk.user("Cashier"))
    assert exc.value.code == "illegal_transition"
    assert books(desk) == PAID_A and settlements(w) == 1
    identity_holds()


def test_resolved_as_bank_not_paid_can_be_paid_again(desk):
    w, instruction = failed_then_paid(desk)
    finance = desk.user("Finance staff")
    withdrawal_flag_resolve(
        instruction_id=instruction.id,
        outcome=BANK_NOT_PAID,
        reason="ICBC statement 2026-12-06: no debit; their 'succeeded' was an error",
        user=finance,
    )
    w = desk.fresh(w)
    assert (w.status, w.hold.status) == (Status.FAILED, HoldStatus.HELD)
    assert books(desk) == FROZEN and settlements(w) == 0
    assert history(w)[-1][:3] == (Status.FAILED, Status.FAILED, "finance_staff")

    retry = payout_send(withdrawal_id=w.id, bank=desk.bank_b, user=desk.user("Cashier"))
    assert retry.attempt == 2
    answer(retry, "succeeded", "callback")
    w = desk.fresh(w)
    assert w.status == Status.PAID and settlements(w) == 1
    assert books(desk) == Books(D("99898.00"), D("0"), D("99898.00"), D("-100000.00"), D("100.00"), D("2.00"))
    identity_holds()


def test_resolved_as_bank_not_paid_can_be_cancelled(desk):
    w, instruction = failed_then_paid(desk)
    withdrawal_flag_resolve(
        instruction_id=instruction.id, outcome=BANK_NOT_PAID, reason="no debit", user=desk.user("Finance staff")
    )
    payout_cancel(withdrawal_id=w.id, user=desk.user("Cashier"), reason="card frozen; add another card")
    assert desk.fresh(w).status == Status.CANCELLED
    assert books(desk) == START


def test_a_new_contradiction_reopens_a_resolved_flag(desk):
    w, instruction = failed_then_paid(desk)
    withdrawal_flag_resolve(
        instruction_id=instruction.id, outcome=BANK_NOT_PAID, reason="no debit", user=desk.user("Finance staff")
    )
    answer(instruction, "succeeded", "callback")  # the bank says it again
    instruction.refresh_from_db()
    assert instruction.attention_resolved_at is None and instruction.attention_resolution == ""
    assert_pay_again_and_cancel_refused(desk, desk.fresh(w), UnresolvedBankAnswer)


def test_unknown_outcome_is_not_paid_again_until_a_query_says_refused(desk):
    """Sent, accepted, and silence: the money may be on its way. Paying again
    (or cancelling) waits for the bank's answer; the query finds it refused,
    then the cashier may pay again."""
    w, instruction = paying(desk, card_number=CARD_SILENT_FAILED)
    assert_pay_again_and_cancel_refused(desk, w, PayoutOutcomeUnknown)
    assert books(desk) == FROZEN

    queried = payout_query(instruction_id=instruction.id, user=desk.user("Cashier"))
    assert queried.status == InstructionStatus.FAILED and not queried.needs_attention
    assert desk.fresh(w).status == Status.FAILED
    retry = payout_send(withdrawal_id=w.id, bank=desk.bank_b, user=desk.user("Cashier"))
    assert retry.attempt == 2
    identity_holds()


def test_the_pages_do_not_offer_pay_again_while_the_flag_is_open(desk, client):
    w, instruction = failed_then_paid(desk)
    client.force_login(desk.user("Cashier"))
    page = client.get(f"/withdrawals/{w.id}/").content.decode()
    assert "Pay again" not in page and 'id="payout-blocked"' in page
    assert w.id not in {x.id for x in selectors.payout_queue()}
    withdrawal_flag_resolve(
        instruction_id=instruction.id, outcome=BANK_NOT_PAID, reason="no debit", user=desk.user("Finance staff")
    )
    page = client.get(f"/withdrawals/{w.id}/").content.decode()
    assert "Pay again" in page and 'id="payout-blocked"' not in page
    assert w.id in {x.id for x in selectors.payout_queue()}
