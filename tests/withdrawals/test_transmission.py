"""Payout transmission calls the bank with no database transaction open.

A bank can take seconds (or a minute) to accept an instruction. The
transmission claims the instruction and commits, calls the bank, then
records the bank's reference in a new transaction: meanwhile cashiers,
reviewers and the bank's own callback can lock the withdrawal and the
instruction. Real threads on real PostgreSQL connections; the sandbox bank
is held inside ``send`` until the test lets it go.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.kernel import tasks as kernel_tasks
from withdrawals import sandbox
from withdrawals.models import InstructionStatus, PayoutInstruction, Status, Withdrawal
from withdrawals.services import TRANSMIT_CLAIM_SECONDS, payout_send, payout_transmit, withdrawal_approve

from .conftest import CARD_SILENT_PAID

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def held_transmissions(monkeypatch):
    """Transmissions the services enqueue are caught (the test runs them)."""
    caught = []
    send = kernel_tasks.send_task

    def catch(task_name, args=(), kwargs=None, **options):
        if task_name == "withdrawals.tasks.payout_transmit":
            caught.append(args[0])
            return None
        return send(task_name, args, kwargs, **options)

    monkeypatch.setattr(kernel_tasks, "send_task", catch)
    return caught


@pytest.fixture
def slow_bank(monkeypatch):
    """The sandbox bank, held inside ``send`` until ``release`` is set."""
    bank = type("SlowBank", (), {})()
    bank.entered, bank.release, bank.sent = threading.Event(), threading.Event(), []
    original = sandbox.SandboxBank.send

    def send(self, order):
        bank.sent.append(order.instruction_no)
        bank.in_transaction = connection.in_atomic_block
        bank.entered.set()
        assert bank.release.wait(timeout=30), "the test never released the bank"
        return original(self, order)

    monkeypatch.setattr(sandbox.SandboxBank, "send", send)
    return bank


def paying(desk):
    w = desk.request("100.00", card_number=CARD_SILENT_PAID)
    if desk.fresh(w).status == Status.IN_REVIEW:
        withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"))
    return payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))


def test_a_slow_bank_holds_no_lock_and_is_called_once(desk, held_transmissions, slow_bank):
    instruction = paying(desk)
    assert held_transmissions == [instruction.id]
    outcome = {}

    def transmit():
        try:
            outcome["result"] = payout_transmit(instruction_id=instruction.id)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcome["result"] = exc
        finally:
            connection.close()

    first = threading.Thread(target=transmit)
    first.start()
    try:
        assert slow_bank.entered.wait(timeout=30), "the bank was never called"
        assert slow_bank.in_transaction is False  # no transaction open around the call
        # While the bank thinks: the rows the payout flow locks are free
        # (NOWAIT fails at once if anyone holds them).
        with transaction.atomic():
            Withdrawal.objects.select_for_update(nowait=True).get(pk=instruction.withdrawal_id)
            PayoutInstruction.objects.select_for_update(nowait=True).get(pk=instruction.id)
        # A retry of the task meanwhile finds the claim and sends nothing.
        retry = payout_transmit(instruction_id=instruction.id)
        assert retry.bank_ref == "" and retry.transmitting_at is not None
    finally:
        slow_bank.release.set()
        first.join(timeout=60)
    assert not first.is_alive()
    result = outcome["result"]
    assert not isinstance(result, BaseException), result
    assert result.bank_ref == f"SBX-{instruction.instruction_no}"
    assert slow_bank.sent == [instruction.instruction_no]
    assert PayoutInstruction.objects.get(pk=instruction.id).status == InstructionStatus.SENT  # the answer comes later


def test_a_claim_whose_run_died_is_taken_over(desk, held_transmissions):
    instruction = paying(desk)
    # A run claimed it, then died before the bank answered (no bank_ref).
    stale = timezone.now() - timedelta(seconds=TRANSMIT_CLAIM_SECONDS + 1)
    PayoutInstruction.objects.filter(pk=instruction.id).update(transmitting_at=stale)
    assert payout_transmit(instruction_id=instruction.id).bank_ref == f"SBX-{instruction.instruction_no}"

    # A fresh claim is respected.
    other = paying(desk)
    PayoutInstruction.objects.filter(pk=other.id).update(transmitting_at=timezone.now())
    assert payout_transmit(instruction_id=other.id).bank_ref == ""
