"""Spreadsheets written by a worker, of any kind (``reports.exporting.services``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "queued (排队中)"
    RUNNING = "running", "being written (生成中)"
    DONE = "done", "ready (可下载)"
    FAILED = "failed", "failed (失败)"


class Export(models.Model):
    """A spreadsheet written by a worker rather than inside the request (68,000
    differences took a minute to write there): its kind (what it lists, a
    registered ``ExportKind``), the criteria of the page it was asked from,
    how far the writing has got, and the file once it is written, for the
    person who asked. Kept in the database, which the web processes and the
    workers share; dropped a day after it was asked for."""

    kind = models.CharField(max_length=32, default="differences")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    # The kind's own criteria as plain values (codes, ISO dates), as the page's filter gave them.
    criteria = models.JSONField()
    file_name = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    content = models.BinaryField(default=b"")
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = "export"
        ordering = ["-requested_at"]
        default_permissions = ()  # no admin: each export is its requester's own download

    def __str__(self):
        return f"export {self.pk} {self.kind} {self.file_name} {self.status}"

    @property
    def percent(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_done * 100 // self.rows_total)
