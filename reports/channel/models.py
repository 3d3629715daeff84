"""Channel reconciliation (渠道对账): channels, their daily statements, the
matching of each statement day against the ledger, and the differences
finance works to a resolution.

- ``Channel``: a payment channel (a bank link, a payment company), its
  internal clearing account(s) and how to read its statement file (the
  column mapping is edited in the admin).
- ``StatementImport`` / ``StatementLine``: one imported statement file and
  its lines, exactly as the channel sent them. Append-only.
- ``ReconRun``: the summary of one channel and day, rewritten by each run of
  the matching (a run is re-runnable and gives the same figures).
- ``Difference``: a line or ledger record that did not match, its owner,
  status (open / investigating / resolved), resolution and the links to the
  statement line and our posting. ``DifferenceEvent`` is its append-only
  history.

Directions are the channel's money movement seen from us: ``in`` is money
the channel collected for us (a recharge: Dr clearing), ``out`` money it paid
for us (a withdrawal payout: Cr clearing). Nothing here is ever deleted
(PostgreSQL triggers refuse it).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from accounts.models import CURRENCY_CHOICES, Account, Entity, money_field
from postings.models import Entry, Posting

__all__ = [
    "AmountMode",
    "Channel",
    "Difference",
    "DifferenceEvent",
    "DifferenceProposal",
    "DifferenceExport",
    "DifferenceStatus",
    "ExportStatus",
    "MoneyDirection",
    "Outcome",
    "ProposalStatus",
    "ReconRun",
    "Resolution",
    "StatementEncoding",
    "StatementImport",
    "StatementLine",
    "StatementVoid",
    "VoidStatus",
]


class MoneyDirection(models.TextChoices):
    IN = "in", "in (收入: the channel collected for us; Dr clearing)"
    OUT = "out", "out (支出: the channel paid for us; Cr clearing)"


class AmountMode(models.TextChoices):
    SIGNED = "signed", "one signed amount column"
    DIRECTION_COLUMN = "direction_column", "one unsigned amount column and a direction column"
    DEBIT_CREDIT = "debit_credit", "separate debit and credit columns"


class StatementEncoding(models.TextChoices):
    UTF8 = "utf-8", "UTF-8 (with or without BOM)"
    GBK = "gbk", "GBK"
    GB18030 = "gb18030", "GB18030"


class Channel(models.Model):
    """A payment channel and the layout of its daily statement file."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=128)
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="CNY")
    clearing_accounts = models.ManyToManyField(
        Account,
        blank=True,
        related_name="recon_channels",
        help_text="The internal clearing account(s) whose entries are this channel's records in the ledger.",
    )
    active = models.BooleanField(default=True)

    # ---- the file
    encoding = models.CharField(max_length=16, choices=StatementEncoding.choices, default=StatementEncoding.UTF8)
    delimiter = models.CharField(max_length=1, default=",")
    skip_lines = models.PositiveSmallIntegerField(
        "header lines to skip", default=0, help_text="Lines before the column header row (a title, a header block)."
    )
    footer_marker = models.CharField(
        max_length=32,
        blank=True,
        help_text="A line starting with this text begins the summary footer; empty: the file has no footer.",
    )
    footer_check = models.CharField(
        "footer check (regex)",
        max_length=255,
        blank=True,
        help_text="Searched in the footer. Named groups count, in_total, out_total, fee_total are compared "
        "with the lines read; a footer that does not match is refused.",
    )
    col_serial = models.CharField("column: serial number", max_length=64)
    col_date = models.CharField(
        "column: date", max_length=64, blank=True, help_text="Only if the date is a column of its own."
    )
    col_time = models.CharField("column: time", max_length=64)
    time_format = models.CharField(
        max_length=64,
        default="%Y-%m-%d %H:%M:%S",
        help_text="strptime format of the time column (of 'date time' when there is a date column).",
    )
    amount_mode = models.CharField(max_length=20, choices=AmountMode.choices, default=AmountMode.SIGNED)
    col_amount = models.CharField("column: amount", max_length=64, blank=True)
    positive_is = models.CharField(
        "a positive signed amount is", max_length=3, choices=MoneyDirection.choices, default=MoneyDirection.IN
    )
    col_direction = models.CharField("column: direction", max_length=64, blank=True)
    direction_in_values = models.CharField(max_length=255, blank=True, help_text="Comma separated, e.g. 收入,IN.")
    direction_out_values = models.CharField(max_length=255, blank=True, help_text="Comma separated, e.g. 支出,OUT.")
    col_debit = models.CharField("column: debit", max_length=64, blank=True)
    col_credit = models.CharField("column: credit", max_length=64, blank=True)
    debit_is = models.CharField(
        "the debit column is",
        max_length=3,
        choices=MoneyDirection.choices,
        default=MoneyDirection.OUT,
        help_text="On a bank's statement of our account, debit (借方) is money paid out.",
    )
    col_fee = models.CharField("column: fee", max_length=64, blank=True)
    col_status = models.CharField("column: status", max_length=64, blank=True)
    status_success_values = models.CharField(
        max_length=255,
        blank=True,
        help_text="Comma separated; lines with another status are kept but move no money (not matched).",
    )

    # ---- matching
    pending_window_minutes = models.PositiveIntegerField(
        default=30,
        help_text="Ledger records posted this close to the day's cut (or after it) may be in the next statement: "
        "they are held pending for CHANNEL_RECON_PENDING_DAYS before they are short.",
    )
    expected_fee_in_fixed = money_field()
    expected_fee_in_rate = models.DecimalField(
        "expected fee in, % of amount", max_digits=7, decimal_places=4, default=0
    )
    expected_fee_out_fixed = money_field()
    expected_fee_out_rate = models.DecimalField(
        "expected fee out, % of amount", max_digits=7, decimal_places=4, default=0
    )

    class Meta:
        verbose_name = "channel (支付渠道)"
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} · {self.name}"

    def clean(self):
        needed = {
            AmountMode.SIGNED: ["col_amount"],
            AmountMode.DIRECTION_COLUMN: ["col_amount", "col_direction", "direction_in_values", "direction_out_values"],
            AmountMode.DEBIT_CREDIT: ["col_debit", "col_credit"],
        }[self.amount_mode]
        errors = {name: "Required by the amount mode." for name in needed if not getattr(self, name)}
        if self.col_status and not self.status_success_values:
            errors["status_success_values"] = "Required when there is a status column."
        if self.footer_check and not self.footer_marker:
            errors["footer_marker"] = "Required when there is a footer check."
        if errors:
            raise ValidationError(errors)


