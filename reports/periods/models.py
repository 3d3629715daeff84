"""Accounting periods (会计期间) and their close (月结 / 年结); issue 22 §2.

A period is a month or a year of one entity. Status: open -> closing (a
staff member proposed the close) -> closed (another one approved it). The
proposer never approves (the database checks it too). A closed period never
changes and its last day becomes the entity's calendar ``closed_through``,
which the database compares with every posting's date
(postings/sql/closed_periods.sql); reopening is not offered: a correction
belonging to a closed period is booked on the open day, names the period it
corrects and is approved like any adjustment.

Closing a month posts the profit-and-loss carry-forward (损益结转), closing a
year moves current-year profit to retained earnings; those postings are
``PeriodClosingPosting``s of the period. They are booked on the open day
(the period's days are closed) but belong to the period they close: the
trial balance and the closing vouchers date them on its last day.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from accounts.models import Entity


class PeriodKind(models.TextChoices):
    MONTH = "month", "month (月)"
    YEAR = "year", "year (年)"


class PeriodStatus(models.TextChoices):
    OPEN = "open", "open (未结账)"
    CLOSING = "closing", "closing (结账待复核)"
    CLOSED = "closed", "closed (已结账)"


class AccountingPeriod(models.Model):
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="periods")
    kind = models.CharField(max_length=8, choices=PeriodKind.choices)
    start_date = models.DateField()
    end_date = models.DateField()
    status = models.CharField(max_length=8, choices=PeriodStatus.choices, default=PeriodStatus.OPEN)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(null=True, blank=True)
    proposal_note = models.CharField(max_length=255, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "accounting period (会计期间)"
        ordering = ["-start_date", "kind"]
        permissions = [
            ("propose_period_close", "Can propose a period close (结账)"),
            ("approve_period_close", "Can approve a period close (结账复核)"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["entity", "kind", "start_date"], name="period_unique"),
            models.CheckConstraint(condition=Q(end_date__gte=F("start_date")), name="period_dates_ordered"),
            # Maker-checker, kept by the database whoever writes.
            models.CheckConstraint(
                condition=~Q(status="closed")
                | Q(approved_by__isnull=False, proposed_by__isnull=False, closed_at__isnull=False)
                & ~Q(approved_by=F("proposed_by")),
                name="period_closed_by_a_second_person",
            ),
            models.CheckConstraint(
                condition=Q(status="open") | Q(proposed_by__isnull=False), name="period_closing_was_proposed"
            ),
        ]

    def __str__(self):
        return f"{self.entity_id}/{self.label} {self.status}"

    @property
    def label(self) -> str:
        return f"{self.start_date:%Y-%m}" if self.kind == PeriodKind.MONTH else f"{self.start_date:%Y}"


class PeriodClosingPosting(models.Model):
    """A posting made by a period's close (one per currency), dated on the
    open day but belonging to the period."""

    period = models.ForeignKey(AccountingPeriod, on_delete=models.PROTECT, related_name="closing_postings")
    posting = models.OneToOneField("postings.Posting", on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["period", "currency"], name="period_closing_posting_unique")]
