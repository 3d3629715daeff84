"""The close certificate (日结单) of an entity's day (issue 22 section 5).

When the end of day has closed a day, a certificate is drafted that seals
what the day left behind, each part as a SHA-256 someone else can recompute
(docs/hash_chain.md says how):

- the day's entries: their count and the root over their hashes, each of
  which chains to every earlier entry of its account (postings/sql/entry_hash.sql);
- the balance sheet (余额表) of the day: its rows and their hash;
- the checks and their results;
- the day's vouchers (each one's content hash) and the exports that carried
  them to the GL (each file's checksums);
- the reconciliation: the GL's trial balance and the channels' statements
  for the day, and the ages of the differences still open;
- the previous certificate's hash, so that the certificates form a chain
  of their own, and its own hash over all of the above.

Status: draft -> signed (a first member of finance signed it) -> co-signed
(a second, different one did). A draft may be redrafted (after the vouchers
were exported, a statement reconciled); once signed, nothing but the
co-signature changes, and nothing is ever deleted: the database refuses it
(reports/sql/certificates.sql), whoever writes.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from accounts.models import Entity

# The ages of open differences, in days: (upper bound or None, label), in order.
AGE_BUCKETS = ((1, "0-1"), (7, "2-7"), (30, "8-30"), (None, "31+"))


class CertificateStatus(models.TextChoices):
    DRAFT = "draft", "draft (待签)"
    SIGNED = "signed", "signed, awaiting a co-signature (已签待复核)"
    COSIGNED = "cosigned", "co-signed (已复核)"


class CloseCertificate(models.Model):
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    accounting_date = models.DateField()
    status = models.CharField(max_length=10, choices=CertificateStatus.choices, default=CertificateStatus.DRAFT)

    entries_count = models.BigIntegerField(default=0)
    entries_root = models.CharField("entries' root hash", max_length=64)
    sheet_rows = models.BigIntegerField(default=0)
    sheet_hash = models.CharField("balance sheet hash", max_length=64)
    # [{"name", "passed", "rows", "summary"}] by name
    checks = models.JSONField(default=list)
    # [{"id", "voucher_no", "kind", "currency", "lines", "sha256"}] by id
    vouchers = models.JSONField(default=list)
    # [{"id", "file_name", "format", "file_sha256", "data_sha256", "vouchers"}] by id
    exports = models.JSONField(default=list)
    # {"gl": {...}, "channels": [...], "open_differences": {...}}
    reconciliation = models.JSONField(default=dict)

    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    previous_hash = models.CharField(max_length=64)
    certificate_hash = models.CharField(max_length=64)

    drafted_at = models.DateTimeField()
    drafted_by = models.CharField(max_length=150)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    cosigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cosigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "close certificate (日结单)"
        ordering = ["-accounting_date", "entity_id"]
        permissions = [
            ("sign_certificate", "Can sign or co-sign a close certificate (日结单签署)"),
            ("verify_ledger", "Can verify the hash chains and close certificates"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["entity", "accounting_date"], name="certificate_unique_day"),
            # Two people, kept by the database whoever writes.
            models.CheckConstraint(
                condition=Q(status="draft", signed_by__isnull=True, cosigned_by__isnull=True)
                | Q(status="signed", signed_by__isnull=False, signed_at__isnull=False, cosigned_by__isnull=True)
                | Q(
                    status="cosigned",
                    signed_by__isnull=False,
                    signed_at__isnull=False,
                    cosigned_by__isnull=False,
                    cosigned_at__isnull=False,
                )
                & ~Q(cosigned_by=F("signed_by")),
                name="certificate_signed_by_two_people",
            ),
        ]

    def __str__(self):
        return f"{self.entity_id} {self.accounting_date} {self.status}"

    @property
    def difference_ages(self) -> list[tuple[str, int]]:
        """The open differences per age, youngest first (JSON keeps no order)."""
        ages = self.reconciliation.get("open_differences", {}).get("ages", {})
        return [(label, ages.get(label, 0)) for _, label in AGE_BUCKETS]
