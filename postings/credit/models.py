"""The credit product (花呗-style credit line) and what it leaves behind:
bills (账单), daily accruals of interest and penalty (利息/罚息), and how each
credit to a line was allocated (还款分配). Issue 21, section 2.

- ``CreditProduct``: an entity's rules for its members' credit lines in one
  currency: billing day, due days, daily interest and penalty rates,
  minimum payment, grace, allocation order. A governed control setting
  (maker-checker, versioned: postings/credit/governed.py).
- ``Bill``: one statement of one credit line for one period, never changed
  once issued (postings/credit/sql/credit.sql refuses UPDATE and DELETE).
  It keeps what was owed at the period's end in three buckets (principal,
  interest, penalty): the next computations start from there.
- ``CreditAccrual``: one day's interest or penalty on one line, with the
  posting that booked it; one per line, day and kind (the end of day may
  run again, the accrual is not booked twice).
- ``CreditAllocation``: how one credit to a line (a repayment, an agreement
  debit, a refund, a reversal) was split between penalty, interest and
  principal, in the order the product said when it was recorded.

Rows are written only by ``postings.credit.services``. Models name the
ledger's own models by string so that this module imports nothing of
postings.models (postings.apps registers it; see PostingsConfig).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from accounts.models import CURRENCY_CHOICES, Account, Entity, money_field

RATE_DIGITS, RATE_PLACES = 12, 8


def rate_field(verbose_name: str, **kwargs):
    return models.DecimalField(verbose_name, max_digits=RATE_DIGITS, decimal_places=RATE_PLACES, **kwargs)


class Bucket(models.TextChoices):
    PENALTY = "penalty", "penalty (罚息)"
    INTEREST = "interest", "interest (利息)"
    PRINCIPAL = "principal", "principal (本金)"


DEFAULT_ALLOCATION_ORDER = "penalty,interest,principal"
ALLOCATION_ORDERS = [
    ("penalty,interest,principal", "penalty, interest, then principal (罚息 → 利息 → 本金)"),
    ("interest,penalty,principal", "interest, penalty, then principal (利息 → 罚息 → 本金)"),
    ("principal,interest,penalty", "principal, interest, then penalty (本金 → 利息 → 罚息)"),
    ("interest,principal,penalty", "interest, principal, then penalty (利息 → 本金 → 罚息)"),
    ("penalty,principal,interest", "penalty, principal, then interest (罚息 → 本金 → 利息)"),
    ("principal,penalty,interest", "principal, penalty, then interest (本金 → 罚息 → 利息)"),
]


class CreditProduct(models.Model):
    """How an entity's credit lines in one currency are billed and charged.

    The rules, as the services apply them (docs/credit.md has the worked
    examples):

    * billing day ``billing_day`` of each month (29-31 in a shorter month:
      its last day); the bill issued that day covers the accounting dates
      from the previous bill's end to the day before, and is due
      ``due_days`` days after its billing date;
    * minimum due = max(``minimum_percent`` x amount due rounded half-up to
      the cent, ``minimum_floor``), never more than the amount due;
    * interest: from the day after the due date plus ``grace_days``, each
      day's interest is the overdue principal (billed principal still
      unpaid) at the close of the day before x ``daily_interest_rate``,
      rounded half-up to the cent; penalty (罚息) likewise on the overdue
      minimum (the bill's minimum due still unpaid) x ``daily_penalty_rate``;
      nothing accrues while what is unpaid of the bill is at most
      ``grace_amount`` (容差);
    * a repayment pays the buckets in ``allocation_order``.
    """

    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="CNY")
    name = models.CharField(max_length=128, default="Credit line (信用账户)")
    active = models.BooleanField(default=True, help_text="Unticked: no bills are issued and nothing accrues.")
    billing_day = models.PositiveSmallIntegerField(
        "billing day (账单日)", default=1, help_text="Day of the month, 1-31; 29-31 fall on a shorter month's last day."
    )
    due_days = models.PositiveSmallIntegerField(
        "due days (还款期)", default=9, help_text="Days from the billing date to the due date (还款日), 1-28."
    )
    daily_interest_rate = rate_field("daily interest rate (日利率)", default=Decimal("0.0005"))
    daily_penalty_rate = rate_field("daily penalty rate (罚息日利率)", default=Decimal("0.00025"))
    minimum_percent = models.DecimalField(
        "minimum payment share", max_digits=5, decimal_places=4, default=Decimal("0.1000"), help_text="0.1 = 10 %."
    )
    minimum_floor = money_field(default=Decimal("50"), help_text="The least minimum payment, in the currency.")
    grace_days = models.PositiveSmallIntegerField(
        "grace days (宽限期)", default=0, help_text="Days after the due date before interest and penalty start."
    )
    grace_amount = money_field(
        default=Decimal("0"), help_text="Unpaid bill amount up to which nothing accrues (容差), e.g. 10.00."
    )
    allocation_order = models.CharField(
        "repayment allocation order", max_length=40, choices=ALLOCATION_ORDERS, default=DEFAULT_ALLOCATION_ORDER
    )
    # Raised by each approved change (accounts.kernel.governance); bills and
    # accruals record the version they were computed under.
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        verbose_name = "credit product (信用产品)"
        ordering = ["entity_id", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "currency"], name="credit_product_one_per_entity_currency"),
            models.CheckConstraint(condition=Q(billing_day__gte=1, billing_day__lte=31), name="credit_product_day"),
            models.CheckConstraint(condition=Q(due_days__gte=1, due_days__lte=28), name="credit_product_due_days"),
            models.CheckConstraint(
                condition=Q(daily_interest_rate__gte=0, daily_interest_rate__lt=Decimal("0.01"))
                & Q(daily_penalty_rate__gte=0, daily_penalty_rate__lt=Decimal("0.01")),
                name="credit_product_rates",
            ),
            models.CheckConstraint(
                condition=Q(minimum_percent__gt=0, minimum_percent__lte=1), name="credit_product_minimum_share"
            ),
            models.CheckConstraint(
                condition=Q(minimum_floor__gte=0, grace_amount__gte=0, grace_days__lte=30),
                name="credit_product_floor_and_grace",
            ),
        ]

    def __str__(self):
        return f"{self.name} · {self.entity.code} {self.currency} v{self.version}"

    @property
    def order(self) -> list[str]:
        return self.allocation_order.split(",")

    def clean(self):
        from django.core.exceptions import ValidationError

        problems = {}
        if not 1 <= (self.billing_day or 0) <= 31:
            problems["billing_day"] = "A day of the month, 1 to 31."
        if not 1 <= (self.due_days or 0) <= 28:
            problems["due_days"] = "1 to 28 days, so a bill falls due before the next one is issued."
        for name in ("daily_interest_rate", "daily_penalty_rate"):
            value = getattr(self, name)
            if value is not None and not Decimal("0") <= value < Decimal("0.01"):
                problems[name] = "A daily rate from 0 to under 1 % (0.0005 is 0.05 % a day)."
        if self.minimum_percent is not None and not Decimal("0") < self.minimum_percent <= 1:
            problems["minimum_percent"] = "A share above 0 and at most 1 (0.1 = 10 %)."
        if (self.grace_days or 0) > 30:
            problems["grace_days"] = "At most 30 days."
        if problems:
            raise ValidationError(problems)


class Bill(models.Model):
    """A bill (账单): one credit line's statement for one period.

    ``closing`` = ``opening`` + purchases - repayments - refunds + interest
    + penalties + other debits - other credits, and is the amount due: what
    the line owed at the end of ``period_end`` (its balance then). A
    movement booked on a later accounting date is on the next bill.
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="bills")
    product = models.ForeignKey(CreditProduct, on_delete=models.PROTECT, related_name="bills")
    product_version = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    period_start = models.DateField("period from")
    period_end = models.DateField("period to")
    billing_date = models.DateField("billing date (账单日)")
    due_date = models.DateField("due date (还款日)")
    opening = money_field(help_text="Owed at the start of the period: the previous bill's closing.")
    purchases = money_field()
    repayments = money_field()
    refunds = money_field()
    interest = money_field()
    penalties = money_field()
    other_debits = money_field(help_text="Reversed repayments, adjustments.")
    other_credits = money_field(help_text="Reversed purchases, corrections.")
    closing = money_field()
    amount_due = money_field(verbose_name="amount due (应还金额)")
    minimum_due = money_field(verbose_name="minimum due (最低还款额)")
    closing_principal = money_field()
    closing_interest = money_field()
    closing_penalty = money_field()
    entry_count = models.PositiveIntegerField(default=0)
    issued_at = models.DateTimeField(auto_now_add=True)
    issued_on = models.DateField(
        help_text="The open accounting day when it was issued (later than the billing date when the job caught up)."
    )
    issued_by = models.CharField(max_length=150)

    class Meta:
        verbose_name = "bill (账单)"
        ordering = ["-billing_date", "account_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "period_end"], name="bill_once_per_account_period"),
            models.CheckConstraint(condition=Q(period_start__lte=F("period_end")), name="bill_period_ordered"),
            models.CheckConstraint(
                condition=Q(billing_date__gt=F("period_end")) & Q(due_date__gt=F("billing_date")),
                name="bill_dates_ordered",
            ),
            models.CheckConstraint(
                condition=Q(
                    closing=F("opening")
                    + F("purchases")
                    - F("repayments")
                    - F("refunds")
                    + F("interest")
                    + F("penalties")
                    + F("other_debits")
                    - F("other_credits")
                ),
                name="bill_closing_adds_up",
            ),
            models.CheckConstraint(
                condition=Q(closing=F("closing_principal") + F("closing_interest") + F("closing_penalty")),
                name="bill_buckets_add_up",
            ),
            models.CheckConstraint(
                condition=Q(amount_due=F("closing"), minimum_due__gte=0, minimum_due__lte=F("amount_due")),
                name="bill_amounts_due",
            ),
            models.CheckConstraint(
                condition=Q(
                    opening__gte=0,
                    purchases__gte=0,
                    repayments__gte=0,
                    refunds__gte=0,
                    interest__gte=0,
                    penalties__gte=0,
                    other_debits__gte=0,
                    other_credits__gte=0,
                    closing_principal__gte=0,
                    closing_interest__gte=0,
                    closing_penalty__gte=0,
                ),
                name="bill_amounts_not_negative",
            ),
        ]
        indexes = [models.Index(fields=["billing_date", "account"], name="bill_billing_date_idx")]

    def __str__(self):
        return f"B{self.pk} {self.account} {self.period_start}..{self.period_end}"

    @property
    def bill_no(self) -> str:
        return f"B{self.pk}"


