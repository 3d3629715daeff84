"""Work queued after a commit, by task name, so that a service never imports
a tasks module (which imports the services: the circle issue 17 removed).

The task is looked up in the Celery app's registry when the commit happens
and queued with ``delay``, which honours ``CELERY_TASK_ALWAYS_EAGER`` (the
demo without a broker runs it in-process; ``send_task`` would not). A
shared helper for every app is coming in ``accounts/kernel``; this one is
private to ``reports`` until then.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction


def enqueue(name: str, *args, **kwargs):
    """Queue the task registered as ``name`` now; its AsyncResult."""
    return _task(name).delay(*args, **kwargs)


def _task(name: str):
    try:
        return current_app.tasks[name]
    except KeyError:
        # A web process imports no tasks module by itself: Celery's
        # autodiscovery registers them when asked to load the apps' modules.
        current_app.loader.import_default_modules()
        return current_app.tasks[name]


def enqueue_on_commit(name: str, *args, **kwargs) -> None:
    """Queue the task registered as ``name`` once the current transaction commits."""
    transaction.on_commit(lambda: enqueue(name, *args, **kwargs))
