"""Who owns money and where it sits: entities, customers, members, the chart
of account types, and accounts.

An account's ``balance`` is always stored on its normal side: for a
liability or internal account (credit-normal) it is what we owe, for an asset
account (debit-normal, a credit line) it is what the customer owes us. The
rows here are written only by ``accounts.services`` (opening, status) and
``postings.services`` (balances, frozen amounts).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.kernel.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS, Money, as_money


def money_field(**kwargs):
    kwargs.setdefault("default", Decimal("0"))
    return models.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, **kwargs)


CURRENCY_CHOICES = [(c, c) for c in settings.CURRENCIES]


class Entity(models.Model):
    """Accounting entity (会计主体): the legal company whose books an account sits in."""

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=128)
    base_currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="CNY")

    class Meta:
        verbose_name = "accounting entity (会计主体)"
        verbose_name_plural = "accounting entities (会计主体)"
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} · {self.name}"


class Customer(models.Model):
    """Customer (客户): a natural person or a company, identified once (KYC)."""

    class Kind(models.TextChoices):
        PERSON = "person", "natural person (个人)"
        COMPANY = "company", "company (企业)"

    class IdType(models.TextChoices):
        RESIDENT_ID = "resident_id", "resident identity card (身份证)"
        PASSPORT = "passport", "passport (护照)"
        BUSINESS_LICENSE = "business_license", "unified social credit code (统一社会信用代码)"
        OTHER = "other", "other"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=128)
    id_type = models.CharField("ID document type", max_length=32, choices=IdType.choices)
    id_no = models.CharField("ID document number", max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "customer (客户)"
        constraints = [models.UniqueConstraint(fields=["id_type", "id_no"], name="customer_unique_id_document")]
        ordering = ["id"]

    def __str__(self):
        return self.name


class Member(models.Model):
    """Member (会员): a customer's registration on one platform or business line."""

    member_no = models.CharField(max_length=32, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="members")
    name = models.CharField(max_length=128)
    platform = models.CharField("platform / business line", max_length=64, default="wallet")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "member (会员)"
        ordering = ["member_no"]

    def __str__(self):
        return f"{self.member_no} · {self.name}"


class Category(models.TextChoices):
    ASSET = "asset", "asset (资产类)"
    LIABILITY = "liability", "liability (负债类)"
    INTERNAL = "internal", "internal (内部类)"


class PostingMode(models.TextChoices):
    REALTIME = "realtime", "real-time (实时记账)"
    # Hot accounts (热点账户): legs are recorded as pending entries and applied
    # in batches by the flush (postings.services.buffers), so the row is never locked
    # per posting.
    BUFFERED = "buffered", "buffered (缓冲记账)"


