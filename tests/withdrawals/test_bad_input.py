"""Bad input and illegal moves: each gets a clear domain error with a stable
code, and NOTHING is written: no withdrawal, no hold, no history row, no
instruction, no posting, no balance or frozen amount changed. Then
idempotency: a repeated request, a retried task or a repeated bank answer
changes nothing the second time."""

from decimal import Decimal

import pytest

from accounts.kernel.errors import LedgerError
from accounts.kernel.money import Money
from accounts.services import account_change_status
from withdrawals import gateways, sandbox, tasks
from withdrawals.models import InstructionStatus, PayingBank, Status
from withdrawals.services import (
    payout_answer_record,
    payout_cancel,
    payout_query,
    payout_send,
    payout_transmit,
    withdrawal_approve,
    withdrawal_auto_review,
    withdrawal_reject,
    withdrawal_request,
    withdrawals_approve_bulk,
)

from .books import state
from .conftest import CARD_OK, CARD_SILENT_PAID, card

pytestmark = pytest.mark.django_db

D = Decimal


def expect(code, fn):
    before = state()
    with pytest.raises(LedgerError) as err:
        fn()
    assert err.value.code == code, err.value
    assert err.value.message
    assert state() == before, "a refused request must write nothing"
    return err.value


def ask(desk, **kw):
    """A member's request through the app, any field overridden."""
    fields = dict(
        account_no=desk.member_account.account_no,
        amount="100.00",
        card_holder="Alice Zhang",
        card_bank="ICBC",
        card_number=CARD_OK,
        request_no="app-1",
    )
    fields.update(kw)
    return lambda: withdrawal_request(**fields)


def in_review(desk, amount="100.00", **kw):
    w = desk.request(amount, **kw)
    withdrawal_auto_review(withdrawal_id=w.id)  # the new-card rule fires
    w = desk.fresh(w)
    assert w.status == Status.IN_REVIEW
    return w


def approved(desk, **kw):
    w = in_review(desk, **kw)
    withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"))
    return desk.fresh(w)


def paying(desk, **kw):
    w = approved(desk, **kw)
    instruction = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    return desk.fresh(w), instruction  # the instruction's transmission waits for a commit that never comes here


def paid(desk, **kw):
    w, instruction = paying(desk, **kw)
    payout_answer_record(instruction_no=instruction.instruction_no, outcome="succeeded", bank_ref="B1")
    w = desk.fresh(w)
    assert w.status == Status.PAID
    return w


# ------------------------------------------------------------- the card ----

BAD_LUHN = CARD_OK[:-1] + str((int(CARD_OK[-1]) + 1) % 10)
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize(
    "number",
    [
        BAD_LUHN,  # one digit off: the check digit fails
        "6222 0210 ABCD 4242",  # letters
        "62220210000",  # 11 digits: too short
        "62220210000000000000",  # 20 digits: too long
        "",
        None,
        "²" * 16,  # str.isdigit() says yes, int() says no
        CARD_OK.translate(FULL_WIDTH),  # a valid number in full-width digits
        CARD_OK + "\n",
    ],
)
def test_invalid_card_numbers(desk, number):
    err = expect("invalid_card_number", ask(desk, card_number=number))
    assert CARD_OK not in err.message  # the full number is never echoed back


def test_spaces_and_dashes_in_a_card_number_are_accepted(desk):
    spaced = " ".join(CARD_OK[i : i + 4] for i in range(0, len(CARD_OK), 4))
    w = ask(desk, card_number=spaced.replace(" ", "-", 1))()
    assert (w.card_number, w.card_masked) == (CARD_OK, f"{CARD_OK[:4]} **** {CARD_OK[-4:]}")


@pytest.mark.parametrize("field", ["card_holder", "card_bank"])
def test_card_holder_and_bank_are_required(desk, field):
    expect("validation_error", ask(desk, **{field: "   "}))


# ---------------------------------------------------------- the account ----


def test_insufficient_available_balance_counts_the_fee(desk, ledger):
    """100.00 in the wallet: 99.00 + 2.00 fee is 101.00, too much; 98.00 + 2.00 fits exactly."""
    poor = ledger.cash()
    ledger.recharge(poor, "100.00")
    err = expect("insufficient_funds", ask(desk, account_no=poor.account_no, amount="99.00"))
    assert "1.00" in err.message  # short by 1.00
    w = ask(desk, account_no=poor.account_no, amount="98.00")()
    assert (w.total, ledger.fresh(poor).available) == (D("100.00"), D("0"))


