"""Opening-balance imports (期初建账): what a company moving to the ledger
brought with it. One import per file (its SHA-256 is unique), the accounts
it opened with their reference in the old system, and the opening posting
of each entity and currency (one each, ever: a second opening of an entity
and currency is refused by the database)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Account, Entity
from postings.models import Posting


class OpeningImport(models.Model):
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64, unique=True)
    accounting_date = models.DateField("accounting date (会计日期)")
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField(auto_now_add=True)
    account_count = models.PositiveIntegerField()
    hold_count = models.PositiveIntegerField()
    # Per entity and currency: assets, liabilities, internal, accounts (as the preview showed them).
    summary = models.JSONField()

    class Meta:
        verbose_name = "opening-balance import (期初建账)"
        ordering = ["-imported_at"]
        permissions = [("import_opening", "Can import opening balances (期初建账)")]

    def __str__(self):
        return f"opening import #{self.pk} {self.file_name}"


class OpeningAccount(models.Model):
    """An account the import opened, with its number in the old system."""

    opening_import = models.ForeignKey(OpeningImport, on_delete=models.PROTECT, related_name="accounts")
    line = models.PositiveIntegerField()
    account_ref = models.CharField("account in the old system", max_length=64, unique=True)
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["line"]


class OpeningPosting(models.Model):
    opening_import = models.ForeignKey(OpeningImport, on_delete=models.PROTECT, related_name="postings")
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    posting = models.OneToOneField(Posting, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["entity", "currency"]
        constraints = [models.UniqueConstraint(fields=["entity", "currency"], name="opening_once_per_entity_currency")]
