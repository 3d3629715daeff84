"""Postings (记账), entries (账务流水), holds (冻结单) and posting rules (记账规则).

Rows here are written only by ``postings.services``. PostgreSQL enforces what
the money depends on even for writes that bypass the ORM, with triggers in
postings/sql/guards.sql that no runtime connection can switch off:

* postings, entries and hold events are append-only (a trigger rejects
  UPDATE and DELETE; an entry's one UPDATE applies a pending buffered leg);
* each posting's entries balance per currency when the statement inserting
  them ends, and a posting has at least two entries (checked at COMMIT);
* each applied entry continues its account's chain (seq, balance before and
  after), and a pending one sits on a buffered account;
* amounts are positive; hold remainders stay within the hold.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.lookups import IsNull
from django.utils import timezone

from accounts.kernel.money import Money, as_money, format_amount
from accounts.kernel.transitions import Transitions, illegal_transition
from accounts.models import Account, AccountType, Category, Entity, money_field

from .exceptions import HoldExpired, HoldNotActive
from .expressions import InvalidAmountExpression, parse_amount


class Direction(models.TextChoices):
    DEBIT = "D", "debit (借)"
    CREDIT = "C", "credit (贷)"


class BusinessType(models.TextChoices):
    RECHARGE = "recharge", "recharge (充值)"
    WITHDRAWAL = "withdrawal", "withdrawal (提现)"
    TRANSFER = "transfer", "transfer (转账)"
    FEE = "fee", "fee (手续费)"
    CREDIT_PURCHASE = "credit_purchase", "credit purchase (信用消费)"
    CREDIT_REPAYMENT = "credit_repayment", "credit repayment (还款)"
    AGREEMENT_DEBIT = "agreement_debit", "agreement debit (代扣)"
    GUARANTEE_SETTLEMENT = "guarantee_settlement", "guarantee settlement (担保交易结算)"
    REFUND = "refund", "refund (退款)"
    SETTLEMENT = "settlement", "merchant settlement (商户结算: 待结算 → 可用)"
    CHANNEL_SETTLEMENT = "channel_settlement", "channel settlement (渠道结算)"
    COUPON = "coupon", "coupon (红包/券)"
    ADJUSTMENT = "adjustment", "adjustment (调账)"
    OPENING = "opening", "opening balances (期初建账)"
    REVERSAL = "reversal", "reversal (冲正)"
    PL_CARRY_FORWARD = "pl_carry_forward", "profit and loss carry-forward (损益结转)"
    YEAR_END_CLOSE = "year_end_close", "year-end close (年结: 本年利润 → 未分配利润)"
    # The credit product's daily accruals on overdue bills (postings.credit).
    CREDIT_INTEREST = "credit_interest", "credit interest (利息)"
    CREDIT_PENALTY = "credit_penalty", "credit penalty interest (罚息)"


class MetadataRefusal(models.Func):
    """What postings/sql/metadata.sql refuses in a metadata object (NULL: nothing)."""

    function = "ledger_metadata_refusal"
    output_field = models.TextField()


def metadata_field():
    # db_default: a row written by SQL alone (ledger_post, a batch, by hand) has {} too.
    return models.JSONField(default=dict, db_default={}, blank=True, help_text="The caller's own keys and values.")


def trade_no_field():
    return models.CharField(
        "trade number", max_length=64, null=True, blank=True, help_text="The caller's trade (order) number."
    )


def references_constraints(prefix: str) -> list[models.CheckConstraint]:
    """The database's refusal of what accounts.kernel.metadata refuses: a
    metadata that is not a flat object of short strings, an empty trade number.
    ``{}`` skips the function: the common case costs one comparison."""
    return [
        models.CheckConstraint(
            condition=Q(metadata={}) | Q(IsNull(MetadataRefusal("metadata"), True)),
            name=f"{prefix}_metadata_valid",
        ),
        models.CheckConstraint(
            condition=Q(trade_no__isnull=True) | ~Q(trade_no=""), name=f"{prefix}_trade_no_not_empty"
        ),
    ]


class Posting(models.Model):
    """One business transaction (记账): N entries that balance.

    ``(source_system, request_no)`` is the caller's idempotency key; the
    ``fingerprint`` of what was asked tells a replay from a conflict.
    """

    serial_no = models.BigAutoField(primary_key=True)
    source_system = models.CharField(max_length=32, default="ledger")
    request_no = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64, editable=False)
    business_type = models.CharField(max_length=32, choices=BusinessType.choices)
    # Not indexed: a handful of entities, and every index is paid for on each posting.
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="postings", db_index=False)
    currency = models.CharField(max_length=3)
    accounting_date = models.DateField("accounting date (会计日期)")
    memo = models.CharField(max_length=255, blank=True)
    # A channel's serial number, bank reference or payment slip number.
    external_ref = models.CharField("external reference", max_length=64, blank=True)
    # The order the posting belongs to (a trade is an order, its postings the
    # balance changes: 1:N) and the caller's searchable keys (accounts.kernel.metadata).
    trade_no = trade_no_field()
    metadata = metadata_field()
    posted_by = models.CharField(max_length=150)
    # A reversal (business type reversal) or the red posting of a correction
    # (红冲: its original's business type, see Correction) names what it undoes;
    # one each, so a posting is reversed or corrected once (postings/sql/corrections.sql).
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    # A correction posted on the open day for a day already closed says which.
    corrects_date = models.DateField("corrects accounting date", null=True, blank=True)
    # The version of the business type's posting rule (PostingRule.version)
    # whose legs these are; NULL when the caller gave the legs.
    rule_version = models.PositiveIntegerField("posting rule version", null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "posting (记账)"
        ordering = ["-serial_no"]
        constraints = [
            models.UniqueConstraint(fields=["source_system", "request_no"], name="posting_unique_request"),
            *references_constraints("posting"),
        ]
        # external_ref: equality lookups only (a channel's serial), so no LIKE index beside it.
        # The API's searches (GET /api/v1/postings) are one index scan each:
        # request_no across source systems, a trade's postings newest first,
        # metadata containment (only postings that have metadata are in the
        # GIN index: the search names metadata <> '{}' to use it), a time range.
        indexes = [
            models.Index(fields=["accounting_date", "business_type"]),
            models.Index(fields=["external_ref"], name="posting_external_ref_idx"),
            models.Index(fields=["request_no"], name="posting_request_no_idx"),
            models.Index(
                fields=["trade_no", "serial_no"], condition=Q(trade_no__isnull=False), name="posting_trade_no_idx"
            ),
            GinIndex(
                fields=["metadata"],
                opclasses=["jsonb_path_ops"],
                condition=~Q(metadata={}),
                name="posting_metadata_gin",
            ),
            models.Index(fields=["created_at"], name="posting_created_at_idx"),
        ]

    def __str__(self):
        return f"P{self.serial_no} {self.business_type} {self.request_no}"


class Entry(models.Model):
    """An entry (账务流水): one leg of a posting on one account, never edited.

    ``account_seq`` numbers an account's entries 1, 2, 3, ... so that each
    entry's ``balance_before`` is the previous one's ``balance_after``.

    A leg on a buffered (hot) account is written with the posting but
    *pending*: ``account_seq`` and the balances are NULL and the account's
    balance does not include it yet. The flush (``postings.services.buffers``) fills
    them in exactly once; that is the only UPDATE an entry ever sees.
    """

    serial_no = models.BigAutoField(primary_key=True)
    posting = models.ForeignKey(Posting, on_delete=models.PROTECT, related_name="entries")
    # Not indexed alone: (account, account_seq) and (account, accounting_date) lead with it.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries", db_index=False)
    account_seq = models.BigIntegerField(null=True, blank=True)
    direction = models.CharField(max_length=1, choices=Direction.choices)
    amount = money_field()
    currency = models.CharField(max_length=3)
    balance_before = money_field(null=True, blank=True, default=None)
    balance_after = money_field(null=True, blank=True, default=None)
    frozen_before = money_field(null=True, blank=True, default=None)
    frozen_after = money_field(null=True, blank=True, default=None)
    business_type = models.CharField(max_length=32, choices=BusinessType.choices)
    accounting_date = models.DateField("accounting date (会计日期)")
    created_at = models.DateTimeField(auto_now_add=True)
    # sha256 of the entry's content and the previous entry's hash on its
    # account: set by the database (postings/sql/entry_hash.sql) when the entry
    # takes its place in the chain; NULL while pending. docs/hash_chain.md.
    entry_hash = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "entry (账务流水)"
        verbose_name_plural = "entries (账务流水)"
        ordering = ["-serial_no"]
        constraints = [
            models.UniqueConstraint(fields=["account", "account_seq"], name="entry_unique_account_seq"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="entry_amount_positive"),
            models.CheckConstraint(condition=Q(direction__in=["D", "C"]), name="entry_direction_valid"),
            # Pending (all NULL) or applied (none NULL), nothing in between.
            models.CheckConstraint(
                condition=Q(
                    account_seq__isnull=True,
                    balance_before__isnull=True,
                    balance_after__isnull=True,
                    frozen_before__isnull=True,
                    frozen_after__isnull=True,
                )
                | Q(
                    account_seq__isnull=False,
                    balance_before__isnull=False,
                    balance_after__isnull=False,
                    frozen_before__isnull=False,
                    frozen_after__isnull=False,
                ),
                name="entry_pending_or_applied",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "accounting_date"]),
            models.Index(fields=["accounting_date", "business_type"]),
            # The buffer: small, and what the flush and balance reads scan.
            models.Index(
                fields=["account", "accounting_date", "serial_no"],
                condition=Q(account_seq__isnull=True),
                name="entry_pending_idx",
            ),
            # As-of balances: an account's last applied entry booked by an
            # instant is one descent of this index (postings.selectors.balance_as_of).
            models.Index(
                fields=["account", "created_at", "account_seq"],
                condition=Q(account_seq__isnull=False),
                name="entry_account_created_idx",
            ),
        ]

    def __str__(self):
        return f"E{self.serial_no} {self.direction} {self.amount_money}"

    @property
    def amount_money(self) -> Money:
        return as_money(self.amount, self.currency)


class HoldStatus(models.TextChoices):
    HELD = "held", "held (冻结中)"
    PARTIALLY_SETTLED = "partially_settled", "partially settled (部分扣除)"
    SETTLED = "settled", "settled (已扣除)"
    RELEASED = "released", "released (已解冻)"
    EXPIRED = "expired", "expired (已过期)"


def _hold_refusal(what: str, from_status: str, to_status: str, **fields):
    if HOLD_TRANSITIONS[from_status]:  # an active hold asked for a move the table lacks
        return illegal_transition(what, from_status, to_status, **fields)
    if from_status == HoldStatus.EXPIRED:
        return HoldExpired(f"{what} expired.", **fields, status=from_status)
    return HoldNotActive(f"{what} is {from_status}.", **fields, status=from_status)


# from -> the statuses it may move to (``accounts.kernel.transitions``). A
# partial settlement or release leaves an active hold active (held stays held
# after a partial release); settling, releasing or expiring the rest closes
# it. Moving a closed hold is HoldNotActive (code hold_not_active), an
# expired one HoldExpired (code hold_expired, a HoldNotActive).
HOLD_TRANSITIONS = Transitions(
    {
        HoldStatus.HELD: {
            HoldStatus.HELD,
            HoldStatus.PARTIALLY_SETTLED,
            HoldStatus.SETTLED,
            HoldStatus.RELEASED,
            HoldStatus.EXPIRED,
        },
        HoldStatus.PARTIALLY_SETTLED: {
            HoldStatus.PARTIALLY_SETTLED,
            HoldStatus.SETTLED,
            HoldStatus.RELEASED,
            HoldStatus.EXPIRED,
        },
        HoldStatus.SETTLED: set(),
        HoldStatus.RELEASED: set(),
        HoldStatus.EXPIRED: set(),
    },
    refuse=_hold_refusal,
)
ACTIVE_HOLD_STATUSES = tuple(status for status in HoldStatus if HOLD_TRANSITIONS[status])


class Hold(models.Model):
    """A hold (冻结单): an amount reserved for a later debit of the account.

    Available drops when it is placed; the balance moves only when it is
    settled (扣除冻结). Releases (解冻) hand the rest back. The status moves
    along ``HOLD_TRANSITIONS``; every step is a ``HoldEvent``.
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds")
    amount = money_field()
    remaining = money_field()
    status = models.CharField(max_length=20, choices=HoldStatus.choices, default=HoldStatus.HELD)
    reason = models.CharField(max_length=255)
    source_system = models.CharField(max_length=32, default="ledger")
    request_no = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Given to its settlement postings unless they name their own.
    trade_no = trade_no_field()
    metadata = metadata_field()
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "hold (冻结单)"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["source_system", "request_no"], name="hold_unique_request"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=models.F("amount")),
                name="hold_remaining_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(remaining=0) | Q(status__in=["held", "partially_settled"]),
                name="hold_closed_means_nothing_remaining",
            ),
            *references_constraints("hold"),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"]),
            # What the frozen check sums at COMMIT (postings/sql/account_guards.sql): the
            # account's active holds only, however many closed ones it has.
            models.Index(
                fields=["account"],
                include=["remaining"],
                condition=Q(status__in=ACTIVE_HOLD_STATUSES),
                name="hold_active_account_idx",
            ),
        ]

    def __str__(self):
        currency = self.account.currency
        return f"H{self.id} {format_amount(self.remaining, currency)}/{as_money(self.amount, currency)} {self.get_status_display()}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_HOLD_STATUSES


