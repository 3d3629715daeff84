"""Uploads staged for confirmation: a statement or GL trial balance that was
read and found good is kept here, with what it says (``preview``), until the
member of staff who uploaded it confirms (or it is left to go stale).

Nothing in the ledger's books is written until the confirmation; the row
then records what the upload became (``committed_id``), so a second
confirmation (a double click, a resent form) answers with the same import.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class StagedUpload(models.Model):
    class Kind(models.TextChoices):
        STATEMENT = "statement", "channel statement"
        GL = "gl", "GL trial balance"
        VOUCHER_ACK = "voucher_ack", "GL voucher acknowledgement"
        RESERVE = "reserve", "reserve-fund bank balances"
        OPENING = "opening", "opening balances (期初建账)"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    # The file as uploaded; emptied once committed (the import keeps what it needs).
    content = models.BinaryField()
    # What the upload is for: channel and statement_date, or entity and accounting_date.
    target = models.JSONField()
    preview = models.JSONField()
    committed_id = models.PositiveIntegerField(null=True, blank=True)
    committed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "staged upload"
        ordering = ["-uploaded_at"]

    def __str__(self):
        return f"staged {self.kind} {self.file_name} by {self.uploaded_by_id}"
