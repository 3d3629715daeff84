"""What PostgreSQL refuses on withdrawals, whoever writes (issue 18, section 1).

A withdrawal's amount, fee, card and the rest of what was asked are fixed
when it is requested; its status moves only with a history row saying from
what to what, in the same transaction. Every forgery here runs as the
runtime database role (the ``runtime_sql`` fixture), as a compromised web
process or an operator with the application's credentials would, and
commits, so the checks deferred to COMMIT run.
"""

from __future__ import annotations

import psycopg
import pytest

from withdrawals import services
from withdrawals.models import PayoutInstruction, Status, Withdrawal, WithdrawalEvent

from .conftest import CARD_CLOSED, CARD_OK

FIXED = "fixed at request"
NO_HISTORY = "without its history row"

EVENT = """INSERT INTO withdrawals_withdrawalevent (withdrawal_id, from_status, to_status, actor, at, reason,
                  rule_codes, bank_ref)
           VALUES ({id}, '{old}', '{new}', 'script', now(), '', '[]', '')"""


def requested(desk):
    w = desk.request("100.00")
    assert desk.fresh(w).status in (Status.REQUESTED, Status.IN_REVIEW, Status.APPROVED)
    return desk.fresh(w)


def approved(desk, card_number=CARD_OK):
    w = desk.request("100.00", card_number=card_number)
    services.withdrawal_auto_review(withdrawal_id=w.id)
    if desk.fresh(w).status == Status.IN_REVIEW:
        services.withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"))
    w = desk.fresh(w)
    assert w.status == Status.APPROVED
    return w


def sent(desk, w):
    services.payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    return desk.fresh(w)


@pytest.mark.parametrize(
    "change",
    [
        "amount = amount + 1",
        "fee = 0",
        "fee_rule_version = fee_rule_version + 1",
        "card_number = '6222021000000000018'",
        "card_holder = 'Mallory'",
        "card_masked = '****0018'",
        "currency = 'USD'",
        "account_id = {other_account}",
        "member_id = {other_member}",
        "hold_id = NULL",
        "created_at = created_at - interval '3 days'",
        "request_no = 'another'",
    ],
)
def test_what_was_requested_is_never_edited(runtime_sql, desk, change):
    w = requested(desk)
    other = desk.ledger.cash()
    change = change.format(other_account=other.id, other_member=other.member_id)
    with pytest.raises(psycopg.errors.RestrictViolation, match=f"withdrawal {w.id}: .* {FIXED}"):
        runtime_sql(f"UPDATE withdrawals_withdrawal SET {change} WHERE id = %s", [w.id])
    fresh = desk.fresh(w)
    assert (fresh.amount, fresh.fee, fresh.card_number, fresh.account_id, fresh.created_at) == (
        w.amount,
        w.fee,
        w.card_number,
        w.account_id,
        w.created_at,
    )


def test_a_status_changed_without_its_history_row_is_refused_at_commit(runtime_sql, desk):
    w = approved(desk)
    with pytest.raises(psycopg.errors.CheckViolation, match=f"withdrawal {w.id}: approved -> cancelled {NO_HISTORY}"):
        runtime_sql("UPDATE withdrawals_withdrawal SET status = 'cancelled' WHERE id = %s", [w.id])
    assert desk.fresh(w).status == Status.APPROVED


def test_a_history_row_for_another_move_does_not_cover_a_status_change(runtime_sql, desk):
    w = approved(desk)
    with pytest.raises(psycopg.errors.CheckViolation, match=NO_HISTORY):
        runtime_sql(
            f"UPDATE withdrawals_withdrawal SET status = 'cancelled' WHERE id = {w.id}; "
            + EVENT.format(id=w.id, old="requested", new="cancelled")
        )
    assert desk.fresh(w).status == Status.APPROVED


