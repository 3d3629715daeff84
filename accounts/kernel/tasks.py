"""Work that must follow a commit, enqueued by task name.

A service never imports the module of its tasks (the tasks import the
services, so the other way round is a circle): it names the task, and the
task is sent once the transaction that made the work necessary commits, so
a worker never looks for a row that is not there yet, and a rolled-back
request queues nothing.
"""

from __future__ import annotations

from importlib import import_module

from celery import current_app
from django.db import transaction


def enqueue_on_commit(task_name: str, *args, countdown: float | None = None, **kwargs) -> None:
    """Send ``task_name`` (the registered name, ``app.module.function``) with
    ``args`` after the current transaction commits (at once outside one).

    Without a broker (``CELERY_TASK_ALWAYS_EAGER``: the demo and the tests)
    the task runs here, in this process, as ``delay`` would have run it;
    ``countdown`` is then ignored, as Celery's eager mode ignores it.
    """
    transaction.on_commit(lambda: send_task(task_name, args, kwargs, countdown=countdown))


def send_task(task_name: str, args=(), kwargs=None, *, countdown: float | None = None):
    """Send (or, eager, run) one task by name now."""
    app = current_app
    if app.conf.task_always_eager:
        # delay() runs it here and honours CELERY_TASK_EAGER_PROPAGATES.
        return task_by_name(task_name).delay(*args, **(kwargs or {}))
    # A broker needs only the name: the worker that takes it has the task.
    return app.send_task(task_name, args=args, kwargs=kwargs or {}, countdown=countdown)


def task_by_name(task_name: str):
    """The registered task ``task_name``; its module is imported first when
    this process has not loaded it (a web process imports no tasks module)."""
    app = current_app
    if task_name not in app.tasks:
        import_module(task_name.rsplit(".", 1)[0])  # registers the task
    return app.tasks[task_name]