class HoldEvent(models.Model):
    """One step in a hold's life: placed, (partly) settled, released, expired."""

    class Kind(models.TextChoices):
        FREEZE = "freeze", "freeze (冻结)"
        SETTLE = "settle", "settle (扣除冻结)"
        RELEASE = "release", "release (解冻)"
        EXPIRE = "expire", "expire (过期解冻)"

    hold = models.ForeignKey(Hold, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = money_field()
    posting = models.OneToOneField(Posting, null=True, blank=True, on_delete=models.PROTECT, related_name="hold_event")
    frozen_before = money_field()
    frozen_after = money_field()
    source_system = models.CharField(max_length=32, default="ledger")
    request_no = models.CharField(max_length=64, null=True, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    actor = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "hold event"
        ordering = ["id"]
        # The end of day's hold check reads the holds with an event since the day
        # before the day it checks (reports/eod/checks.py, _check_hold_events).
        indexes = [models.Index(fields=["created_at"], name="hold_event_created_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "request_no"],
                condition=Q(request_no__isnull=False),
                name="hold_event_unique_request",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_event_amount_positive"),
        ]


class PostingRule(models.Model):
    """A posting rule (记账规则): which legs one business event produces.

    Calling systems say ``recharge(member_account, channel_account, amount)``;
    the rule turns that into Dr channel / Cr member. Finance edits rules in
    the admin; hand-built legs remain for adjustments.
    """

    business_type = models.CharField(max_length=32, choices=BusinessType.choices, unique=True)
    description = models.CharField(max_length=255, blank=True)
    active = models.BooleanField(default=True)
    # Raised by each approved change (accounts.kernel.governance); a posting
    # made through the rule records the version it was booked under.
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        verbose_name = "posting rule (记账规则)"
        ordering = ["business_type"]

    def __str__(self):
        return self.get_business_type_display()


class PostingRuleLeg(models.Model):
    """One leg of a rule. The account is either a parameter the caller passes
    (an account number) or the entity's single internal account of a type
    (e.g. FEE_INCOME); the amount is parameters and constants joined by + and
    - (``amount+fee``, ``postings.expressions``). Legs whose amount comes to
    zero are left out."""

    rule = models.ForeignKey(PostingRule, on_delete=models.CASCADE, related_name="legs")
    position = models.PositiveSmallIntegerField(default=0)
    direction = models.CharField(max_length=1, choices=Direction.choices)
    account_param = models.CharField(
        max_length=32, blank=True, help_text="Name of the parameter carrying the account number, e.g. member_account."
    )
    internal_account_type = models.ForeignKey(
        AccountType,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text="Or: use the entity's internal account of this type.",
    )
    amount_expr = models.CharField(
        max_length=64, default="amount", help_text="Parameters and constants joined by + and -, e.g. amount+fee."
    )

    class Meta:
        ordering = ["rule", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(account_param="") & Q(internal_account_type__isnull=False))
                | (~Q(account_param="") & Q(internal_account_type__isnull=True)),
                name="rule_leg_one_account_source",
            )
        ]

    def clean(self):
        try:
            parse_amount(self.amount_expr)
        except InvalidAmountExpression as exc:
            raise ValidationError({"amount_expr": exc.message}) from None
        if bool(self.account_param) == (self.internal_account_type_id is not None):
            raise ValidationError(
                "Each leg posts to either a parameter's account or an internal account of a type, not both or neither."
            )

    def __str__(self):
        target = self.account_param or f"internal {self.internal_account_type.code}"
        return f"{self.get_direction_display()} {target} {self.amount_expr}"


class DayStatus(models.TextChoices):
    OPEN = "open", "open (营业中)"
    CLOSING = "closing", "closing (日切后, 日终处理中)"
    CLOSED = "closed", "closed (已日结)"


class AccountingCalendar(models.Model):
    """An entity's accounting-day calendar: which day is open, and when it is
    cut (日切). Postings take the open day; the cut moves it forward.

    ``cut_time`` is local time. From 12:00 on it cuts the open day on that
    same calendar day (23:00: postings after 23:00 on the 24th belong to the
    25th); before 12:00 it cuts it the next morning (00:30 on the 25th ends
    the 24th). Midnight is the default.
    """

    entity = models.OneToOneField(Entity, on_delete=models.PROTECT, related_name="calendar")
    open_date = models.DateField("open accounting date")
    cut_time = models.TimeField(default=time(0, 0))
    # The last day of the latest closed month (月结): no posting may be dated
    # on or before it. Kept here, on the row every posting already reads, so
    # the database's check (postings/sql/closed_periods.sql) is one indexed
    # read of a hot row; set only by the period close (reports/sql/periods.sql).
    closed_through = models.DateField("closed through (已结账至)", null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "accounting calendar (会计日历)"

    def __str__(self):
        return f"{self.entity.code}: open {self.open_date}"

    def cut_moment(self, day: date | None = None) -> datetime:
        """When ``day`` (default: the open day) is cut, as an aware datetime."""
        day = day or self.open_date
        on = day if self.cut_time >= time(12, 0) else day + timedelta(days=1)
        return timezone.make_aware(datetime.combine(on, self.cut_time))


class AccountingDay(models.Model):
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="accounting_days")
    date = models.DateField()
    status = models.CharField(max_length=8, choices=DayStatus.choices, default=DayStatus.OPEN)
    opened_at = models.DateTimeField(auto_now_add=True)
    cut_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "accounting day (会计日)"
        ordering = ["-date", "entity_id"]
        constraints = [models.UniqueConstraint(fields=["entity", "date"], name="accounting_day_unique")]

    def __str__(self):
        return f"{self.entity_id}/{self.date} {self.status}"


# ------------------------------------------------------------- refunds ----


class RefundRounding(models.TextChoices):
    # Every leg's share is floored to the cent and the cents left over go to
    # the largest remainders: no leg is favoured by its kind.
    LARGEST_REMAINDER = "largest_remainder", "largest remainder (最大余数)"
    # The fee and revenue-share legs (every leg of a side but its largest,
    # the principal) are refunded rounded down; the principal takes the rest.
    FEES_DOWN = "fees_down", "fees and shares rounded down, principal takes the rest"


DEFAULT_REFUND_WINDOW_DAYS = 365


class RefundPolicy(models.Model):
    """How payments of one business type are refunded (a control setting,
    changed by maker-checker: postings/governed.py). A business type without
    a policy is refunded with the defaults: 365 days, largest remainder, no
    second person needed for any amount."""

    business_type = models.CharField(max_length=32, choices=BusinessType.choices, unique=True)
    window_days = models.PositiveIntegerField(
        "refund window (days)",
        default=DEFAULT_REFUND_WINDOW_DAYS,
        help_text="A payment older than this is refunded only by staff, with a reason and a second person's approval.",
    )
    rounding = models.CharField(max_length=32, choices=RefundRounding.choices, default=RefundRounding.LARGEST_REMAINDER)
    approval_above = money_field(
        null=True,
        blank=True,
        default=None,
        help_text="A refund above this amount needs a second person's approval; empty: never.",
    )

    class Meta:
        verbose_name = "refund policy (退款规则)"
        verbose_name_plural = "refund policies (退款规则)"
        ordering = ["business_type"]
        constraints = [
            models.CheckConstraint(condition=Q(window_days__gt=0), name="refund_policy_window_positive"),
            models.CheckConstraint(
                condition=Q(approval_above__isnull=True) | Q(approval_above__gte=0),
                name="refund_policy_approval_above_not_negative",
            ),
        ]

    def __str__(self):
        return f"refunds of {self.business_type}"


class MerchantReserve(models.Model):
    """A merchant whose refunds, when its account's available balance is
    short, take the shortfall from its reserve account (保证金) instead of
    being refused with insufficient_funds."""

    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="refund_reserve")
    reserve_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = "merchant refund reserve (退款保证金)"
        constraints = [
            models.CheckConstraint(
                condition=~Q(account=models.F("reserve_account")), name="merchant_reserve_not_itself"
            ),
        ]

    def __str__(self):
        return f"{self.account} ← reserve {self.reserve_account}"

    def clean(self):
        if not (self.account_id and self.reserve_account_id):
            return
        account, reserve = self.account, self.reserve_account
        if account.pk == reserve.pk:
            raise ValidationError("A merchant's reserve is another account than the one it refunds from.")
        if account.category != Category.LIABILITY or reserve.category != Category.LIABILITY:
            raise ValidationError("Both the merchant's account and its reserve are cash (liability) accounts.")
        if (account.entity_id, account.currency) != (reserve.entity_id, reserve.currency):
            raise ValidationError("The reserve account is in the merchant account's entity and currency.")


