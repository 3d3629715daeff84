"""The task outbox: work a transaction asked for, kept until a broker took it.

``tasks.enqueue_on_commit`` writes a ``PendingTask`` in the caller's
transaction, so the request for work commits, or rolls back, with the rows
that made it necessary. After the commit the task is published and its row
deleted; when the broker does not answer the row stays, and the periodic
``tasks.pending_tasks_send`` publishes it once the broker is back. A row is
therefore a task no broker has acknowledged yet: a broker outage delays the
work, it never loses it.
"""

from django.conf import settings
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


class SettingChangeStatus(models.TextChoices):
    PROPOSED = "proposed", "proposed (待复核)"
    # Approved with an effective-from time still to come: the values in
    # force stay until setting_changes_apply_due writes these (待生效).
    SCHEDULED = "scheduled", "approved, effective later (待生效)"
    APPROVED = "approved", "approved (已生效)"
    REJECTED = "rejected", "rejected (已驳回)"


class SettingChange(models.Model):
    """A change of a control setting (posting rule, fee rule, review rule,
    account type, paying bank), proposed by one ledger admin and in force
    only once a second one approves it (maker-checker, 双人复核).

    The row is the setting's history with values: the whole setting before
    (``old_values``, empty for a new one) and as proposed (``new_values``),
    who proposed and who decided, and the version the approval made.
    PostgreSQL refuses to delete a row or to change one after its decision
    (migration 0004), so the history cannot be rewritten from the ORM.
    """

    model = models.CharField(max_length=64, help_text="app_label.model_name of the setting.")
    object_id = models.CharField(max_length=64, blank=True, help_text="Empty: proposes a new setting.")
    object_repr = models.CharField("setting", max_length=255)
    old_values = models.JSONField(default=dict, blank=True)
    new_values = models.JSONField(default=dict)
    reason = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=SettingChangeStatus.choices, default=SettingChangeStatus.PROPOSED)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=255, blank=True)
    effective_from = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Proposed: when the values are to take effect (empty: at approval). "
        "Approved: the time they are in force from.",
    )
    applied_at = models.DateTimeField(
        null=True, blank=True, help_text="When the values were written into the setting (in force since)."
    )
    version = models.PositiveIntegerField(null=True, blank=True, help_text="The setting's version the approval made.")

    class Meta:
        verbose_name = "setting change (配置变更)"
        ordering = ["-id"]
        indexes = [models.Index(fields=["model", "object_id"]), models.Index(fields=["status"])]
        permissions = [("approve_settingchange", "Can approve or reject another admin's change of a control setting")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="proposed")
                | (
                    models.Q(decided_by__isnull=False, decided_at__isnull=False)
                    & ~models.Q(decided_by=models.F("proposed_by"))
                ),
                name="setting_change_decided_by_another",
            )
        ]

    def __str__(self):
        return f"C{self.pk} {self.object_repr}"
