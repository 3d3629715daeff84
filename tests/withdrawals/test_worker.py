"""The withdrawal tasks through a real Celery worker on Redis.

In the test process Celery is eager: whatever a service queues after its
commit would run right here. To let the worker do the work, the two
tasks the services enqueue by name (auto review after a request,
transmission after a payout is sent) are caught and recorded instead, and the test sends
those tasks to the worker itself. The worker then does what production does:
reviews, hands the instruction to the sandbox bank, receives the bank's
callback as another task on its queue (SANDBOX_BANK_CALLBACK_SECONDS=0), and
settles.
"""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.kernel import tasks as kernel_tasks
from accounts.models import Account
from withdrawals.models import InstructionStatus, PayoutInstruction, Status, Withdrawal
from withdrawals.services import payout_send, withdrawal_approve

from .books import history, identity_holds
from .conftest import CARD_SILENT_FAILED, CARD_SILENT_PAID

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

D = Decimal


@pytest.fixture
def queued(monkeypatch):
    """The tasks the services would have queued, caught before they run eagerly here."""
    caught = []
    send = kernel_tasks.send_task

    def catch(task_name, args=(), kwargs=None, **options):
        if task_name in {"withdrawals.tasks.withdrawal_auto_review", "withdrawals.tasks.payout_transmit"}:
            caught.append((task_name, *args))
            return None
        return send(task_name, args, kwargs, **options)

    monkeypatch.setattr(kernel_tasks, "send_task", catch)
    return caught


def wait_for(withdrawal, status, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = Withdrawal.objects.get(pk=withdrawal.pk).status
        if current == status:
            return
        time.sleep(0.2)
    raise AssertionError(f"W{withdrawal.id} is still {current} after {timeout}s, expected {status}")


def test_review_transmit_and_callback_on_the_worker(desk, celery_worker_on_redis, queued):
    run = celery_worker_on_redis
    w = desk.request("1234.56")  # fee 2.24
    assert queued == [("withdrawals.tasks.withdrawal_auto_review", w.id)]
    assert desk.fresh(w).status == Status.REQUESTED  # nothing reviewed it in this process

    assert run(*queued.pop()) == Status.IN_REVIEW  # the worker ran the rules: new card
    events = history(w)
    assert events[-1] == (Status.REQUESTED, Status.IN_REVIEW, "system:auto-review", ["new-card"], "")
    # Delivered again (a redelivery after a lost ack): nothing more happens.
    assert run("withdrawals.tasks.withdrawal_auto_review", w.id) == Status.IN_REVIEW
    assert history(w) == events

    withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"))
    instruction = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    assert queued == [("withdrawals.tasks.payout_transmit", instruction.id)]
    assert desk.fresh(w).status == Status.PAYING

    ref = f"SBX-{instruction.instruction_no}"
    assert run(*queued.pop()) == ref  # the worker handed it to the bank, which will call back
    wait_for(w, Status.PAID)
    assert run("withdrawals.tasks.payout_transmit", instruction.id) == ref  # retried: not sent again

    w = desk.fresh(w)
    instruction.refresh_from_db()
    assert (instruction.status, instruction.bank_ref, instruction.duplicate_answers) == (
        InstructionStatus.SUCCEEDED,
        ref,
        0,
    )
    assert history(w)[-1] == (Status.PAYING, Status.PAID, "bank:callback", [], ref)
    member = Account.objects.get(pk=desk.member_account.pk)
    assert (member.balance, member.frozen, member.available) == (D("98763.20"), D("0"), D("98763.20"))
    assert Account.objects.get(pk=desk.bank_a.clearing_account.pk).balance == D("-98765.44")
    assert Account.objects.get(pk=desk.fee_income.pk).balance == D("2.24")
    identity_holds()


def test_the_periodic_query_on_the_worker_answers_silent_payouts(desk, celery_worker_on_redis, queued):
    """Two payouts the bank never calls back about: one it paid, one it refused."""
    run = celery_worker_on_redis
    cashier, reviewer = desk.user("Cashier"), desk.user("Reviewer")
    silent = {}
    for card_number in (CARD_SILENT_PAID, CARD_SILENT_FAILED):
        w = desk.request("400.00", card_number=card_number)  # fee 2.00
        assert run(*queued.pop()) == Status.IN_REVIEW
        withdrawal_approve(withdrawal_id=w.id, user=reviewer)
        instruction = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=cashier)
        assert run(*queued.pop()) == f"SBX-{instruction.instruction_no}"
        silent[card_number] = w
    assert queued == []

    # An absence can only be waited for a while: a callback (delay 0) would have come within this second.
    time.sleep(1)
    assert all(desk.fresh(w).status == Status.PAYING for w in silent.values())
    # The worker queries what has been unanswered for PAYOUT_QUERY_AFTER_SECONDS
    # (60 by default there): make these two old enough.
    PayoutInstruction.objects.update(sent_at=timezone.now() - timedelta(minutes=5))

    assert run("withdrawals.tasks.payouts_query_unanswered") == 2
    paid, refused = desk.fresh(silent[CARD_SILENT_PAID]), desk.fresh(silent[CARD_SILENT_FAILED])
    assert (paid.status, refused.status) == (Status.PAID, Status.FAILED)
    assert history(paid)[-1][1:3] == (Status.PAID, "bank:query")
    assert history(refused)[-1][1:3] == (Status.FAILED, "bank:query")
    assert run("withdrawals.tasks.payouts_query_unanswered") == 0  # nothing left unanswered

    member = Account.objects.get(pk=desk.member_account.pk)
    # 402.00 paid out, 402.00 still frozen for the refused one (to pay again or cancel).
    assert (member.balance, member.frozen) == (D("99598.00"), D("402.00"))
    assert Account.objects.get(pk=desk.fee_income.pk).balance == D("2.00")
    identity_holds()