def test_funds_already_frozen_are_not_available(desk, ledger):
    poor = ledger.cash()
    ledger.recharge(poor, "150.00")
    ask(desk, account_no=poor.account_no, amount="100.00", request_no="first")()  # 102.00 frozen
    expect("insufficient_funds", ask(desk, account_no=poor.account_no, amount="47.00", request_no="second"))


@pytest.mark.parametrize("status", ["blocked", "debit_blocked"])
def test_blocked_account(desk, status):
    account_change_status(account=desk.member_account, to_status=status, reason="court order", actor="ops")
    expect("account_blocked", ask(desk))


def test_credit_blocked_account_may_still_withdraw(desk):
    account_change_status(account=desk.member_account, to_status="credit_blocked", reason="KYC", actor="ops")
    assert ask(desk)().status == Status.REQUESTED


def test_closed_account(desk, ledger):
    closed = ledger.cash()
    account_change_status(account=closed, to_status="closed", reason="member left", actor="ops")
    expect("account_closed", ask(desk, account_no=closed.account_no))


def test_internal_account(desk):
    expect("validation_error", ask(desk, account_no=desk.bank_a.clearing_account.account_no))
    expect("validation_error", ask(desk, account_no=desk.fee_income.account_no))


def test_credit_line_account(desk, ledger):
    expect("validation_error", ask(desk, account_no=ledger.credit(desk.member_account.member).account_no))


def test_unknown_account(desk):
    expect("not_found", ask(desk, account_no="22419999999999999"))


# ------------------------------------------------------------ the amount ----


@pytest.mark.parametrize(
    "amount", ["0", "0.00", "-5.00", 10.5, 0.1, "10.001", "abc", "NaN", "Infinity", "1e30", None, True]
)
def test_bad_amounts(desk, amount):
    expect("invalid_amount", ask(desk, amount=amount))


def test_an_amount_in_another_currency(desk):
    expect("currency_mismatch", ask(desk, amount=Money("100.00", "USD")))
    assert ask(desk, amount=Money("100.00", "CNY"))().amount == D("100.00")


@pytest.mark.parametrize("request_no", ["", "x" * 65])
def test_request_number_required_and_bounded(desk, request_no):
    expect("validation_error", ask(desk, request_no=request_no))


# ---------------------------------------------------- review and payout ----


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_reject_without_reason(desk, reason):
    w = in_review(desk)
    expect("validation_error", lambda: withdrawal_reject(withdrawal_id=w.id, user=desk.user("Reviewer"), reason=reason))


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_cancel_without_reason(desk, reason):
    w = approved(desk)
    expect("validation_error", lambda: payout_cancel(withdrawal_id=w.id, user=desk.user("Cashier"), reason=reason))


