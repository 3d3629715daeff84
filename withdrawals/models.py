"""Withdrawals (提现): a member's request to move money out to a bank card.

Three steps, as in docs/domain.md: the request freezes amount + fee on the
member's cash account (a ``postings.Hold``); review approves it
automatically by rules or sends it to a reviewer; a cashier sends a payment
instruction through a bank gateway, whose answer settles the hold
(Dr member cash amount+fee / Cr the paying bank's clearing account amount /
Cr fee income fee) or leaves the request failed, to be paid again or
cancelled (the hold released).

The status is changed only by ``withdrawals.services``, along the table in
``TRANSITIONS`` (``accounts.kernel.transitions``); every change writes a
``WithdrawalEvent``, which nobody can edit or delete.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from accounts.kernel.money import Money, as_money
from accounts.kernel.transitions import Transitions
from accounts.models import Account, Entity, Member, money_field
from postings.models import Hold, Posting, metadata_field, references_constraints, trade_no_field


class Status(models.TextChoices):
    REQUESTED = "requested", "requested (待审核)"
    IN_REVIEW = "in_review", "in manual review (人工审核)"
    APPROVED = "approved", "approved (待付款)"
    PAYING = "paying", "paying (付款中)"
    FAILED = "failed", "payout failed (付款失败)"
    PAID = "paid", "paid (已付款)"
    REJECTED = "rejected", "rejected (已拒绝)"
    CANCELLED = "cancelled", "cancelled (已撤销)"


# from -> the statuses it may move to. Anything else is IllegalTransition.
TRANSITIONS = Transitions(
    {
        Status.REQUESTED: {Status.APPROVED, Status.IN_REVIEW},
        # in_review -> in_review is the first of two approvals of a large request.
        Status.IN_REVIEW: {Status.IN_REVIEW, Status.APPROVED, Status.REJECTED},
        Status.APPROVED: {Status.PAYING, Status.CANCELLED},
        Status.PAYING: {Status.PAID, Status.FAILED},
        # failed -> failed and failed -> paid: finance resolving a contradictory
        # bank answer (withdrawal_flag_resolve), "not paid" or "paid after all".
        Status.FAILED: {Status.PAYING, Status.CANCELLED, Status.FAILED, Status.PAID},
        Status.PAID: set(),
        Status.REJECTED: set(),
        Status.CANCELLED: set(),
    }
)
FINAL_STATUSES = TRANSITIONS.final
OPEN_STATUSES = frozenset(Status) - FINAL_STATUSES


class FeeRule(models.Model):
    """The withdrawal fee: fixed + rate percent of the amount, kept between
    minimum and maximum, rounded up to the cent. The newest active rule of a
    currency applies."""

    name = models.CharField(max_length=64)
    currency = models.CharField(max_length=3)
    fixed = money_field(help_text="Charged on every withdrawal.")
    rate_percent = models.DecimalField(
        max_digits=7, decimal_places=4, default=0, help_text="Percent of the amount, e.g. 0.1 for 0.1%."
    )
    minimum = money_field()
    maximum = money_field(null=True, blank=True, default=None, help_text="Empty for no cap.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Raised by each approved change (accounts.kernel.governance); a
    # withdrawal records the version that priced it.
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        verbose_name = "fee rule (手续费规则)"
        constraints = [
            models.CheckConstraint(
                condition=Q(fixed__gte=0, minimum__gte=0, rate_percent__gte=0), name="fee_rule_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(maximum__isnull=True) | Q(maximum__gte=models.F("minimum")),
                name="fee_rule_max_at_least_min",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.currency})"

    def clean(self):
        errors = {}
        for name in ("fixed", "minimum", "maximum"):
            value = getattr(self, name)
            if value is not None and value < 0:
                errors[name] = f"The {name} fee cannot be negative."
        if self.rate_percent is not None and not 0 <= self.rate_percent <= 100:
            errors["rate_percent"] = "The rate is a percentage of the amount: between 0 and 100."
        if self.maximum is not None and self.minimum is not None and self.maximum < self.minimum:
            errors["maximum"] = (
                f"The maximum fee ({self.maximum}) is below the minimum fee ({self.minimum}): "
                "no fee could satisfy both. Raise the maximum, lower the minimum, or leave the maximum empty."
            )
        if errors:
            raise ValidationError(errors)


class RuleKind(models.TextChoices):
    AMOUNT_OVER = "amount_over", "amount above a threshold"
    DAILY_COUNT = "daily_count", "member's withdrawals today above a count"
    DAILY_AMOUNT = "daily_amount", "member's withdrawn amount today above a threshold"
    NEW_CARD = "new_card", "first withdrawal to a card not used before"
    WATCH_LIST = "watch_list", "member on the watch list"
    YOUNG_ACCOUNT = "young_account", "account opened less than N days ago"
    DUAL_APPROVAL = "dual_approval", "amount above a threshold: two approvals (maker-checker)"


class ReviewRule(models.Model):
    """An automatic review rule finance can edit. A request any active rule
    fires on goes to manual review; one no rule fires on is approved."""

    code = models.SlugField(max_length=32, unique=True)
    kind = models.CharField(max_length=16, choices=RuleKind.choices)
    name = models.CharField(max_length=128)
    currency = models.CharField(max_length=3, blank=True, help_text="For amount rules; empty for any currency.")
    amount = money_field(null=True, blank=True, default=None, help_text="The threshold of amount rules.")
    count = models.PositiveIntegerField(null=True, blank=True, help_text="The count of daily_count.")
    days = models.PositiveIntegerField(null=True, blank=True, help_text="The N days of young_account.")
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "review rule (审核规则)"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind__in=["amount_over", "daily_amount", "dual_approval"]) | Q(amount__isnull=False),
                name="review_rule_amount_given",
            ),
            models.CheckConstraint(
                condition=~Q(kind="daily_count") | Q(count__isnull=False), name="review_rule_count_given"
            ),
            models.CheckConstraint(
                condition=~Q(kind="young_account") | Q(days__isnull=False), name="review_rule_days_given"
            ),
        ]

    def __str__(self):
        return f"{self.code}: {self.name}"

    def clean(self):
        errors = {}
        needs = {
            "amount": {RuleKind.AMOUNT_OVER, RuleKind.DAILY_AMOUNT, RuleKind.DUAL_APPROVAL},
            "count": {RuleKind.DAILY_COUNT},
            "days": {RuleKind.YOUNG_ACCOUNT},
        }
        for name, kinds in needs.items():
            value = getattr(self, name)
            if self.kind in kinds and value is None:
                errors[name] = f"A rule of this kind needs its {'threshold' if name == 'amount' else name}."
            elif value is not None and value <= 0:
                errors[name] = f"The {'threshold' if name == 'amount' else name} must be above zero."
        if errors:
            raise ValidationError(errors)

    def derived_name(self) -> str:
        """The name the settings state, so a name never outlives them
        ("Above 50,000 CNY: two reviewers" after the threshold moved)."""
        currency = self.currency or "any currency"
        amount = f"{self.amount:,.2f} {currency}" if self.amount is not None else "?"
        return {
            RuleKind.AMOUNT_OVER: f"Above {amount}: manual review",
            RuleKind.DAILY_COUNT: f"More than {self.count} withdrawals a day",
            RuleKind.DAILY_AMOUNT: f"Above {amount} withdrawn in a day",
            RuleKind.NEW_CARD: "First withdrawal to a new card",
            RuleKind.WATCH_LIST: "Member on the watch list",
            RuleKind.YOUNG_ACCOUNT: f"Account younger than {self.days} days",
            RuleKind.DUAL_APPROVAL: f"Above {amount}: two reviewers",
        }.get(self.kind, self.get_kind_display())


class WatchListEntry(models.Model):
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="watch_list_entries")
    reason = models.CharField(max_length=255)
    active = models.BooleanField(default=True)
    added_by = models.CharField(max_length=150)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "watch list entry (观察名单)"
        verbose_name_plural = "watch list (观察名单)"

    def __str__(self):
        return f"{self.member} ({self.reason})"


class PayingBank(models.Model):
    """A bank account the company pays withdrawals from, reached through a
    gateway, with the internal channel clearing account its payouts credit."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=128)
    gateway = models.CharField(max_length=32, default="sandbox", help_text="Key in settings.BANK_GATEWAYS.")
    clearing_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "paying bank (付款银行)"
        ordering = ["code"]

    def __str__(self):
        return f"{self.name} ({self.code})"