@pytest.mark.parametrize("event_first", [False, True])
def test_a_status_change_with_its_history_row_commits(runtime_sql, desk, event_first):
    """The rule is about the record, not the route: the UPDATE and its
    history row, in either order, as transition() writes them."""
    w = approved(desk)
    update = f"UPDATE withdrawals_withdrawal SET status = 'cancelled' WHERE id = {w.id}"
    event = EVENT.format(id=w.id, old="approved", new="cancelled")
    runtime_sql(f"{event}; {update}" if event_first else f"{update}; {event}")
    assert desk.fresh(w).status == Status.CANCELLED
    assert WithdrawalEvent.objects.filter(withdrawal=w).last().to_status == Status.CANCELLED


def test_a_withdrawal_is_born_requested(runtime_sql, desk):
    """A row inserted as approved would be paid by the cashier's queue
    without any review: a request starts requested, whoever inserts it."""
    from postings.services import hold_place

    w = requested(desk)
    hold = hold_place(account_no=w.account.account_no, amount="10", reason="x", request_no="h-forged", actor="t")
    columns = [
        f.column
        for f in Withdrawal._meta.concrete_fields
        if f.column not in ("id", "status", "hold_id", "request_no", "settlement_id")
    ]
    with pytest.raises(psycopg.errors.RestrictViolation, match="starts requested"):
        runtime_sql(
            f"""INSERT INTO withdrawals_withdrawal ({", ".join(columns)}, status, hold_id, request_no)
                SELECT {", ".join(columns)}, 'approved', %s, 'forged' FROM withdrawals_withdrawal WHERE id = %s""",
            [hold.id, w.id],
        )
    assert not Withdrawal.objects.filter(request_no="forged").exists()


def test_the_history_cannot_be_edited_even_with_pgtrigger_ignore(runtime_sql, desk):
    w = requested(desk)
    with pytest.raises(
        psycopg.errors.RestrictViolation, match="Cannot update or delete rows from withdrawals_withdrawalevent"
    ):
        runtime_sql(
            "SELECT set_config('pgtrigger.ignore', '{withdrawals_withdrawalevent:withdrawal_event_append_only}', true);"
            f" UPDATE withdrawals_withdrawalevent SET to_status = 'approved' WHERE withdrawal_id = {w.id}"
        )
    assert WithdrawalEvent.objects.filter(withdrawal=w).first().to_status == Status.REQUESTED


def test_a_payout_instruction_keeps_its_withdrawal_bank_and_answer(runtime_sql, desk):
    """The instruction names what the bank was asked to pay and what it
    answered: moved to another withdrawal or bank, or its answer rewritten,
    the books and the bank's statement no longer meet."""
    refused = sent(desk, approved(desk, card_number=CARD_CLOSED))
    paid = sent(desk, approved(desk))
    assert (refused.status, paid.status) == (Status.FAILED, Status.PAID)
    instruction = PayoutInstruction.objects.get(withdrawal=refused)
    for change in (
        f"withdrawal_id = {paid.id}",
        f"bank_id = {desk.bank_b.id}",
        "attempt = 2",
        "status = 'succeeded'",
        "instruction_no = 'X1'",
    ):
        with pytest.raises(psycopg.errors.RestrictViolation, match=f"payout instruction {instruction.instruction_no}"):
            runtime_sql(f"UPDATE withdrawals_payoutinstruction SET {change} WHERE id = %s", [instruction.id])
    assert PayoutInstruction.objects.get(pk=instruction.pk).status == "failed"


def test_a_settlement_once_recorded_stays(runtime_sql, desk):
    paid = sent(desk, approved(desk))
    another = desk.ledger.recharge(desk.ledger.cash(), "1")
    with pytest.raises(psycopg.errors.RestrictViolation, match=f"settlement_id {FIXED}"):
        runtime_sql("UPDATE withdrawals_withdrawal SET settlement_id = %s WHERE id = %s", [another.serial_no, paid.id])
    assert desk.fresh(paid).settlement_id == paid.settlement_id