class StatementImport(models.Model):
    """One statement file of a channel for one day, imported whole."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="imports")
    statement_date = models.DateField()
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    line_count = models.PositiveIntegerField()
    imported_by = models.CharField(max_length=150)
    imported_at = models.DateTimeField(auto_now_add=True)
    # Set once, when a void is approved (StatementVoid); the only change the database allows.
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "channel statement import (对账单)"
        ordering = ["-statement_date", "channel_id"]
        permissions = [
            ("import_statement", "Can import channel statements"),
            ("work_difference", "Can work reconciliation differences"),
        ]
        constraints = [
            # A voided statement no longer holds its file or its day: the right file can follow.
            models.UniqueConstraint(
                fields=["file_sha256"], condition=Q(voided_at__isnull=True), name="statement_import_unique_file"
            ),
            models.UniqueConstraint(
                fields=["channel", "statement_date"],
                condition=Q(voided_at__isnull=True),
                name="statement_import_unique_day",
            ),
        ]

    def __str__(self):
        return f"{self.channel_id} {self.statement_date} ({self.line_count} lines)"


class VoidStatus(models.TextChoices):
    REQUESTED = "requested", "requested, awaiting approval"
    APPROVED = "approved", "approved: the statement is void"
    REJECTED = "rejected", "rejected"


class StatementVoid(models.Model):
    """A request to void a wrongly imported statement (maker-checker): one
    member of staff asks, with a reason; another approves (the statement is
    voided and its day matched again without its lines) or rejects. Never
    deleted: with the statement's ``voided_at`` it is the void's history."""

    statement = models.ForeignKey(StatementImport, on_delete=models.PROTECT, related_name="voids")
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=VoidStatus.choices, default=VoidStatus.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        verbose_name = "statement void (对账单作废)"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["statement"], condition=Q(status__in=["requested", "approved"]), name="statement_void_one_live"
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("requested_by")),
                name="statement_void_four_eyes",
            ),
        ]

    def __str__(self):
        return f"V{self.pk} statement #{self.statement_id} {self.status}"


class StatementLine(models.Model):
    statement = models.ForeignKey(StatementImport, on_delete=models.PROTECT, related_name="lines")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="+")
    statement_date = models.DateField()
    line_no = models.PositiveIntegerField(help_text="The line of the file, counting from 1.")
    serial_no = models.CharField(max_length=64)
    txn_time = models.DateTimeField(null=True, blank=True)
    direction = models.CharField(max_length=3, choices=MoneyDirection.choices)
    amount = money_field()
    fee = money_field()
    status = models.CharField(max_length=32, blank=True)
    # False for a line whose status says it moved no money (closed, failed).
    counts = models.BooleanField(default=True)
    raw = models.TextField()

    class Meta:
        verbose_name = "statement line"
        ordering = ["statement_id", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["statement", "serial_no"], name="statement_line_unique_serial"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="statement_line_amount_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="statement_line_fee_not_negative"),
        ]
        indexes = [models.Index(fields=["channel", "serial_no"]), models.Index(fields=["channel", "statement_date"])]

    def __str__(self):
        return f"line {self.line_no} {self.serial_no} {self.direction} {self.amount}"


class Outcome(models.TextChoices):
    MATCHED = "matched", "matched (已匹配)"
    LONG = "long", "long (长款: the channel has it, the ledger does not)"
    SHORT = "short", "short (短款: the ledger has it, the channel does not)"
    AMOUNT_MISMATCH = "amount_mismatch", "amount mismatch (金额不符)"
    PENDING = "pending", "pending (在途: may be in a later statement)"


class DifferenceStatus(models.TextChoices):
    OPEN = "open", "open (待处理)"
    INVESTIGATING = "investigating", "investigating (调查中)"
    RESOLVED = "resolved", "resolved (已解决)"


class Resolution(models.TextChoices):
    MATCHED_LATE = "matched_late", "matched late, automatically (后续匹配)"
    ADJUSTING_POSTING = "adjusting_posting", "adjusting posting (调账)"
    WRITE_OFF = "write_off", "write-off to suspense (核销挂账)"
    CHANNEL_ERROR = "channel_error", "channel error (渠道差错)"
    STATEMENT_VOIDED = "statement_voided", "its statement was voided (对账单作废)"


class ReconRun(models.Model):
    """The reconciliation of one channel and statement day: counts and amounts
    per outcome, the channel's totals against the ledger's, fees charged
    against expected. Rewritten by each run, which gives the same figures."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="runs")
    recon_date = models.DateField()
    statement = models.ForeignKey(StatementImport, on_delete=models.PROTECT, related_name="+")
    runs = models.PositiveIntegerField(default=0)
    first_run_at = models.DateTimeField(auto_now_add=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_by = models.CharField(max_length=150, blank=True)

    channel_count = models.PositiveIntegerField(default=0)
    channel_in = money_field()
    channel_out = money_field()
    channel_skipped_count = models.PositiveIntegerField(default=0, help_text="Lines whose status moved no money.")
    ledger_count = models.PositiveIntegerField(default=0)
    ledger_in = money_field()
    ledger_out = money_field()
    fee_charged = money_field()
    fee_expected = money_field()

    matched_count = models.PositiveIntegerField(default=0)
    matched_amount = money_field()
    late_matched_count = models.PositiveIntegerField(default=0, help_text="Earlier days' differences matched here.")
    late_matched_amount = money_field()
    long_count = models.PositiveIntegerField(default=0)
    long_amount = money_field()
    short_count = models.PositiveIntegerField(default=0)
    short_amount = money_field()
    mismatch_count = models.PositiveIntegerField(default=0)
    mismatch_amount = money_field()
    pending_count = models.PositiveIntegerField(default=0)
    pending_amount = money_field()

    class Meta:
        verbose_name = "channel reconciliation run (渠道对账)"
        ordering = ["-recon_date", "channel_id"]
        constraints = [models.UniqueConstraint(fields=["channel", "recon_date"], name="recon_run_unique_day")]

    def __str__(self):
        return f"{self.channel_id} {self.recon_date}"

    @property
    def outcome_cells(self) -> list[tuple[str, int, object]]:
        """(outcome, count, amount) of the differences found on the day, in the pages' column order."""
        return [
            (Outcome.LONG, self.long_count, self.long_amount),
            (Outcome.SHORT, self.short_count, self.short_amount),
            (Outcome.AMOUNT_MISMATCH, self.mismatch_count, self.mismatch_amount),
            (Outcome.PENDING, self.pending_count, self.pending_amount),
        ]


class Difference(models.Model):
    """A statement line or ledger record that did not match (差错)."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="differences")
    recon_date = models.DateField(help_text="The statement day on which it was found.")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    status = models.CharField(max_length=16, choices=DifferenceStatus.choices, default=DifferenceStatus.OPEN)
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    serial_no = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=3)
    statement_line = models.OneToOneField(
        StatementLine, null=True, blank=True, on_delete=models.PROTECT, related_name="difference"
    )
    entry = models.OneToOneField(
        Entry,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Our record: the entry on the channel's clearing account.",
    )
    posting = models.ForeignKey(Posting, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolution_posting = models.ForeignKey(Posting, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    channel_direction = models.CharField(max_length=3, choices=MoneyDirection.choices, blank=True)
    channel_amount = money_field(null=True, blank=True, default=None)
    ledger_direction = models.CharField(max_length=3, choices=MoneyDirection.choices, blank=True)
    ledger_amount = money_field(null=True, blank=True, default=None)
    # Channel minus ledger, money in positive: what the channel moved that we did not book.
    difference = money_field()
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = "reconciliation difference (对账差错)"
        ordering = ["-recon_date", "id"]
        indexes = [models.Index(fields=["channel", "status", "outcome"]), models.Index(fields=["recon_date"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(statement_line__isnull=False) | Q(entry__isnull=False), name="difference_has_a_record"
            ),
            models.CheckConstraint(
                condition=Q(status="resolved", resolved_at__isnull=False) & ~Q(resolution="")
                | ~Q(status="resolved") & Q(resolution=""),
                name="difference_resolution_iff_resolved",
            ),
        ]

    def __str__(self):
        return f"D{self.pk} {self.channel_id} {self.recon_date} {self.outcome} {self.status}"


class DifferenceEvent(models.Model):
    """One step in a difference's life. Append-only."""

    class Kind(models.TextChoices):
        FOUND = "found", "found"
        OUTCOME = "outcome", "outcome changed"
        STATUS = "status", "status changed"
        OWNER = "owner", "owner changed"
        RESOLVED = "resolved", "resolved"
        NOTE = "note", "note"
        PROPOSED = "proposed", "posting proposed"
        APPROVED = "approved", "proposal approved"
        REJECTED = "rejected", "proposal rejected"

    difference = models.ForeignKey(Difference, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    from_value = models.CharField(max_length=64, blank=True)
    to_value = models.CharField(max_length=64, blank=True)
    note = models.TextField(blank=True)
    actor = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "difference event"
        ordering = ["id"]

    def _label(self, value: str) -> str:
        """A from/to value as people read it: the codes of an outcome, status
        or resolution by their labels (as a withdrawal's history shows its
        statuses); a user name or a proposal's number as it is."""
        choices = {
            self.Kind.FOUND: Outcome,
            self.Kind.OUTCOME: Outcome,
            self.Kind.STATUS: DifferenceStatus,
            self.Kind.RESOLVED: Resolution,
        }.get(self.kind)
        if not value or choices is None:
            return value
        try:
            return choices(value).label
        except ValueError:
            return value

    @property
    def from_label(self) -> str:
        return self._label(self.from_value)

    @property
    def to_label(self) -> str:
        return self._label(self.to_value)


class ProposalStatus(models.TextChoices):
    PROPOSED = "proposed", "proposed, awaiting approval"
    APPROVED = "approved", "approved and posted"
    REJECTED = "rejected", "rejected"


class DifferenceProposal(models.Model):
    """A posting proposed to resolve a difference (maker-checker): an adjusting
    posting or a write-off to suspense. One staff member proposes, a different
    one approves (which posts it) or rejects it (a new proposal may follow).
    The clearing leg is ``direction`` ``amount`` on ``clearing_account``; the
    counter account gets the other side. Never deleted; the posting is written
    once, under ``request_no``."""

    KINDS = [
        (Resolution.ADJUSTING_POSTING, Resolution.ADJUSTING_POSTING.label),
        (Resolution.WRITE_OFF, Resolution.WRITE_OFF.label),
    ]

    difference = models.ForeignKey(Difference, on_delete=models.PROTECT, related_name="proposals")
    kind = models.CharField(max_length=20, choices=KINDS)
    status = models.CharField(max_length=10, choices=ProposalStatus.choices, default=ProposalStatus.PROPOSED)
    clearing_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(
        max_length=1,
        choices=[("D", "debit (借)"), ("C", "credit (贷)")],
        help_text="Of the clearing leg; the counter account gets the other side.",
    )
    amount = money_field()
    counter_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    memo = models.CharField(max_length=255)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    request_no = models.CharField(max_length=64, blank=True, help_text="The posting's request number (recon).")
    posting = models.ForeignKey(Posting, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = "difference proposal (调账/核销申请)"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["difference"],
                condition=Q(status__in=["proposed", "approved"]),
                name="difference_proposal_one_live",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="difference_proposal_amount_positive"),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("proposed_by")),
                name="difference_proposal_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(status="approved", posting__isnull=False) | ~Q(status="approved") & Q(posting__isnull=True),
                name="difference_proposal_posting_iff_approved",
            ),
        ]

    def __str__(self):
        return f"P{self.pk} D{self.difference_id} {self.kind} {self.direction} {self.amount} {self.status}"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "queued (排队中)"
    RUNNING = "running", "being written (生成中)"
    DONE = "done", "ready (可下载)"
    FAILED = "failed", "failed (失败)"


class DifferenceExport(models.Model):
    """A spreadsheet of differences written by a worker (68,000 differences
    took a minute to write inside a request): the criteria of the page it was
    asked from, how far the writing has got, and the file once it is written,
    for the person who asked. Kept in the database, which the web processes
    and the workers share; dropped a day after it was asked for."""

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    # selectors.differences_where's arguments, as the differences page's filter gave them
    criteria = models.JSONField()
    file_name = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    content = models.BinaryField(default=b"")
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = "difference export"
        ordering = ["-requested_at"]
        default_permissions = ()  # no admin: each export is its requester's own download

    def __str__(self):
        return f"export {self.pk} {self.file_name} {self.status}"

    @property
    def percent(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_done * 100 // self.rows_total)
