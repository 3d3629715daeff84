"""End of day (日终) and what it leaves behind for finance each morning.

An ``EodRun`` is one entity's end of day for one accounting date: the steps
of ``EOD_STEPS`` in order, each recorded as an ``EodStep`` (start, end, rows,
outcome). A failed step stops the run and is retried from that step.

The run writes, for the day:
- ``DailyBalance``: per account with entries that day, opening, debit and
  credit turnover, closing, entry count. Opening is the account's previous
  closing, so building a day reads only that day's entries and movers.
  ``BalanceSheetRow`` (a view) is the sheet users see (余额表): those rows,
  and every other funded account carried as of the day. ``DailyTotal`` sums
  the sheet per subject, category and currency (the previous day's plus the
  day's movers); ``SheetDay`` lists the days built.
- ``CheckResult``: each consistency check, passed or not, with the accounts
  and entries that break it.
- the vouchers (会计凭证) for the general ledger, which have their own
  lifecycle and package: ``reports.vouchers``.

All these rows of a day are rebuilt by re-running it (delete and insert in
one transaction), so they are plain tables, not append-only history.
"""

from __future__ import annotations

from django.db import models

from accounts.models import Account, Entity, money_field

# credit_accrual: the credit product's interest and penalty of the next day,
# on the cut day's close (postings.credit), before the day is marked closed.
EOD_STEPS = ["day_cut", "flush_buffers", "balance_sheet", "checks", "vouchers", "credit_accrual", "advance_day"]


class RunStatus(models.TextChoices):
    RUNNING = "running", "running"
    FAILED = "failed", "failed"
    DONE = "done", "done"


class EodRun(models.Model):
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="eod_runs")
    accounting_date = models.DateField()
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    triggered_by = models.CharField(max_length=150)

    class Meta:
        verbose_name = "end-of-day run (日终)"
        ordering = ["-accounting_date", "entity_id"]
        permissions = [
            ("run_eod", "Can run or retry the end of day"),
            ("import_gl", "Can upload GL trial balances"),
        ]
        constraints = [models.UniqueConstraint(fields=["entity", "accounting_date"], name="eod_run_unique_day")]

    def __str__(self):
        return f"EOD {self.entity_id} {self.accounting_date} {self.status}"


class EodStep(models.Model):
    run = models.ForeignKey(EodRun, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=16)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    rows = models.BigIntegerField(default=0)
    message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["run_id", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="eod_step_unique")]


class DailyBalance(models.Model):
    # A day writes a row per account that moved (and, before the sheet of
    # movers, every funded account), so the table carries only the indexes
    # its readers need and no
    # foreign-key triggers (two million lookups at COMMIT). The rows are
    # built by joining the accounts, which are never deleted (a trigger
    # forbids it), so a dangling reference cannot arise. Indexes: one row per
    # account and day, which also serves an account's days (the account
    # page, ranges); and the day, for a day's sheet (the pages, the GL, the
    # next day's opening). The day's index only grows at its end; the
    # account's takes a day's rows all over, so it is the costly one and
    # there is no third (measured: bench/README.md).
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False)
    accounting_date = models.DateField()
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="daily_balances", db_index=False, db_constraint=False
    )
    # Copied from the account and its type on the day, so totals need no joins
    # and a later chart edit does not rewrite history.
    account_type_code = models.CharField(max_length=32)
    subject_code = models.CharField(max_length=16)
    category = models.CharField(max_length=16)
    currency = models.CharField(max_length=3)
    opening = money_field()
    debit = money_field()
    credit = money_field()
    closing = money_field()
    entry_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "daily balance (余额表)"
        constraints = [models.UniqueConstraint(fields=["account", "accounting_date"], name="daily_balance_unique")]
        indexes = [models.Index(fields=["accounting_date", "entity"], name="daily_balance_day")]


class SheetDay(models.Model):
    """A day with a balance sheet: the days ``BalanceSheetRow`` lists. A
    sparse day (built by this end of day) stores its movers only and carries
    the other accounts; a day that is not (built before it, or written
    directly) stores its whole sheet, and only its own rows are its sheet."""

    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    accounting_date = models.DateField()
    sparse = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entity", "accounting_date"], name="sheet_day_unique")]


class DailyTotal(models.Model):
    """The day's sheet summed per subject, category and currency (every
    account's row of the day, stored or carried): the previous run day's
    totals plus what the day's movers changed. ``weighted`` sums each
    closing times a weight of its account (``ACCOUNT_WEIGHT``), so that two
    drifts that cancel in a plain sum still show; ``nonzero`` counts the
    accounts whose closing is not zero (they are carried to the next day)."""

    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    accounting_date = models.DateField()
    subject_code = models.CharField(max_length=16)
    category = models.CharField(max_length=16)
    currency = models.CharField(max_length=3)
    closing = money_field()
    weighted = models.DecimalField(max_digits=40, decimal_places=4, default=0)
    debit = money_field()
    credit = money_field()
    rows = models.BigIntegerField(default=0)
    nonzero = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "accounting_date", "subject_code", "category", "currency"], name="daily_total_unique"
            )
        ]


class BalanceSheetRow(models.Model):
    """The balance sheet as users see it: per built day (``SheetDay``), a
    row per account with entries that day or a non-zero closing, derived
    from the account's latest ``DailyBalance`` on or before the day (a day
    without entries carries its closing, turnover zero). A view
    (reports/eod/sql/balance_sheet_view.sql); read only."""

    entity = models.ForeignKey(Entity, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    accounting_date = models.DateField()
    account = models.ForeignKey(Account, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    account_type_code = models.CharField(max_length=32)
    subject_code = models.CharField(max_length=16)
    category = models.CharField(max_length=16)
    currency = models.CharField(max_length=3)
    opening = money_field()
    debit = money_field()
    credit = money_field()
    closing = money_field()
    entry_count = models.PositiveIntegerField(default=0)

    class Meta:
        managed = False
        db_table = "reports_balancesheet"


class CheckResult(models.Model):
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    accounting_date = models.DateField()
    run = models.ForeignKey(EodRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="checks")
    check_name = models.CharField(max_length=32)
    passed = models.BooleanField()
    checked_rows = models.BigIntegerField(default=0)
    # What breaks it: [{"account_no": ..., "entry": ..., "expected": ..., "found": ...}, ...] (capped)
    details = models.JSONField(default=list, blank=True)
    summary = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-accounting_date", "entity_id", "check_name"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "accounting_date", "check_name"], name="check_result_unique")
        ]
