"""Celery tasks of the withdrawal flow: thin shells over services, each safe
to run twice (the services check the state they are about to change). The
services enqueue them by name after their commit
(``accounts.kernel.tasks.enqueue_on_commit``) and never import this module.
"""

from celery import shared_task

from . import sandbox, services

__all__ = ["sandbox"]  # its callback task is registered with these


@shared_task(name="withdrawals.tasks.withdrawal_auto_review")
def withdrawal_auto_review(withdrawal_id: int) -> str:
    return services.withdrawal_auto_review(withdrawal_id=withdrawal_id).status


@shared_task(name="withdrawals.tasks.payout_transmit")
def payout_transmit(instruction_id: int) -> str:
    return services.payout_transmit(instruction_id=instruction_id).bank_ref


@shared_task(name="withdrawals.tasks.payouts_query_unanswered")
def payouts_query_unanswered() -> int:
    return services.payouts_query_unanswered()


@shared_task(name="withdrawals.tasks.withdrawal_followups_requeue")
def withdrawal_followups_requeue() -> dict:
    requeued = services.withdrawal_followups_requeue()
    return {"reviews": requeued.reviews, "transmissions": requeued.transmissions}