class AccrualKind(models.TextChoices):
    INTEREST = "interest", "interest (利息)"
    PENALTY = "penalty", "penalty (罚息)"


class CreditAccrual(models.Model):
    """One day's interest or penalty on one credit line (计提), booked by the
    end of the day before (docs/credit.md): ``amount`` = ``base`` x ``rate``
    rounded half-up to the cent, which the database checks."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="credit_accruals")
    accrual_date = models.DateField("accrues for (计息日)")
    kind = models.CharField(max_length=16, choices=AccrualKind.choices)
    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="accruals")
    base = money_field(help_text="The overdue principal (interest) or overdue minimum (penalty) at the day's start.")
    rate = rate_field("daily rate")
    amount = money_field()
    # The currency's minor units: amount = round(base x rate, places).
    places = models.PositiveSmallIntegerField(default=2)
    posting = models.OneToOneField("postings.Posting", on_delete=models.PROTECT, related_name="credit_accrual")
    product_version = models.PositiveIntegerField()
    booked_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "credit accrual (利息/罚息计提)"
        ordering = ["-accrual_date", "account_id", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["account", "accrual_date", "kind"], name="credit_accrual_once_a_day"),
            models.CheckConstraint(condition=Q(amount__gt=0, base__gt=0, rate__gt=0), name="credit_accrual_positive"),
        ]
        indexes = [models.Index(fields=["account", "accrual_date"], name="credit_accrual_account_day")]

    def __str__(self):
        return f"{self.account} {self.accrual_date} {self.kind} {self.amount}"


class AllocationKind(models.TextChoices):
    REPAYMENT = "repayment", "repayment (还款)"
    REFUND = "refund", "refund (退款)"
    OTHER = "other", "other credit (冲正/更正)"


class CreditAllocation(models.Model):
    """How one posting's credit to a credit line was split: ``penalty`` +
    ``interest`` + ``principal`` = ``amount``. A repayment follows the
    product's order; a refund or a reversal of a purchase gives back
    principal first. Recorded with the repayment (``bill_repay``) or, for a
    credit booked another way, by the end of its day."""

    posting = models.ForeignKey("postings.Posting", on_delete=models.PROTECT, related_name="credit_allocations")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="credit_allocations")
    account_seq = models.BigIntegerField(help_text="The credit's entry in the line's chain.")
    accounting_date = models.DateField()
    kind = models.CharField(max_length=16, choices=AllocationKind.choices)
    amount = money_field()
    penalty = money_field()
    interest = money_field()
    principal = money_field()
    allocation_order = models.CharField(max_length=40)
    # The latest bill issued when the credit was booked (what it paid toward).
    bill = models.ForeignKey(Bill, null=True, blank=True, on_delete=models.PROTECT, related_name="allocations")
    recorded_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "credit allocation (还款分配)"
        ordering = ["account_id", "account_seq"]
        constraints = [
            models.UniqueConstraint(fields=["account", "account_seq"], name="credit_allocation_once_per_entry"),
            models.UniqueConstraint(fields=["posting", "account"], name="credit_allocation_once_per_posting"),
            models.CheckConstraint(
                condition=Q(amount__gt=0, penalty__gte=0, interest__gte=0, principal__gte=0)
                & Q(amount=F("penalty") + F("interest") + F("principal")),
                name="credit_allocation_adds_up",
            ),
        ]

    def __str__(self):
        return f"{self.account} #{self.account_seq} {self.amount}"