class RefundStatus(models.TextChoices):
    PENDING = "pending_approval", "awaiting approval (待复核)"
    POSTED = "posted", "refunded (已退款)"
    REJECTED = "rejected", "rejected (已驳回)"


class Refund(models.Model):
    """A refund (退款) of part or all of a posting (the original payment).

    Booked as a ``refund`` posting whose legs reverse each leg of the original
    in proportion (``RefundLeg``: what it took from each original leg). A late
    or large refund waits for a second person (``needs_approval``) and is
    posted by the approval. ``(source_system, request_no)`` is the caller's
    idempotency key; the refund posting carries the same request number.
    """

    original = models.ForeignKey(Posting, on_delete=models.PROTECT, related_name="refunds")
    posting = models.OneToOneField(Posting, null=True, blank=True, on_delete=models.PROTECT, related_name="refund")
    amount = money_field()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=RefundStatus.choices)
    # Why the refund needs a second person: "late", "large", or both; empty: it does not.
    needs_approval = models.CharField(max_length=32, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    source_system = models.CharField(max_length=32, default="ledger")
    request_no = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64, editable=False)
    requested_by = models.CharField(max_length=150)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "refund (退款)"
        ordering = ["-id"]
        permissions = [
            ("refund_posting", "Can refund a posting from the staff pages"),
            ("approve_refund", "Can approve a late or large refund"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["source_system", "request_no"], name="refund_unique_request"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(
                condition=Q(status="posted", posting__isnull=False) | (~Q(status="posted") & Q(posting__isnull=True)),
                name="refund_posted_iff_posting",
            ),
            # Maker-checker: a refund that needed a second person was posted by
            # one who is not its proposer.
            models.CheckConstraint(
                condition=Q(needs_approval="")
                | ~Q(status="posted")
                | (
                    Q(decided_by__isnull=False) & (Q(proposed_by__isnull=True) | ~Q(decided_by=models.F("proposed_by")))
                ),
                name="refund_approved_by_another",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="refund_status_idx")]

    def __str__(self):
        return f"R{self.id} {format_amount(self.amount, self.currency)} of P{self.original_id}"

    @property
    def amount_money(self) -> Money:
        return as_money(self.amount, self.currency)


class RefundLeg(models.Model):
    """What one refund took back from one leg (entry) of the original posting.
    The database keeps the sum over an entry's refund legs within its amount
    (postings/sql/refunds.sql). ``from_reserve`` is the part of a payee's leg
    that the merchant's reserve account paid."""

    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="legs")
    original_entry = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="refund_legs")
    amount = money_field()
    from_reserve = money_field()

    class Meta:
        ordering = ["refund_id", "original_entry_id"]
        constraints = [
            models.UniqueConstraint(fields=["refund", "original_entry"], name="refund_leg_once_per_entry"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_leg_amount_positive"),
            models.CheckConstraint(
                condition=Q(from_reserve__gte=0) & Q(from_reserve__lte=models.F("amount")),
                name="refund_leg_reserve_within_amount",
            ),
        ]


# ------------------------------------------------------ guarantee orders ----


class OrderStatus(models.TextChoices):
    PAID = "paid", "paid into escrow (已付款, 待确认)"
    DISPUTED = "disputed", "disputed (争议中, 冻结)"
    CONFIRMED = "confirmed", "confirmed (已确认收货)"
    REFUNDED = "refunded", "refunded in full (已全额退款)"


# from -> the statuses it may move to. A partial refund leaves a paid order
# paid; refunding the rest closes it as refunded. A disputed order moves only
# by its resolution, back to paid (the resolution's outcome, a confirmation
# or a refund, is then a step of its own in the same transaction).
ORDER_TRANSITIONS = Transitions(
    {
        OrderStatus.PAID: {OrderStatus.PAID, OrderStatus.DISPUTED, OrderStatus.CONFIRMED, OrderStatus.REFUNDED},
        OrderStatus.DISPUTED: {OrderStatus.PAID},
        OrderStatus.CONFIRMED: set(),
        OrderStatus.REFUNDED: set(),
    }
)
OPEN_ORDER_STATUSES = tuple(status for status in OrderStatus if ORDER_TRANSITIONS[status])


class GuaranteeOrder(models.Model):
    """A guarantee order (担保交易): the buyer's money held in escrow for one
    order until it is confirmed (to the merchant, commission to fee income,
    the coupon added), refunded, or disputed.

    ``balance`` is the order's own share of the escrow account: what the
    buyer paid in less what was refunded or confirmed. PostgreSQL keeps it
    the sum of its events, never negative, and zero once the order closes
    (postings/sql/orders.sql); the end of day checks that the escrow
    account's balance is the sum of its open orders' balances.
    """

    order_no = models.CharField("order number", max_length=64, help_text="The caller's trade or order number.")
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    buyer_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    merchant_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    escrow_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="escrow_orders")
    amount = money_field()
    commission = money_field()
    coupon = money_field()
    balance = money_field()
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.PAID)
    pay_posting = models.OneToOneField(Posting, on_delete=models.PROTECT, related_name="+")
    confirm_by = models.DateTimeField("confirmed automatically at")
    source_system = models.CharField(max_length=32, default="ledger")
    request_no = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64, editable=False)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "guarantee order (担保交易)"
        ordering = ["-id"]
        permissions = [("dispute_guaranteeorder", "Can dispute and resolve a guarantee order")]
        constraints = [
            models.UniqueConstraint(fields=["source_system", "request_no"], name="order_unique_request"),
            models.UniqueConstraint(fields=["source_system", "order_no"], name="order_unique_order_no"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="order_amount_positive"),
            models.CheckConstraint(
                condition=Q(commission__gte=0) & Q(commission__lte=models.F("amount")),
                name="order_commission_within_amount",
            ),
            models.CheckConstraint(condition=Q(coupon__gte=0), name="order_coupon_not_negative"),
            models.CheckConstraint(
                condition=Q(balance__gte=0) & Q(balance__lte=models.F("amount")), name="order_balance_within_amount"
            ),
            models.CheckConstraint(
                condition=Q(balance=0) | Q(status__in=["paid", "disputed"]), name="order_closed_means_nothing_held"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "confirm_by"], name="order_status_confirm_by_idx"),
            # What the end of day sums per escrow account: its open orders only.
            models.Index(
                fields=["escrow_account"],
                include=["balance"],
                condition=Q(status__in=["paid", "disputed"]),
                name="order_open_escrow_idx",
            ),
        ]

    def __str__(self):
        return f"O{self.id} {self.order_no} {format_amount(self.balance, self.currency)} {self.status}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ORDER_STATUSES

    def money(self, value) -> Money:
        return as_money(value, self.currency)


