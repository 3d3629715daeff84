"""The sandbox bank: a ``BankGateway`` for the demo and the tests, and the
task that plays its asynchronous callbacks. The table of what it answers for
which card number is in ``withdrawals/gateways.py``.

Registered as ``settings.BANK_GATEWAYS["sandbox"]``; the callback task is
registered with the other withdrawal tasks (``withdrawals.tasks`` imports
this module), under the name it has always had.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from accounts.kernel.tasks import enqueue_on_commit

from . import services
from .gateways import FAILED, PROCESSING, SUCCEEDED, BankAnswer, PaymentOrder
from .models import PayoutInstruction

CALLBACK_TASK = "withdrawals.tasks.sandbox_bank_callback"


def sandbox_answer(order: PaymentOrder) -> BankAnswer:
    """What the sandbox bank decides for an order, from its card number."""
    tail = order.card_number[-4:]
    ref = f"SBX-{order.instruction_no}"
    if tail == "0000":
        return BankAnswer(FAILED, ref, "card closed at the bank (卡已销户)")
    if tail == "1111":
        return BankAnswer(FAILED, ref, "holder name does not match the card (户名不符)")
    if tail == "3333" and order.attempt == 1:
        return BankAnswer(FAILED, ref, "bank busy, try again (银行繁忙)")
    if tail == "8888":
        return BankAnswer(FAILED, ref, "card frozen by the bank (卡片冻结)")
    if tail == "7777":
        return BankAnswer(PROCESSING, ref)
    return BankAnswer(SUCCEEDED, ref)


def sandbox_callbacks(order: PaymentOrder) -> int:
    """How many times the sandbox bank calls back for an order."""
    tail = order.card_number[-4:]
    if tail in {"9999", "8888", "7777"}:
        return 0
    return 2 if tail == "2222" else 1


class SandboxBank:
    """Accepts every instruction and calls back after
    ``settings.SANDBOX_BANK_CALLBACK_SECONDS`` through a Celery task, as a
    bank's asynchronous notification would arrive."""

    def send(self, order: PaymentOrder) -> str:
        delay = settings.SANDBOX_BANK_CALLBACK_SECONDS
        for _ in range(sandbox_callbacks(order)):
            enqueue_on_commit(CALLBACK_TASK, order.instruction_no, countdown=delay)
        return f"SBX-{order.instruction_no}"

    def query(self, order: PaymentOrder) -> BankAnswer:
        return sandbox_answer(order)


@shared_task(name=CALLBACK_TASK)
def sandbox_bank_callback(instruction_no: str) -> str:
    """The sandbox bank's asynchronous notification of an outcome."""
    instruction = PayoutInstruction.objects.select_related("withdrawal", "bank").get(instruction_no=instruction_no)
    answer = sandbox_answer(services.payment_order(instruction))
    return services.payout_answer_record(
        instruction_no=instruction_no,
        outcome=answer.outcome,
        bank_ref=answer.bank_ref,
        reason=answer.reason,
        source="callback",
    ).status
