"""The follow-up sweep (withdrawals.services.withdrawal_followups_requeue,
issue 18 §2): a request whose automatic review never ran, an instruction
never handed to its bank, are queued again once overdue; the dashboard
counts them. Celery is eager here: what the sweep queues runs at once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.kernel import tasks as kernel_tasks
from accounts.kernel.models import PendingTask
from postings.models import Hold
from withdrawals.models import InstructionStatus, PayoutInstruction, Status, Withdrawal
from withdrawals.services import (
    AUTO_REVIEW,
    TRANSMIT,
    Requeued,
    payout_send,
    payouts_query_unanswered,
    withdrawal_approve,
    withdrawal_followups_requeue,
)

from ..conftest import as_owner_bypassing_guards

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lost(monkeypatch):
    """The follow-up tasks are lost (a message dropped on the way), until the test says otherwise."""
    state = {"on": True, "names": {AUTO_REVIEW, TRANSMIT}}
    send = kernel_tasks.send_task

    def maybe_lose(task_name, args=(), kwargs=None, **options):
        if state["on"] and task_name in state["names"]:
            return None
        return send(task_name, args, kwargs, **options)

    monkeypatch.setattr(kernel_tasks, "send_task", maybe_lose)
    return state


def overdue(model, **filters):
    with as_owner_bypassing_guards():  # a withdrawal's created_at is fixed for any runtime connection
        model.objects.filter(**filters).update(
            **{"created_at" if model is Withdrawal else "sent_at": timezone.now() - timedelta(seconds=301)}
        )


def test_a_request_never_reviewed_is_reviewed_by_the_sweep(desk, lost):
    w = desk.request("100.00")
    young = desk.request("50.00")
    assert desk.fresh(w).status == Status.REQUESTED
    assert withdrawal_followups_requeue() == Requeued(0, 0)  # not overdue yet

    overdue(Withdrawal, pk=w.pk)
    lost["on"] = False
    assert withdrawal_followups_requeue() == Requeued(1, 0)
    assert desk.fresh(w).status == Status.IN_REVIEW  # the rules ran: a new card
    assert desk.fresh(young).status == Status.REQUESTED  # its review may still be on its way
    assert Hold.objects.get(pk=w.hold_id).amount == Decimal("102.00")  # still frozen, once
    assert withdrawal_followups_requeue() == Requeued(0, 0)


def test_a_review_waiting_in_the_outbox_is_not_queued_twice(desk, lost):
    w = desk.request("100.00")
    overdue(Withdrawal, pk=w.pk)
    PendingTask.objects.create(task_name=AUTO_REVIEW, args=[w.id])  # a publish that failed
    assert withdrawal_followups_requeue() == Requeued(0, 0)
    assert PendingTask.objects.count() == 1


def test_an_instruction_never_transmitted_is_transmitted_by_the_sweep(desk, lost):
    lost["names"] = {TRANSMIT}
    w = desk.request("100.00")
    withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"), reason="ok")
    instruction = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    assert PayoutInstruction.objects.get(pk=instruction.pk).bank_ref == ""
    overdue(PayoutInstruction, pk=instruction.pk)

    lost["on"] = False
    assert withdrawal_followups_requeue() == Requeued(0, 1)
    done = PayoutInstruction.objects.get(pk=instruction.pk)
    assert done.bank_ref == f"SBX-{instruction.instruction_no}"
    assert done.status == InstructionStatus.SUCCEEDED and desk.fresh(w).status == Status.PAID  # the bank called back
    assert withdrawal_followups_requeue() == Requeued(0, 0)


def test_the_query_leaves_an_instruction_never_transmitted_to_the_sweep(desk, lost, settings):
    """No bank can answer for an order it never received (the sandbox would
    say "paid" from the card number alone): the query skips it, so the money
    is settled only after the order went to the bank."""
    lost["names"] = {TRANSMIT}
    w = desk.request("100.00")
    withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"), reason="ok")
    instruction = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    overdue(PayoutInstruction, pk=instruction.pk)
    settings.PAYOUT_QUERY_AFTER_SECONDS = 0

    assert payouts_query_unanswered() == 0
    assert desk.fresh(w).status == Status.PAYING
    assert PayoutInstruction.objects.get(pk=instruction.pk).status == InstructionStatus.SENT


def test_the_dashboard_counts_the_overdue_follow_ups(desk, lost):
    w = desk.request("100.00")
    desk.request("50.00")
    overdue(Withdrawal, pk=w.pk)
    PendingTask.objects.create(task_name=AUTO_REVIEW, args=[w.id], created_at=timezone.now() - timedelta(minutes=5))
    client = Client()
    client.force_login(desk.user("Auditor"))
    body = client.get(reverse("withdrawals:dashboard")).content.decode()
    tile = body[body.index('id="tile-followups"') :]
    tile = tile[: tile.index("</div>\n  </div>")]
    assert '<div class="n">1</div>' in tile
    assert "1 not reviewed after 5 min" in tile
    assert "0 instructions not handed to the bank" in tile
    assert "1 tasks waiting for the task queue" in tile
    assert 'tile alert" id="tile-followups"' in body