class OrderEvent(models.Model):
    """One step in an order's life, never changed: paid in, (partly)
    refunded, confirmed, disputed, resolved. A step that moves money names
    its posting and how much it moved in or out of the order's escrow."""

    class Kind(models.TextChoices):
        PAY = "pay", "paid into escrow (付款)"
        REFUND = "refund", "refunded (退款)"
        CONFIRM = "confirm", "confirmed (确认收货)"
        AUTO_CONFIRM = "auto_confirm", "confirmed automatically (超时自动确认)"
        DISPUTE = "dispute", "disputed (发起争议)"
        RESOLVE = "resolve", "dispute resolved (争议解决)"

    order = models.ForeignKey(GuaranteeOrder, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = money_field()
    posting = models.OneToOneField(Posting, null=True, blank=True, on_delete=models.PROTECT, related_name="order_event")
    refund = models.OneToOneField(Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="order_event")
    commission = money_field()
    coupon = money_field()
    from_status = models.CharField(max_length=16, choices=OrderStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=OrderStatus.choices)
    reason = models.CharField(max_length=255, blank=True)
    source_system = models.CharField(max_length=32, default="ledger")
    request_no = models.CharField(max_length=64, null=True, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    actor = models.CharField(max_length=150)
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "guarantee order event"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "request_no"],
                condition=Q(request_no__isnull=False),
                name="order_event_unique_request",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="order_event_amount_not_negative"),
            # Money moves with a posting, and only on the steps that move it.
            models.CheckConstraint(
                condition=(
                    Q(kind__in=["pay", "refund", "confirm", "auto_confirm"]) & Q(amount__gt=0, posting__isnull=False)
                )
                | (Q(kind__in=["dispute", "resolve"]) & Q(amount=0, posting__isnull=True)),
                name="order_event_money_with_posting",
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="order_event_created_idx")]

    def __str__(self):
        return f"O{self.order_id} {self.kind} {self.from_status}→{self.to_status}"