class Withdrawal(models.Model):
    source_system = models.CharField(max_length=32)
    request_no = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="withdrawals")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="withdrawals")
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    amount = money_field()
    fee = money_field()
    fee_rule = models.ForeignKey(FeeRule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    fee_rule_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The fee rule's version that priced it."
    )
    # The destination card. The full number leaves the database only in a
    # payment instruction; pages, exports and the admin show the masked one.
    card_holder = models.CharField(max_length=128)
    card_bank = models.CharField(max_length=64)
    card_number = models.CharField(max_length=19)
    card_masked = models.CharField(max_length=19)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    hold = models.OneToOneField(Hold, on_delete=models.PROTECT, related_name="withdrawal")
    approvals_required = models.PositiveSmallIntegerField(default=1)
    review_rules = models.JSONField(default=list, blank=True, help_text="Codes of the rules that fired.")
    settlement = models.OneToOneField(Posting, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The staff member who took it; empty when the member did.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closing_reason = models.CharField(
        max_length=255, blank=True, help_text="Why it was rejected or cancelled, for the member."
    )
    # Given to its hold and so to its settlement posting.
    trade_no = trade_no_field()
    metadata = metadata_field()

    class Meta:
        verbose_name = "withdrawal (提现)"
        ordering = ["-id"]
        permissions = [
            ("request_withdrawal", "Can take a withdrawal request for a member"),
            ("review_withdrawal", "Can approve or reject withdrawals"),
            ("pay_withdrawal", "Can send, retry and cancel payouts"),
            ("resolve_payout_flag", "Can resolve a contradictory bank answer on a payout"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["source_system", "request_no"], name="withdrawal_unique_request"),
            models.CheckConstraint(condition=Q(amount__gt=0) & Q(fee__gte=0), name="withdrawal_amount_positive"),
            models.CheckConstraint(
                condition=~Q(status="paid") | Q(settlement__isnull=False), name="withdrawal_paid_has_settlement"
            ),
            *references_constraints("withdrawal"),
        ]
        indexes = [models.Index(fields=["status", "created_at"]), models.Index(fields=["member", "created_at"])]

    def __str__(self):
        return f"W{self.id} {self.amount_money} {self.get_status_display()}"

    @property
    def total(self):
        return self.amount + self.fee

    @property
    def amount_money(self) -> Money:
        return as_money(self.amount, self.currency)

    @property
    def fee_money(self) -> Money:
        return as_money(self.fee, self.currency)

    @property
    def total_money(self) -> Money:
        return as_money(self.total, self.currency)


class WithdrawalEvent(models.Model):
    """One status change: who, when, from, to, why, and what decided it."""

    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Status.choices)
    actor = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(max_length=255, blank=True)
    rule_codes = models.JSONField(default=list, blank=True)
    bank_ref = models.CharField(max_length=64, blank=True)
    instruction = models.ForeignKey(
        "PayoutInstruction", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"W{self.withdrawal_id} {self.get_from_status_display() or '-'} -> {self.get_to_status_display()} by {self.actor}"


class Approval(models.Model):
    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.PROTECT, related_name="approvals")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["withdrawal", "reviewer"], name="approval_one_per_reviewer")]


