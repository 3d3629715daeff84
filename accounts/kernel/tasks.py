"""Work that must follow a commit, enqueued by task name, and kept until a
broker has it.

A service never imports the module of its tasks (the tasks import the
services, so the other way round is a circle): it names the task, and the
task is sent once the transaction that made the work necessary commits, so
a worker never looks for a row that is not there yet, and a rolled-back
request queues nothing.

With a broker, the request for work is itself a row (``models.PendingTask``,
the outbox) written in the caller's transaction: after the commit the task is
published and the row deleted. A broker that does not answer (Redis down)
leaves the row, logs a warning and raises nothing: the caller's transaction
has committed, and its answer must say so, not turn into an error that
claims nothing was done. ``pending_tasks_send`` (Celery beat, every minute)
publishes the rows left over once the broker is back. A task may therefore
arrive twice (published, then the row's delete lost): every task enqueued
here must be safe to run twice, and is.

Without a broker (``CELERY_TASK_ALWAYS_EAGER``: the demo and most tests) the
task runs here after the commit, as ``delay`` would have run it, and no row
is written: there is no broker to lose it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from importlib import import_module

from celery import current_app, shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import governance
from .models import PendingTask

log = logging.getLogger(__name__)

# A sweep of the outbox publishes at most this many rows (the next sweep, a
# minute later, takes the rest).
SWEEP_BATCH = 1000


def enqueue_on_commit(task_name: str, *args, countdown: float | None = None, **kwargs) -> None:
    """Send ``task_name`` (the registered name, ``app.module.function``) with
    ``args`` after the current transaction commits (at once outside one).

    Without a broker the task runs here, in this process; ``countdown`` is
    then ignored, as Celery's eager mode ignores it. With one, the request is
    recorded in the transaction (the outbox) and published after the commit;
    a failed publish is left to ``pending_tasks_send``.
    """
    if current_app.conf.task_always_eager:
        transaction.on_commit(lambda: send_task(task_name, args, kwargs, countdown=countdown))
        return
    pending = _record(task_name, args, kwargs, countdown)
    # robust: whatever the publish does, the commit it follows stands and the
    # caller gets its answer.
    transaction.on_commit(lambda: _publish(pending), robust=True)


def enqueue_now(task_name: str, args=(), kwargs=None):
    """Send a task a person asked for (a staff page's "run now") and say
    whether it went: the task's result (eager: it has run here, errors
    raised), its ``AsyncResult`` (the broker took it), or None when the broker
    did not answer; the task is then kept in the outbox and sent, by
    ``pending_tasks_send``, once the broker is back."""
    if current_app.conf.task_always_eager:
        return send_task(task_name, args, kwargs)
    with transaction.atomic():
        pending = _record(task_name, args, kwargs or {}, None)
    return _publish(pending)


def send_task(task_name: str, args=(), kwargs=None, *, countdown: float | None = None):
    """Send (or, eager, run) one task by name now; a broker that cannot be
    reached raises (kombu's OperationalError), within the bounded retry of
    ``CELERY_TASK_PUBLISH_RETRY_POLICY``."""
    app = current_app
    if app.conf.task_always_eager:
        # delay() runs it here and honours CELERY_TASK_EAGER_PROPAGATES.
        return task_by_name(task_name).delay(*args, **(kwargs or {}))
    # A broker needs only the name: the worker that takes it has the task.
    # ignore_result: nobody waits on these; and waiting would subscribe this
    # process to the result store, which retries for 20 s when Redis is down.
    return app.send_task(task_name, args=args, kwargs=kwargs or {}, countdown=countdown, ignore_result=True)


def task_by_name(task_name: str):
    """The registered task ``task_name``; its module is imported first when
    this process has not loaded it (a web process imports no tasks module)."""
    app = current_app
    if task_name not in app.tasks:
        import_module(task_name.rsplit(".", 1)[0])  # registers the task
    return app.tasks[task_name]


def pending_args(task_name: str) -> set[tuple]:
    """The arguments of every ``task_name`` still waiting in the outbox, so a
    sweep that re-queues stalled work does not queue it again."""
    return {tuple(args) for args in PendingTask.objects.filter(task_name=task_name).values_list("args", flat=True)}


def pending_tasks_overdue():
    """Outbox rows older than ``TASK_OUTBOX_RESEND_SECONDS``: their publish
    failed (or the process died before it) and the sweep has not sent them."""
    return PendingTask.objects.filter(created_at__lt=_resend_cutoff())


def pending_tasks_send() -> int:
    """Publish the outbox rows older than ``TASK_OUTBOX_RESEND_SECONDS`` (a
    younger row is still being published by the request that wrote it).
    Each row is locked while it is sent, and skipped if another sweep holds
    it, so two sweeps send it once. Stops at the first failure: the broker
    is still away. Returns how many were sent."""
    ids = list(
        PendingTask.objects.filter(created_at__lt=_resend_cutoff())
        .order_by("id")
        .values_list("id", flat=True)[:SWEEP_BATCH]
    )
    sent = 0
    for pk in ids:
        with transaction.atomic():
            pending = PendingTask.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if pending is None:  # sent meanwhile, or another sweep has it
                continue
            try:
                send_task(pending.task_name, pending.args, pending.kwargs, countdown=_countdown_left(pending))
            except Exception as exc:  # noqa: BLE001 - any failure to publish leaves the row for the next sweep
                _failed(pending, exc)
                return sent
            pending.delete()
            sent += 1
    return sent


@shared_task(name="accounts.kernel.tasks.pending_tasks_send")
def pending_tasks_send_task() -> int:
    return pending_tasks_send()


def _record(task_name: str, args, kwargs, countdown) -> PendingTask:
    return PendingTask.objects.create(task_name=task_name, args=list(args), kwargs=kwargs, countdown=countdown)


def _publish(pending: PendingTask):
    """Publish one outbox row and delete it; on failure keep it (the sweep
    sends it) and return None."""
    try:
        result = send_task(pending.task_name, pending.args, pending.kwargs, countdown=_countdown_left(pending))
    except Exception as exc:  # noqa: BLE001 - the commit stands whatever the broker does; the row keeps the work
        _failed(pending, exc)
        return None
    PendingTask.objects.filter(pk=pending.pk).delete()
    return result


def _failed(pending: PendingTask, exc: Exception) -> None:
    log.warning(
        "task %s%s not published (%s); kept in the outbox, sent when the broker is back",
        pending.task_name,
        tuple(pending.args),
        exc,
    )
    PendingTask.objects.filter(pk=pending.pk).update(
        attempts=pending.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:255]
    )


def _countdown_left(pending: PendingTask) -> float | None:
    if pending.countdown is None:
        return None
    left = pending.countdown - (timezone.now() - pending.created_at).total_seconds()
    return max(0.0, left)


def _resend_cutoff():
    return timezone.now() - timedelta(seconds=settings.TASK_OUTBOX_RESEND_SECONDS)


@shared_task(name="accounts.kernel.tasks.setting_changes_apply_due")
def setting_changes_apply_due() -> list[int]:
    """Write the approved setting changes whose effective-from time has come
    (accounts.kernel.governance); safe to run twice at once."""
    return governance.setting_changes_apply_due()
