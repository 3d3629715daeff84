"""The task outbox: work a transaction asked for, kept until a broker took it.

``tasks.enqueue_on_commit`` writes a ``PendingTask`` in the caller's
transaction, so the request for work commits, or rolls back, with the rows
that made it necessary. After the commit the task is published and its row
deleted; when the broker does not answer the row stays, and the periodic
``tasks.pending_tasks_send`` publishes it once the broker is back. A row is
therefore a task no broker has acknowledged yet: a broker outage delays the
work, it never loses it.
"""

from django.db import models
from django.utils import timezone


class PendingTask(models.Model):
    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    # A delay asked for (a bank's callback): counted from created_at, so a
    # late publish does not add the outage to it.
    countdown = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)  # publishes that failed
    last_error = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["created_at"]), models.Index(fields=["task_name"])]

    def __str__(self):
        return f"{self.task_name}{tuple(self.args)}"