# ------------------------------------------------------------ corrections ----


class CorrectionStatus(models.TextChoices):
    PROPOSED = "proposed", "proposed (待复核)"
    BOOKED = "booked", "booked (已红冲更正)"
    REJECTED = "rejected", "rejected (已驳回)"


class Correction(models.Model):
    """A red-ink correction (红冲 + 蓝字) of a booked posting, under maker-checker.

    One finance person proposes it with a reason and the corrected legs
    (``legs``: ``[[account_no, "D"|"C", "amount"], ...]``); another approves
    it, which books in one transaction:

    * the red posting (红字): the original's business type, ``reverses`` the
      original, every entry the original's with the direction swapped (so
      balances move back exactly). Vouchers read it as red ink: lines in the
      original's subjects and directions with negative amounts;
    * the blue posting (蓝字): the corrected legs, in the original's business
      type and currency.

    PostgreSQL refuses (postings/sql/corrections.sql) a second live correction
    of one posting, a booked correction whose red posting does not mirror its
    original exactly, a red posting outside a booked correction, and any
    change of a decided correction.
    """

    original = models.ForeignKey(Posting, on_delete=models.PROTECT, related_name="corrections")
    red_posting = models.OneToOneField(
        Posting, null=True, blank=True, on_delete=models.PROTECT, related_name="correction_red"
    )
    blue_posting = models.OneToOneField(
        Posting, null=True, blank=True, on_delete=models.PROTECT, related_name="correction_blue"
    )
    status = models.CharField(max_length=16, choices=CorrectionStatus.choices, default=CorrectionStatus.PROPOSED)
    legs = models.JSONField(help_text="The corrected legs: [account_no, direction, amount] each.")
    reason = models.CharField(max_length=255)
    # The proposal's idempotency key (a double submit of the form proposes once).
    source_system = models.CharField(max_length=32, default="ledger")
    request_no = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64, editable=False)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "red-ink correction (红冲更正)"
        ordering = ["-id"]
        permissions = [
            ("propose_correction", "Can propose a red-ink correction of a posting"),
            ("approve_correction", "Can approve or reject a red-ink correction"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["source_system", "request_no"], name="correction_unique_request"),
            # A posting has one live correction: one awaiting a decision, or the one booked.
            models.UniqueConstraint(
                fields=["original"], condition=~Q(status="rejected"), name="correction_one_live_per_posting"
            ),
            models.CheckConstraint(
                condition=Q(status="booked", red_posting__isnull=False, blue_posting__isnull=False)
                | (~Q(status="booked") & Q(red_posting__isnull=True, blue_posting__isnull=True)),
                name="correction_booked_iff_postings",
            ),
            models.CheckConstraint(
                condition=~Q(status="booked") | (Q(decided_by__isnull=False) & ~Q(decided_by=models.F("proposed_by"))),
                name="correction_approved_by_another",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="correction_status_idx")]

    def __str__(self):
        return f"C{self.id} of P{self.original_id} ({self.status})"