class InstructionStatus(models.TextChoices):
    SENT = "sent", "sent, no answer yet"
    SUCCEEDED = "succeeded", "paid by the bank"
    FAILED = "failed", "refused by the bank"


class PayoutInstruction(models.Model):
    """One payment instruction to a bank for a withdrawal: the first, or a
    retry after a failure. Its outcome is written once; later callbacks with
    the same outcome are counted, never applied again."""

    instruction_no = models.CharField(max_length=40, unique=True)
    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.PROTECT, related_name="instructions")
    bank = models.ForeignKey(PayingBank, on_delete=models.PROTECT, related_name="instructions")
    attempt = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=InstructionStatus.choices, default=InstructionStatus.SENT)
    bank_ref = models.CharField(max_length=64, blank=True)
    failure_reason = models.CharField(max_length=255, blank=True)
    sent_by = models.CharField(max_length=150)
    sent_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    last_queried_at = models.DateTimeField(null=True, blank=True)
    # Set, and committed, before the bank is called (services.payout_transmit):
    # the claim of the run that transmits, so no lock is held during the call.
    transmitting_at = models.DateTimeField(null=True, blank=True)
    duplicate_answers = models.PositiveIntegerField(default=0)
    # The bank says it paid an instruction whose withdrawal was already
    # failed over or cancelled: money left without a settlement. Finance must
    # recover it; the ledger does not book it blindly.
    needs_attention = models.CharField(max_length=255, blank=True)
    # Finance's resolution of needs_attention (services.withdrawal_flag_resolve),
    # checked against the bank's statement. A flag with no resolution is open:
    # the withdrawal can be neither paid again nor cancelled.
    attention_resolution = models.CharField(
        max_length=16,
        blank=True,
        choices=[("bank_paid", "the bank paid"), ("bank_not_paid", "the bank did not pay")],
    )
    attention_resolved_by = models.CharField(max_length=150, blank=True)
    attention_resolved_at = models.DateTimeField(null=True, blank=True)
    attention_resolution_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["withdrawal", "attempt"], name="instruction_attempt_unique"),
            # At most one unanswered instruction per withdrawal: two cashiers
            # racing can never have the bank pay twice.
            models.UniqueConstraint(
                fields=["withdrawal"], condition=Q(status="sent"), name="instruction_one_in_flight"
            ),
        ]

    def __str__(self):
        return f"{self.instruction_no} ({self.status})"
