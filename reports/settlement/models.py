"""Settlement (结算): merchants' T+N pending funds, channel clearing-account
settlement, and the reserve-fund check (备付金核对).

- ``BusinessDayOverride``: an entity's business-day calendar, Monday to
  Friday unless a row says otherwise (a holiday, or a weekend made a working
  day, 调休). Edited in the admin.
- ``SettlementTerm``: a merchant receiving funds as pending settlement (待结算)
  on a second cash account, available after ``days`` business days. A
  governed setting (maker-checker).
- ``MerchantSettlement``: one move from a merchant's pending account to its
  available one, through the posting service.
- ``ChannelSettlementSetup``: where a channel's clearing account is settled
  to (the bank or reserve-fund account) and where its fee cost is booked.
  Governed.
- ``ChannelSettlement``: one settlement batch of a channel up to a cut-off.
- ``SettledEntry``: which entries a settlement covers. An entry is covered
  once (unique), by one merchant or one channel settlement.
- ``ReserveBankAccount`` / ``ReserveBalance``: the reserve-fund bank
  accounts and their balances per day, entered or imported.

Settlement rows and their covered entries are never changed or deleted, and
a settlement's amount always equals what its covered entries add up to
(reports/sql/settlement.sql).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from accounts.models import CURRENCY_CHOICES, Account, Category, Entity, money_field
from postings.models import Entry, Posting

from ..channel.models import Channel

__all__ = [
    "BusinessDayOverride",
    "ChannelSettlement",
    "ChannelSettlementSetup",
    "MerchantSettlement",
    "ReserveBalance",
    "ReserveBankAccount",
    "SettledEntry",
    "SettlementTerm",
]


class BusinessDayOverride(models.Model):
    """A day that is not what the week says: a holiday on a weekday
    (``business_day`` False) or a working weekend day (True, 调休)."""

    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    date = models.DateField()
    business_day = models.BooleanField(
        default=False, help_text="Unticked: a holiday (节假日). Ticked: a weekend day worked (调休)."
    )
    name = models.CharField(max_length=64, blank=True, help_text="e.g. National Day (国庆节).")

    class Meta:
        verbose_name = "business-day calendar day (节假日/调休)"
        verbose_name_plural = "business-day calendar (节假日/调休)"
        ordering = ["entity_id", "date"]
        constraints = [models.UniqueConstraint(fields=["entity", "date"], name="business_day_override_unique")]

    def __str__(self):
        return f"{self.date} {'working day' if self.business_day else 'holiday'} {self.name}".strip()


class SettlementTerm(models.Model):
    """A merchant paid T+N: business systems credit its pending account
    (待结算); each credit becomes available on ``account`` ``days`` business
    days after its accounting date (reports.settlement.services)."""

    account = models.OneToOneField(
        Account, on_delete=models.PROTECT, related_name="settlement_term", verbose_name="available account (可用)"
    )
    pending_account = models.OneToOneField(
        Account, on_delete=models.PROTECT, related_name="pending_for", verbose_name="pending account (待结算)"
    )
    days = models.PositiveSmallIntegerField("N (business days)", default=1)

    class Meta:
        verbose_name = "merchant settlement term (T+N 结算周期)"
        ordering = ["account_id"]
        constraints = [
            models.CheckConstraint(condition=Q(days__gte=1) & Q(days__lte=30), name="settlement_term_days_1_30"),
            models.CheckConstraint(
                condition=~Q(account=models.F("pending_account")), name="settlement_term_not_itself"
            ),
        ]

    def __str__(self):
        return f"{self.pending_account} → {self.account} T+{self.days}"

    def clean(self):
        if not (self.account_id and self.pending_account_id):
            return
        account, pending = self.account, self.pending_account
        if account.pk == pending.pk:
            raise ValidationError("The pending account is another account than the available one.")
        if account.category != Category.LIABILITY or pending.category != Category.LIABILITY:
            raise ValidationError("Both accounts are cash (liability) accounts.")
        if account.member_id != pending.member_id:
            raise ValidationError("Both accounts belong to the same merchant (member).")
        if (account.entity_id, account.currency) != (pending.entity_id, pending.currency):
            raise ValidationError("Both accounts are in one entity and currency.")
        if not 1 <= (self.days or 0) <= 30:
            raise ValidationError({"days": "Between 1 and 30 business days."})


class MerchantSettlement(models.Model):
    """Funds moved from a merchant's pending account to its available one:
    the credits due on ``settled_on`` less every debit not yet counted."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    pending_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    amount = money_field()
    settled_on = models.DateField(help_text="The open accounting day on which the funds became available.")
    funds_through = models.DateField(help_text="The latest accounting date of the credits it moved.")
    posting = models.OneToOneField(Posting, on_delete=models.PROTECT, related_name="+")
    request_no = models.CharField(max_length=64, unique=True)
    entry_count = models.PositiveIntegerField()
    settled_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "merchant settlement (商户结算)"
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="merchant_settlement_positive")]
        indexes = [models.Index(fields=["settled_on"], name="merchant_settlement_day_idx")]

    def __str__(self):
        return f"MS{self.pk} {self.amount} {self.pending_account_id}→{self.account_id}"


