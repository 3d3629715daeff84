"""Vouchers (会计凭证) for the general ledger, with their lifecycle.

A ``Voucher`` is a header (entity, accounting date, a number unique per
entity and period, the voucher word such as 记, a summary, status, the GL's
own number once acknowledged); its ``VoucherLine``s carry the subject, the
auxiliary dimensions (辅助核算) configured for the subject, direction,
amount and the range and count of the entry serial numbers they cover.
Every voucher balances per currency (debits = credits): the database checks
it at COMMIT (reports/sql/vouchers.sql).

Status: draft -> exported -> acknowledged. A draft is rebuilt in place; an
exported (or acknowledged) voucher is never changed or deleted (the
database refuses it, but for the acknowledgement itself). A rebuild of a day
whose vouchers were exported issues a red-ink voucher (红字冲销: the same
lines, negative amounts, ``reverses`` the original) and a new blue one,
so the GL's turnover nets to the corrected day.

Configuration: ``VoucherGrouping`` per business type (one voucher per
business type per day by default), ``SubjectDimensions`` per subject.
Exports (``VoucherExport``) keep the file, its checksums, who, when and
which vouchers; ``VoucherAckImport`` records each GL answer file uploaded.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Entity, money_field
from postings.models import BusinessType, Direction

DEFAULT_WORD = "记"


class VoucherStatus(models.TextChoices):
    DRAFT = "draft", "draft (未导出)"
    EXPORTED = "exported", "exported (已导出)"
    ACKNOWLEDGED = "acknowledged", "acknowledged (总账已确认)"


class VoucherKind(models.TextChoices):
    BLUE = "blue", "blue (蓝字)"
    RED = "red", "red-ink reversal (红字冲销)"


class GroupBy(models.TextChoices):
    DAY = "day", "one voucher per business type per day"
    POSTING = "posting", "one voucher per posting"
    MERGED = "merged", "merged into one voucher of the day with the other merged types"


class VoucherGrouping(models.Model):
    """How the entries of one business type are gathered into vouchers; a
    business type without a row takes the default: one voucher per day."""

    business_type = models.CharField(max_length=32, choices=BusinessType.choices, unique=True)
    group_by = models.CharField(max_length=16, choices=GroupBy.choices, default=GroupBy.DAY)
    voucher_word = models.CharField("voucher word (凭证字)", max_length=4, default=DEFAULT_WORD)

    class Meta:
        verbose_name = "voucher grouping (凭证汇总方式)"
        ordering = ["business_type"]

    def __str__(self):
        return f"{self.business_type}: {self.group_by} {self.voucher_word}"


class SubjectDimensions(models.Model):
    """The auxiliary dimensions (辅助核算) the GL keeps for a subject: its
    voucher lines are split by each dimension ticked here. A subject without
    a row has none."""

    subject_code = models.CharField("subject code (会计科目)", max_length=16, unique=True)
    customer = models.BooleanField("customer (客户)", default=False)
    member = models.BooleanField("member (会员)", default=False)
    merchant = models.BooleanField(
        "merchant (商户)", default=False, help_text="The member, when its customer is a company (企业)."
    )
    channel = models.BooleanField(
        "channel (渠道)", default=False, help_text="The channel whose clearing account the entry is on."
    )
    bank_account = models.BooleanField(
        "bank account (银行账户)", default=False, help_text="The paying bank whose clearing account the entry is on."
    )
    department = models.CharField(
        "department (部门)", max_length=32, blank=True, help_text="The GL department code every line of it carries."
    )

    class Meta:
        verbose_name = "subject dimensions (辅助核算)"
        verbose_name_plural = "subject dimensions (辅助核算)"
        ordering = ["subject_code"]

    def __str__(self):
        return self.subject_code


class VoucherSequence(models.Model):
    """The last voucher number given in an entity's period (month), locked
    while numbers are given, so that two builds never give the same one."""

    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    period = models.DateField()  # the first day of the month
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entity", "period"], name="voucher_sequence_unique")]


class Voucher(models.Model):
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    accounting_date = models.DateField()
    period = models.DateField()  # the first day of the accounting date's month
    number = models.PositiveIntegerField()
    word = models.CharField("voucher word (凭证字)", max_length=4, default=DEFAULT_WORD)
    summary = models.CharField("summary (摘要)", max_length=255)
    kind = models.CharField(max_length=8, choices=VoucherKind.choices, default=VoucherKind.BLUE)
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    # What the voucher gathers: "type:<business type>", "posting:<serial>", "merged:<word>" or "red:<serial>"
    # (a red-ink correction's red posting), and currency.
    group_key = models.CharField(max_length=64)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=VoucherStatus.choices, default=VoucherStatus.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    exported_at = models.DateTimeField(null=True, blank=True)
    gl_voucher_no = models.CharField("GL voucher number", max_length=64, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    acknowledged_from = models.CharField(max_length=255, blank=True)  # "staff" or the answer file

    class Meta:
        verbose_name = "voucher (会计凭证)"
        ordering = ["accounting_date", "number"]
        permissions = [
            ("export_voucher", "Can export vouchers to the GL"),
            ("acknowledge_voucher", "Can record the GL's voucher numbers"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["entity", "period", "number"], name="voucher_unique_number"),
            models.CheckConstraint(
                # Red ink reverses one exported voucher, or carries a red-ink correction's red posting.
                condition=models.Q(kind="blue", reverses__isnull=True)
                | models.Q(kind="red", reverses__isnull=False)
                | models.Q(kind="red", reverses__isnull=True, group_key__startswith="red:"),
                name="voucher_red_reverses_one",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="acknowledged") | ~models.Q(gl_voucher_no=""),
                name="voucher_acknowledged_has_gl_no",
            ),
        ]
        indexes = [models.Index(fields=["entity", "accounting_date"], name="voucher_day")]

    def __str__(self):
        return self.voucher_no

    @property
    def voucher_no(self) -> str:
        """As staff and the GL answer file name it: entity, period, word, number."""
        return f"{self.entity.code}-{self.period:%Y%m}-{self.word}-{self.number:04d}"

    @property
    def is_red(self) -> bool:
        return self.kind == VoucherKind.RED


class VoucherLine(models.Model):
    voucher = models.ForeignKey(Voucher, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveIntegerField()
    subject_code = models.CharField(max_length=16)
    direction = models.CharField(max_length=1, choices=Direction.choices)
    currency = models.CharField(max_length=3)
    # Negative on a red-ink voucher (红字): the GL subtracts it on the same side.
    amount = money_field()
    business_type = models.CharField(max_length=32)
    posting_serial = models.BigIntegerField(null=True, blank=True)  # a voucher per posting: its posting
    # Auxiliary dimensions (辅助核算), empty where the subject does not keep one.
    customer = models.CharField(max_length=32, blank=True)
    member = models.CharField(max_length=32, blank=True)
    merchant = models.CharField(max_length=32, blank=True)
    channel = models.CharField(max_length=32, blank=True)
    bank_account = models.CharField(max_length=32, blank=True)
    department = models.CharField(max_length=32, blank=True)
    entry_count = models.PositiveIntegerField()
    first_entry_serial = models.BigIntegerField()
    last_entry_serial = models.BigIntegerField()

    class Meta:
        ordering = ["voucher_id", "line_no"]
        constraints = [models.UniqueConstraint(fields=["voucher", "line_no"], name="voucher_line_unique_no")]

    def __str__(self):
        return f"{self.voucher_id}/{self.line_no} {self.subject_code} {self.direction} {self.amount}"

    DIMENSIONS = ("customer", "member", "merchant", "channel", "bank_account", "department")

    @property
    def dimensions(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.DIMENSIONS if getattr(self, name)}


class ExportFormat(models.TextChoices):
    KINGDEE = "kingdee", "Kingdee K/3 Cloud (金蝶云星空) voucher import, XLSX"
    YONYOU = "yonyou", "Yonyou U8 (用友) voucher import, text"
    CSV = "csv", "generic CSV"
    XLSX = "xlsx", "generic XLSX"


class VoucherExport(models.Model):
    """One export file: who made it, when, which vouchers, and the file
    itself (so it is downloaded again byte for byte)."""

    format = models.CharField(max_length=16, choices=ExportFormat.choices)
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    date_from = models.DateField()
    date_to = models.DateField()
    file_name = models.CharField(max_length=255)
    content = models.BinaryField()
    file_sha256 = models.CharField(max_length=64)  # of the whole file as downloaded
    data_sha256 = models.CharField(max_length=64)  # the checksum written in the file, of its voucher rows
    voucher_count = models.PositiveIntegerField()
    line_count = models.PositiveIntegerField()
    vouchers = models.ManyToManyField(Voucher, related_name="exports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "voucher export"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.file_name


class VoucherAckImport(models.Model):
    """A GL answer file (the GL's voucher numbers of our vouchers) imported."""

    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    row_count = models.PositiveIntegerField()
    acknowledged = models.PositiveIntegerField()  # rows that acknowledged a voucher (the rest were already)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "GL voucher acknowledgement file"
        ordering = ["-uploaded_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["file_sha256"], name="voucher_ack_unique_file")]