def test_pay_a_request_in_review(desk):
    w = in_review(desk)
    expect("illegal_transition", lambda: payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier")))


def test_approve_a_request_not_yet_reviewed_by_the_rules(desk):
    w = desk.request()
    expect("illegal_transition", lambda: withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer")))
    expect("illegal_transition", lambda: withdrawal_reject(withdrawal_id=w.id, user=desk.user("Reviewer"), reason="no"))


def test_approve_or_reject_an_approved_one(desk):
    w = approved(desk)
    reviewer = desk.user("Reviewer", "Second reviewer")
    expect("illegal_transition", lambda: withdrawal_approve(withdrawal_id=w.id, user=reviewer))
    expect("illegal_transition", lambda: withdrawal_reject(withdrawal_id=w.id, user=reviewer, reason="too late"))


def test_approve_a_paid_one(desk):
    w = paid(desk)
    expect("illegal_transition", lambda: withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer", "R2")))


def test_pay_or_cancel_a_paid_one(desk):
    w = paid(desk)
    cashier = desk.user("Cashier")
    expect("illegal_transition", lambda: payout_send(withdrawal_id=w.id, bank=desk.bank_b, user=cashier))
    expect("illegal_transition", lambda: payout_cancel(withdrawal_id=w.id, user=cashier, reason="oops"))


def test_cancel_while_paying(desk):
    w, _ = paying(desk)
    expect(
        "payout_outcome_unknown",  # the bank may pay it yet (issue 18 §3)
        lambda: payout_cancel(withdrawal_id=w.id, user=desk.user("Cashier"), reason="member called"),
    )


def test_pay_while_paying(desk):
    w, _ = paying(desk)
    expect(
        "payout_outcome_unknown",  # the bank may pay it yet (issue 18 §3)
        lambda: payout_send(withdrawal_id=w.id, bank=desk.bank_b, user=desk.user("Cashier")),
    )


def test_nothing_moves_a_rejected_or_cancelled_request(desk):
    rejected = in_review(desk)
    withdrawal_reject(withdrawal_id=rejected.id, user=desk.user("Reviewer"), reason="not her card")
    cancelled = approved(desk)
    payout_cancel(withdrawal_id=cancelled.id, user=desk.user("Cashier"), reason="member asked")
    reviewer, cashier = desk.user("Reviewer", "R2"), desk.user("Cashier")
    for w in (rejected, cancelled):
        expect("illegal_transition", lambda: withdrawal_approve(withdrawal_id=w.id, user=reviewer))
        expect("illegal_transition", lambda: withdrawal_reject(withdrawal_id=w.id, user=reviewer, reason="again"))
        expect("illegal_transition", lambda: payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=cashier))
        expect("illegal_transition", lambda: payout_cancel(withdrawal_id=w.id, user=cashier, reason="again"))


def test_cancel_a_request_in_review(desk):
    """Cancelling is the cashier's way out of a payout; in review it is the reviewer's rejection."""
    w = in_review(desk)
    expect(
        "illegal_transition",
        lambda: payout_cancel(withdrawal_id=w.id, user=desk.user("Cashier"), reason="member asked"),
    )


def test_pay_through_an_inactive_bank_or_one_of_another_currency(desk, ledger):
    w = approved(desk)
    cashier = desk.user("Cashier")
    PayingBank.objects.filter(pk=desk.bank_b.pk).update(active=False)
    desk.bank_b.refresh_from_db()
    expect("validation_error", lambda: payout_send(withdrawal_id=w.id, bank=desk.bank_b, user=cashier))
    hkd = PayingBank.objects.create(code="boc-hk", name="BOC HK", clearing_account=ledger.channel(currency="HKD"))
    expect("validation_error", lambda: payout_send(withdrawal_id=w.id, bank=hkd, user=cashier))


def test_pay_through_a_bank_whose_gateway_is_not_configured(desk, ledger):
    w = approved(desk)
    typo = PayingBank.objects.create(
        code="abc", name="ABC payouts", gateway="sandbx", clearing_account=desk.bank_b.clearing_account
    )
    err = expect("not_configured", lambda: payout_send(withdrawal_id=w.id, bank=typo, user=desk.user("Cashier")))
    assert "sandbx" in err.message


def test_unknown_withdrawal(desk):
    reviewer, cashier = desk.user("Reviewer"), desk.user("Cashier")
    for fn in (
        lambda: withdrawal_approve(withdrawal_id=999999, user=reviewer),
        lambda: withdrawal_reject(withdrawal_id=999999, user=reviewer, reason="x"),
        lambda: payout_send(withdrawal_id=999999, bank=desk.bank_a, user=cashier),
        lambda: payout_cancel(withdrawal_id=999999, user=cashier, reason="x"),
        lambda: withdrawal_approve(withdrawal_id="abc", user=reviewer),
    ):
        expect("not_found", fn)


def test_bulk_approval_refuses_an_unknown_id_and_goes_on(desk):
    w = in_review(desk)
    result = withdrawals_approve_bulk(withdrawal_ids=[w.id, 999999], user=desk.user("Reviewer"))
    assert result.done == [w.id]
    assert list(result.refused) == [999999]
    assert desk.fresh(w).status == Status.APPROVED


def test_unknown_bank_answers(desk):
    _, instruction = paying(desk)
    expect("validation_error", lambda: payout_answer_record(instruction_no=instruction.instruction_no, outcome="maybe"))
    expect("validation_error", lambda: payout_answer_record(instruction_no="PO-NONE", outcome="succeeded"))


# ----------------------------------------------------------- idempotency ----


def test_the_same_request_twice_is_one_withdrawal(desk):
    first = desk.request("100.00", request_no="app-42")
    before = state()
    second = desk.request("100", request_no="app-42")  # same amount, written differently
    assert (second.id, first.replayed, second.replayed) == (first.id, False, True)
    assert state() == before  # frozen once: 102.00
    assert desk.ledger.fresh(desk.member_account).frozen == D("102.00")


@pytest.mark.parametrize("change", [dict(amount="100.01"), dict(card_number=card("4343")), dict(card_holder="Bob Li")])
def test_the_same_request_number_with_other_content_is_a_conflict(desk, change):
    ask(desk, request_no="app-7")()
    expect("idempotency_conflict", ask(desk, request_no="app-7", **change))


def test_request_numbers_are_per_source_system(desk):
    app = ask(desk, request_no="R-1")()
    branch = ask(desk, request_no="R-1", source_system="branch")()
    assert app.id != branch.id and not branch.replayed
    assert desk.ledger.fresh(desk.member_account).frozen == D("204.00")


def test_long_request_numbers_sharing_a_prefix_are_two_requests(desk):
    """64 characters is the limit; two numbers that differ only at the end
    are two requests (the hold's key must not cut them to one)."""
    a, b = "A" * 57 + "0000001", "A" * 57 + "0000002"
    first, second = ask(desk, request_no=a)(), ask(desk, request_no=b)()
    assert first.id != second.id and not second.replayed
    assert first.hold_id != second.hold_id
    assert ask(desk, request_no=b)().id == second.id  # and each replays as itself
    assert desk.ledger.fresh(desk.member_account).frozen == D("204.00")


def test_auto_review_twice_changes_nothing(desk):
    w = desk.request()
    withdrawal_auto_review(withdrawal_id=w.id)
    before = state()
    assert withdrawal_auto_review(withdrawal_id=w.id).status == Status.IN_REVIEW
    assert tasks.withdrawal_auto_review.apply(args=[w.id]).get() == Status.IN_REVIEW  # the task, retried
    assert state() == before

    # And after a reviewer decided, a late retry does not undo the decision.
    withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"))
    before = state()
    assert withdrawal_auto_review(withdrawal_id=w.id).status == Status.APPROVED
    assert state() == before


@pytest.fixture
def bank_sends(monkeypatch):
    """Count what reaches the sandbox bank."""
    sent = []
    original = sandbox.SandboxBank.send

    def send(self, order):
        sent.append(order.instruction_no)
        return original(self, order)

    monkeypatch.setattr(sandbox.SandboxBank, "send", send)
    return sent


def test_transmit_twice_sends_once(desk, bank_sends):
    w, instruction = paying(desk, card_number=CARD_SILENT_PAID)
    first = payout_transmit(instruction_id=instruction.id)
    assert (bank_sends, first.bank_ref) == ([instruction.instruction_no], f"SBX-{instruction.instruction_no}")
    before = state()
    again = payout_transmit(instruction_id=instruction.id)
    assert tasks.payout_transmit.apply(args=[instruction.id]).get() == first.bank_ref  # the task, retried
    assert (bank_sends, again.bank_ref, again.status) == (
        [instruction.instruction_no],
        first.bank_ref,
        InstructionStatus.SENT,
    )
    assert state() == before

    # Answered: a retry long after sends nothing either.
    payout_answer_record(instruction_no=instruction.instruction_no, outcome="succeeded", bank_ref=first.bank_ref)
    payout_transmit(instruction_id=instruction.id)
    assert bank_sends == [instruction.instruction_no]


def test_an_unreachable_bank_is_sent_again_on_retry(desk, bank_sends, monkeypatch):
    w, instruction = paying(desk, card_number=CARD_SILENT_PAID)
    original = sandbox.SandboxBank.send

    def down(self, order):
        raise gateways.GatewayUnavailable("connection reset")

    monkeypatch.setattr(sandbox.SandboxBank, "send", down)
    assert payout_transmit(instruction_id=instruction.id).bank_ref == ""  # in flight, fate unknown
    assert desk.fresh(w).status == Status.PAYING
    monkeypatch.setattr(sandbox.SandboxBank, "send", original)
    assert payout_transmit(instruction_id=instruction.id).bank_ref == f"SBX-{instruction.instruction_no}"


def test_query_of_an_answered_instruction_changes_nothing(desk):
    w = paid(desk)
    instruction = w.instructions.get()
    before = state()
    assert payout_query(instruction_id=instruction.id).status == InstructionStatus.SUCCEEDED
    assert state() == before


def test_processing_answer_only_notes_the_query(desk):
    w, instruction = paying(desk)
    before = state()
    answered = payout_answer_record(instruction_no=instruction.instruction_no, outcome="processing", source="query")
    assert (answered.status, answered.last_queried_at is not None) == (InstructionStatus.SENT, True)
    assert state() == before
    assert desk.fresh(w).status == Status.PAYING
