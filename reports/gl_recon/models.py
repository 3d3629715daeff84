"""GL reconciliation: a ``GlImport`` is one uploaded trial balance (科目余额表)
of the general ledger for an entity and date (or a period: a month or a
year, ending on that date), with its ``GlImportRow``s;
differences against the ledger's subject totals are computed on reading
(``reports.gl_recon.selectors``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Entity, money_field


class GlImport(models.Model):
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    accounting_date = models.DateField()
    # A period's trial balance (a month, a year: issue 22 section 2) covers
    # period_start .. accounting_date, the period's last day; none: one day's.
    period_start = models.DateField(null=True, blank=True)
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    row_count = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "GL trial balance import"
        ordering = ["-uploaded_at"]
        constraints = [models.UniqueConstraint(fields=["file_sha256"], name="gl_import_unique_file")]


class GlImportRow(models.Model):
    gl_import = models.ForeignKey(GlImport, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField()
    subject_code = models.CharField(max_length=16)
    currency = models.CharField(max_length=3)
    opening = money_field()
    debit = money_field()
    credit = money_field()
    closing = money_field()

    class Meta:
        ordering = ["line"]
        constraints = [
            models.UniqueConstraint(fields=["gl_import", "subject_code", "currency"], name="gl_row_unique_subject")
        ]