class AccountType(models.Model):
    """A line of the chart: what kind of account, and which GL subject (会计科目) it maps to."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=128)
    category = models.CharField(max_length=16, choices=Category.choices)
    subject_code = models.CharField("subject code (会计科目)", max_length=16)
    allow_negative = models.BooleanField(
        "may go negative",
        default=False,
        help_text="Internal accounts such as a channel's clearing account go negative on every recharge.",
    )
    posting_mode = models.CharField(
        max_length=16,
        choices=PostingMode.choices,
        default=PostingMode.REALTIME,
        help_text="The mode new accounts of this type get; changing it here changes every account of the type.",
    )
    description = models.TextField(blank=True)

    class Meta:
        verbose_name = "account type (账户类型)"
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} ({self.subject_code})"

    @property
    def normal_side(self) -> str:
        return "D" if self.category == Category.ASSET else "C"


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "active (正常)"
    DEBIT_BLOCKED = "debit_blocked", "debit blocked (止付)"
    CREDIT_BLOCKED = "credit_blocked", "credit blocked (止收)"
    BLOCKED = "blocked", "blocked (冻结)"
    CLOSED = "closed", "closed (销户)"


class Account(models.Model):
    """Account (账户): what carries a balance.

    ``category`` and ``allow_negative`` are copied from the type when the
    account is opened (and are fixed on a type once accounts use it) so that
    PostgreSQL can enforce the sign rule on this row with a CHECK constraint.
    """

    account_no = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=128, blank=True)
    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts")
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="accounts")
    account_type = models.ForeignKey(AccountType, on_delete=models.PROTECT, related_name="accounts")
    category = models.CharField(max_length=16, choices=Category.choices, editable=False)
    allow_negative = models.BooleanField(default=False, editable=False)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    balance = money_field()
    frozen = money_field()
    credit_limit = money_field()
    # Number of entries posted to this account; the next entry gets seq + 1.
    entry_seq = models.BigIntegerField(default=0, editable=False)
    # Copied from the type at opening and kept per account, so one hot
    # account of a type can be buffered alone (postings.services.buffers).
    posting_mode = models.CharField(max_length=16, choices=PostingMode.choices, default=PostingMode.REALTIME)
    status = models.CharField(max_length=16, choices=AccountStatus.choices, default=AccountStatus.ACTIVE)
    opened_on = models.DateField()
    closed_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "account (账户)"
        ordering = ["id"]
        indexes = [models.Index(fields=["entity", "account_type", "currency"])]
        constraints = [
            models.CheckConstraint(condition=Q(frozen__gte=0), name="account_frozen_not_negative"),
            models.CheckConstraint(condition=Q(credit_limit__gte=0), name="account_credit_limit_not_negative"),
            models.CheckConstraint(
                condition=Q(category=Category.ASSET) | Q(credit_limit=0),
                name="account_credit_limit_only_on_assets",
            ),
            # Internal accounts (内部户) belong to no member; customer accounts to one.
            models.CheckConstraint(
                condition=Q(category=Category.INTERNAL, member__isnull=True)
                | (~Q(category=Category.INTERNAL) & Q(member__isnull=False)),
                name="account_member_iff_customer_account",
            ),
            # The sign rule: a customer account never goes below what it may
            # use. A credit line's limit is not a property of the row alone: it
            # may stand below what is used (a lowered limit, accrued interest),
            # and only what raises the use above it is refused
            # (postings/sql/posting_rules.sql, postings/sql/credit_limit.sql).
            models.CheckConstraint(
                condition=Q(allow_negative=True)
                | (Q(category=Category.ASSET) & Q(balance__gte=0))
                | (~Q(category=Category.ASSET) & Q(balance__gte=models.F("frozen"))),
                name="account_available_not_negative",
            ),
        ]

    def __str__(self):
        return self.account_no

    @property
    def normal_side(self) -> str:
        return "D" if self.category == Category.ASSET else "C"

    @property
    def is_buffered(self) -> bool:
        return self.posting_mode == PostingMode.BUFFERED

    @property
    def available(self) -> Decimal:
        if self.category == Category.ASSET:
            return self.credit_limit - self.balance - self.frozen
        return self.balance - self.frozen

    @property
    def balance_money(self) -> Money:
        return as_money(self.balance, self.currency)

    @property
    def frozen_money(self) -> Money:
        return as_money(self.frozen, self.currency)

    @property
    def available_money(self) -> Money:
        return as_money(self.available, self.currency)


class AccountStatusChange(models.Model):
    """History of status changes (止付/止收/冻结/销户), who and why. Append-only."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=AccountStatus.choices)
    to_status = models.CharField(max_length=16, choices=AccountStatus.choices)
    reason = models.CharField(max_length=255)
    changed_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "account status change"
        ordering = ["-id"]

    def __str__(self):
        return f"{self.account} {self.from_status} → {self.to_status}"


class CreditLimitChange(models.Model):
    """History of a credit line's limit (授信额度调整): old and new limit, what
    was used then, who and why. Append-only (postings/sql/credit_limit.sql).
    A limit lowered below what is used is allowed: the line takes no new
    purchase until repayments bring the use under it."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="limit_changes")
    old_limit = money_field()
    new_limit = money_field()
    used = money_field(help_text="Balance plus frozen when the limit changed.")
    reason = models.CharField(max_length=255)
    changed_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "credit limit change (授信额度调整)"
        ordering = ["-id"]
        permissions = [("set_credit_limit", "Can raise or lower a credit line's limit")]
        constraints = [
            models.CheckConstraint(
                condition=Q(new_limit__gte=0) & Q(old_limit__gte=0), name="limit_change_not_negative"
            ),
            models.CheckConstraint(condition=~Q(new_limit=models.F("old_limit")), name="limit_change_changes"),
        ]

    def __str__(self):
        return f"{self.account} {self.old_limit} → {self.new_limit}"

    @property
    def over_limit(self) -> bool:
        return self.used > self.new_limit


class AccountPostingModeChange(models.Model):
    """History of switches between real-time and buffered posting (hot
    accounts), who made them and through which account type. Append-only."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="posting_mode_changes")
    from_mode = models.CharField(max_length=16, choices=PostingMode.choices)
    to_mode = models.CharField(max_length=16, choices=PostingMode.choices)
    # The account type whose switch carried the account along, if any.
    via_type = models.CharField("via account type", max_length=32, blank=True)
    changed_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "account posting mode change"
        ordering = ["-id"]

    def __str__(self):
        return f"{self.account} {self.from_mode} → {self.to_mode}"


class AccountOpenRequest(models.Model):
    """The request number under which a caller opened an account, so that a
    retried opening answers with the account instead of opening a second one
    (accounts carry no request number of their own). Written by
    ``accounts.services.account_open_once``. (Until issue 17 this was the API
    app's ApiAccountRequest; the unique constraint keeps its name.)"""

    source_system = models.CharField(max_length=32)
    request_no = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64, editable=False)
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source_system", "request_no"], name="api_account_request_unique")
        ]
