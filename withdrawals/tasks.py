"""Celery tasks of the withdrawal flow: thin shells over services, each safe
to run twice (the services check the state they are about to change)."""

from celery import shared_task

from . import gateways, services
from .models import PayoutInstruction


@shared_task(name="withdrawals.tasks.withdrawal_auto_review")
def withdrawal_auto_review(withdrawal_id: int) -> str:
    return services.withdrawal_auto_review(withdrawal_id=withdrawal_id).status


@shared_task(name="withdrawals.tasks.payout_transmit")
def payout_transmit(instruction_id: int) -> str:
    return services.payout_transmit(instruction_id=instruction_id).bank_ref


@shared_task(name="withdrawals.tasks.sandbox_bank_callback")
def sandbox_bank_callback(instruction_no: str) -> str:
    """The sandbox bank's asynchronous notification of an outcome."""
    instruction = PayoutInstruction.objects.select_related("withdrawal", "bank").get(instruction_no=instruction_no)
    answer = gateways.sandbox_answer(services.payment_order(instruction))
    return services.payout_answer_record(
        instruction_no=instruction_no,
        outcome=answer.outcome,
        bank_ref=answer.bank_ref,
        reason=answer.reason,
        source="callback",
    ).status


@shared_task(name="withdrawals.tasks.payouts_query_unanswered")
def payouts_query_unanswered() -> int:
    return services.payouts_query_unanswered()