class ChannelSettlementSetup(models.Model):
    """Where a channel's clearing account is settled: its net goes to
    ``bank_account`` (a bank or reserve-fund account, 备付金), its fee cost to
    ``fee_account``. A governed setting."""

    channel = models.OneToOneField(Channel, on_delete=models.PROTECT, related_name="settlement_setup")
    bank_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", verbose_name="bank / reserve-fund account (备付金)"
    )
    fee_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", verbose_name="fee cost account (渠道手续费)"
    )

    class Meta:
        verbose_name = "channel settlement setup (渠道结算)"
        ordering = ["channel_id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(bank_account=models.F("fee_account")), name="channel_settlement_setup_two_accounts"
            )
        ]

    def __str__(self):
        return f"{self.channel_id} → {self.bank_account}"

    def clean(self):
        if not (self.channel_id and self.bank_account_id and self.fee_account_id):
            return
        for account in (self.bank_account, self.fee_account):
            if account.category != Category.INTERNAL:
                raise ValidationError(f"{account} is not an internal account (内部户).")
            if (account.entity_id, account.currency) != (self.channel.entity_id, self.channel.currency):
                raise ValidationError(f"{account} is not in the channel's entity and currency.")
        if self.bank_account_id == self.fee_account_id:
            raise ValidationError("The bank and fee accounts are two accounts.")


class ChannelSettlement(models.Model):
    """A channel's clearing account settled up to ``cut_off`` (渠道结算):
    the net of the entries it covers (in less out) moved to the bank or
    reserve-fund account, less the channel's fee on them, booked as cost."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="settlements")
    cut_off = models.DateTimeField()
    currency = models.CharField(max_length=3)
    bank_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    fee_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    gross_in = money_field()  # debits on the clearing account: collected for us
    gross_out = money_field()  # credits: paid out for us
    fee = money_field()
    # gross_in - gross_out; the bank receives net - fee (pays when negative).
    net = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    entry_count = models.PositiveIntegerField()
    posting = models.OneToOneField(Posting, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    request_no = models.CharField(max_length=64, unique=True)
    settled_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "channel settlement batch (渠道结算批次)"
        ordering = ["-id"]
        permissions = [("settle_channel", "Can run a channel settlement batch")]
        constraints = [
            models.CheckConstraint(condition=Q(net=models.F("gross_in") - models.F("gross_out")), name="cs_net"),
            models.CheckConstraint(condition=Q(entry_count__gt=0), name="cs_covers_entries"),
            # Nothing to book only when everything nets to zero.
            models.CheckConstraint(
                condition=Q(posting__isnull=False) | Q(net=0, fee=0), name="cs_posting_unless_nothing_moves"
            ),
        ]

    def __str__(self):
        return f"CS{self.pk} {self.channel_id} to {self.cut_off:%Y-%m-%d %H:%M}"

    @property
    def to_bank(self):
        return self.net - self.fee


class SettledEntry(models.Model):
    """An entry a settlement covers: a pending-account entry of a merchant
    settlement, or a clearing-account entry of a channel settlement (with the
    channel's fee on it, from the reconciled statement line)."""

    entry = models.OneToOneField(Entry, on_delete=models.PROTECT, related_name="settled_by")
    merchant_settlement = models.ForeignKey(
        MerchantSettlement, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    channel_settlement = models.ForeignKey(
        ChannelSettlement, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    fee = money_field()
    statement_line_id = models.BigIntegerField(null=True, blank=True, help_text="The statement line the fee is from.")

    class Meta:
        verbose_name = "settled entry"
        ordering = ["entry_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(merchant_settlement__isnull=True, channel_settlement__isnull=False)
                | Q(merchant_settlement__isnull=False, channel_settlement__isnull=True),
                name="settled_entry_one_settlement",
            ),
            models.CheckConstraint(condition=Q(fee__gte=0), name="settled_entry_fee_not_negative"),
        ]


class ReserveBankAccount(models.Model):
    """A bank account holding reserve funds (备付金账户) of an entity."""

    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="CNY")
    bank = models.CharField(max_length=64)
    account_no = models.CharField("bank account number", max_length=40, unique=True)
    name = models.CharField(max_length=128, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "reserve-fund bank account (备付金账户)"
        ordering = ["entity_id", "bank", "account_no"]

    def __str__(self):
        return f"{self.bank} {self.account_no}"


class ReserveBalance(models.Model):
    """A reserve-fund bank account's balance at the end of a day, as the bank
    says it (entered, or imported from a file after a preview)."""

    class Source(models.TextChoices):
        ENTERED = "entered", "entered"
        IMPORTED = "imported", "imported"

    bank_account = models.ForeignKey(ReserveBankAccount, on_delete=models.PROTECT, related_name="balances")
    balance_date = models.DateField()
    balance = models.DecimalField(max_digits=20, decimal_places=4)
    source = models.CharField(max_length=10, choices=Source.choices)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "reserve-fund bank balance (备付金余额)"
        ordering = ["-balance_date", "bank_account_id"]
        constraints = [
            models.UniqueConstraint(fields=["bank_account", "balance_date"], name="reserve_balance_one_per_day")
        ]

    def __str__(self):
        return f"{self.bank_account} {self.balance_date} {self.balance}"
