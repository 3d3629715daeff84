"""The task outbox (accounts/kernel/tasks.py, issue 18 §2): with a broker,
work that must follow a commit is a row written in the same transaction;
published after the commit, kept when the broker does not answer, and sent
once by the sweep when it is back.

The broker here is a stand-in for ``current_app.send_task`` that can be
down (it raises kombu's OperationalError, as a refused Redis connection
does); everything else is the real code on the real database. The real
Redis, stopped mid-request, is in tests/withdrawals/test_broker_outage.py.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from celery import current_app
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts.kernel import tasks as kernel_tasks
from accounts.kernel.models import PendingTask
from accounts.kernel.tasks import enqueue_now, enqueue_on_commit, pending_tasks_send

TASK = "tests.accounts.test_kernel.remember"


class Broker:
    def __init__(self):
        self.up = True
        self.sent = []
        self.gate = None  # an Event the publish waits on, to hold a sweep mid-send

    def send_task(self, name, args=(), kwargs=None, countdown=None, **options):
        if self.gate is not None:
            self.gate.wait(10)
        if not self.up:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")
        assert options.get("ignore_result") is True  # no wait on the result store
        self.sent.append((name, list(args), countdown))
        return f"id-{len(self.sent)}"


@pytest.fixture
def broker(monkeypatch, settings):
    fake = Broker()
    monkeypatch.setitem(current_app.conf, "task_always_eager", False)
    monkeypatch.setattr(current_app, "send_task", fake.send_task)
    settings.TASK_OUTBOX_RESEND_SECONDS = 60
    return fake


def age(seconds: float) -> None:
    PendingTask.objects.update(created_at=timezone.now() - timedelta(seconds=seconds))


@pytest.mark.django_db(transaction=True)
def test_the_request_for_work_commits_with_the_transaction_and_is_sent_after_it(broker):
    with transaction.atomic():
        enqueue_on_commit(TASK, 7)
        assert list(PendingTask.objects.values_list("task_name", "args")) == [(TASK, [7])]
        assert broker.sent == []  # not before the commit
    assert broker.sent == [(TASK, [7], None)]
    assert not PendingTask.objects.exists()  # sent: nothing left to sweep


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_no_request_for_work(broker):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit(TASK, 8)
        raise RuntimeError("refused")
    assert broker.sent == [] and not PendingTask.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_delays_the_work_and_never_loses_it(broker):
    broker.up = False
    with transaction.atomic():
        PendingTask.objects.create(task_name="a.committed.row")  # stands for the caller's own write
        enqueue_on_commit(TASK, 9)
    # The commit stood and nothing was raised to the caller.
    kept = PendingTask.objects.get(task_name=TASK)
    assert kept.args == [9] and kept.attempts == 1 and "Connection refused" in kept.last_error
    PendingTask.objects.filter(task_name="a.committed.row").delete()

    assert pending_tasks_send() == 0  # too young: its request may still be publishing it
    age(61)
    assert pending_tasks_send() == 0  # the broker is still down
    assert PendingTask.objects.get().attempts == 2

    broker.up = True
    assert pending_tasks_send() == 1
    assert broker.sent == [(TASK, [9], None)]
    assert pending_tasks_send() == 0 and broker.sent == [(TASK, [9], None)]  # sent once
    assert not PendingTask.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_delay_counts_from_the_request_not_from_the_late_publish(broker):
    broker.up = False
    enqueue_on_commit(TASK, 10, countdown=30)
    enqueue_on_commit(TASK, 11, countdown=300)
    age(90)
    broker.up = True
    assert pending_tasks_send() == 2
    (_, _, first), (_, _, second) = broker.sent
    assert first == 0.0 and 209 <= second <= 210


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_send_a_task_once(broker):
    broker.up = False
    enqueue_on_commit(TASK, 12)
    age(61)
    broker.up = True
    broker.gate = threading.Event()
    counts = []

    def sweep():
        try:
            counts.append(pending_tasks_send())
        finally:
            connection.close()

    first = threading.Thread(target=sweep)
    first.start()
    # The first sweep holds the row (waiting on the broker); the second skips it.
    for _ in range(100):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'kernel_pendingtask' AND l.mode = 'RowShareLock'"
            )
            if cursor.fetchone()[0]:
                break
        threading.Event().wait(0.05)
    broker_gate, broker.gate = broker.gate, None
    second = pending_tasks_send()
    broker_gate.set()
    first.join(10)
    assert sorted(counts + [second]) == [0, 1]
    assert broker.sent == [(TASK, [12], None)]


@pytest.mark.django_db(transaction=True)
def test_a_staff_run_says_whether_the_broker_took_it(broker):
    assert enqueue_now(TASK, (1,)) == "id-1"
    broker.up = False
    assert enqueue_now(TASK, (2,)) is None  # kept: the page says it runs when the queue is back
    assert list(PendingTask.objects.values_list("args", flat=True)) == [[2]]


@pytest.mark.django_db
def test_without_a_broker_the_task_runs_here_and_no_row_is_written(django_capture_on_commit_callbacks):
    from .test_kernel import SEEN

    SEEN.clear()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            enqueue_on_commit(TASK, 13)
    assert SEEN == [13] and not PendingTask.objects.exists()
    assert kernel_tasks.current_app.conf.task_always_eager