class MonthlyStatement(models.Model):
    """A member account's statement of one calendar month (月度对账单), as the
    PDF that was made for it on the 1st of the next month
    (postings.services.statements): kept as sent, once per account and month.
    The database refuses to change or delete one, and refuses a PDF whose
    SHA-256 is not the one recorded (postings/sql/statements.sql)."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="monthly_statements")
    month = models.DateField(help_text="The month's first day.")
    currency = models.CharField(max_length=3)
    opening = money_field()
    closing = money_field()
    debit_total = money_field()
    credit_total = money_field()
    entry_count = models.PositiveIntegerField()
    pdf = models.BinaryField(editable=False)
    sha256 = models.CharField("SHA-256 of the PDF", max_length=64, editable=False)
    generated_by = models.CharField(max_length=150)
    generated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "monthly statement (月度对账单)"
        ordering = ["-month", "account_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "month"], name="monthly_statement_once"),
            models.CheckConstraint(condition=Q(month__day=1), name="monthly_statement_month_first_day"),
        ]
        indexes = [models.Index(fields=["month"], name="monthly_statement_month_idx")]

    def __str__(self):
        return f"{self.account_id} {self.month:%Y-%m}"

    @property
    def filename(self) -> str:
        return f"statement-{self.account.account_no}-{self.month:%Y-%m}.pdf"
