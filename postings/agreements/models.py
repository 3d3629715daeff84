"""Agreements (代扣协议), their history, scheduled debit instructions and
every debit attempt.

PostgreSQL keeps what the money depends on (postings/agreements/sql/agreements.sql):
a posting of business type ``agreement_debit`` commits only linked by a debit
attempt to an agreement that was active, covered its payer, payee and day,
and had room for it in its limits per debit and per period; an agreement's
terms never change (only its status, along AGREEMENT_TRANSITIONS, each step a
history row); history and attempts are append-only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.kernel.money import Money, as_money
from accounts.kernel.transitions import Transitions
from accounts.models import Account, Entity, money_field


class AgreementStatus(models.TextChoices):
    ACTIVE = "active", "active (生效)"
    SUSPENDED = "suspended", "suspended (暂停)"
    REVOKED = "revoked", "revoked (已解约)"
    EXPIRED = "expired", "expired (已到期)"


# from -> the statuses it may move to. A suspension is lifted by resuming;
# revoked and expired are final (a new agreement is signed instead).
AGREEMENT_TRANSITIONS = Transitions(
    {
        AgreementStatus.ACTIVE: {AgreementStatus.SUSPENDED, AgreementStatus.REVOKED, AgreementStatus.EXPIRED},
        AgreementStatus.SUSPENDED: {AgreementStatus.ACTIVE, AgreementStatus.REVOKED, AgreementStatus.EXPIRED},
        AgreementStatus.REVOKED: set(),
        AgreementStatus.EXPIRED: set(),
    }
)


class Frequency(models.TextChoices):
    ON_DEMAND = "on_demand", "on demand (按需)"
    WEEKLY = "weekly", "weekly (每周)"
    MONTHLY = "monthly", "monthly (每月)"


class Repay(models.TextChoices):
    """What a credit repayment agreement (purpose ``credit_repayment``) takes
    on a bill's due date: what is left of the bill, or of its minimum."""

    FULL = "full", "the amount due (全额)"
    MINIMUM = "minimum", "the minimum due (最低还款额)"


CREDIT_REPAYMENT_PURPOSE = "credit_repayment"


class LimitPeriod(models.TextChoices):
    DAY = "day", "per day"
    WEEK = "week", "per week (Monday to Sunday)"
    MONTH = "month", "per calendar month"


class Agreement(models.Model):
    """A signed mandate (代扣协议): the payee may debit the payer's account
    for ``purpose``, without payment authentication, within its limits,
    from ``valid_from`` to ``valid_to`` (inclusive, accounting dates).

    ``frequency`` on demand: the business system asks for each debit.
    Weekly or monthly: on ``schedule_day`` (1 = Monday .. 7, or the day of
    the month, the last day in a shorter month) a debit instruction of
    ``scheduled_amount`` is made and taken by the beat job; what cannot be
    taken is retried every ``retry_every_days`` up to ``max_retries`` times.
    ``allow_partial``: a debit short of funds takes what is available (the
    rest retried), else it takes nothing.
    """

    agreement_no = models.CharField(
        "agreement number", max_length=64, help_text="The calling system's contract number, unique per system."
    )
    source_system = models.CharField(max_length=32, default="ledger")
    request_no = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64, editable=False)
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    payer_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="agreements_as_payer")
    payee_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="agreements_as_payee")
    purpose = models.CharField(max_length=64, help_text="What the debits pay, e.g. credit_repayment.")
    max_per_debit = money_field()
    max_per_period = money_field()
    limit_period = models.CharField(max_length=8, choices=LimitPeriod.choices, default=LimitPeriod.MONTH)
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.ON_DEMAND)
    schedule_day = models.PositiveSmallIntegerField(null=True, blank=True)
    scheduled_amount = money_field(null=True, blank=True, default=None)
    allow_partial = models.BooleanField(default=False)
    repay = models.CharField(
        max_length=8,
        choices=Repay.choices,
        blank=True,
        default="",
        help_text="A credit repayment agreement: what the due-date debit takes (the member's choice when signing).",
    )
    retry_every_days = models.PositiveSmallIntegerField(default=1)
    max_retries = models.PositiveSmallIntegerField(default=3)
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=AgreementStatus.choices, default=AgreementStatus.ACTIVE)
    signed_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "agreement (代扣协议)"
        ordering = ["-id"]
        permissions = [("change_agreement_status", "Can suspend, resume or revoke an agreement")]
        constraints = [
            models.UniqueConstraint(fields=["source_system", "request_no"], name="agreement_unique_request"),
            models.UniqueConstraint(fields=["source_system", "agreement_no"], name="agreement_unique_no"),
            models.CheckConstraint(condition=Q(max_per_debit__gt=0), name="agreement_max_per_debit_positive"),
            models.CheckConstraint(
                condition=Q(max_per_period__gte=models.F("max_per_debit")), name="agreement_period_covers_a_debit"
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="agreement_valid_to_after_from",
            ),
            models.CheckConstraint(
                condition=~Q(payer_account=models.F("payee_account")), name="agreement_payer_is_not_payee"
            ),
            models.CheckConstraint(
                condition=Q(repay="") | Q(purpose=CREDIT_REPAYMENT_PURPOSE, repay__in=Repay.values),
                name="agreement_repay_only_for_credit",
            ),
            models.CheckConstraint(condition=Q(retry_every_days__gte=1), name="agreement_retry_every_day_or_more"),
            # On demand: no schedule. Scheduled: a day in the week or month and an amount within a debit.
            models.CheckConstraint(
                condition=Q(frequency="on_demand", schedule_day__isnull=True, scheduled_amount__isnull=True)
                | Q(frequency="weekly", schedule_day__gte=1, schedule_day__lte=7)
                | Q(frequency="monthly", schedule_day__gte=1, schedule_day__lte=31),
                name="agreement_schedule_fits_frequency",
            ),
            models.CheckConstraint(
                condition=Q(frequency="on_demand")
                | (Q(scheduled_amount__gt=0) & Q(scheduled_amount__lte=models.F("max_per_debit"))),
                name="agreement_scheduled_amount_within_a_debit",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "valid_to"], name="agreement_status_valid_to_idx"),
            models.Index(fields=["payer_account", "status"], name="agreement_payer_status_idx"),
        ]

    def __str__(self):
        return f"A{self.pk} {self.agreement_no} ({self.status})"

    @property
    def is_scheduled(self) -> bool:
        return self.frequency != Frequency.ON_DEMAND

    def money(self, value) -> Money:
        return as_money(value, self.currency)


class AgreementEvent(models.Model):
    """One step in an agreement's life: signed, suspended, resumed, revoked,
    expired; who did it (the calling system, a staff member, the expiry job)
    and why. Never changed."""

    class Kind(models.TextChoices):
        SIGN = "sign", "signed (签约)"
        SUSPEND = "suspend", "suspended (暂停)"
        RESUME = "resume", "resumed (恢复)"
        REVOKE = "revoke", "revoked (解约)"
        EXPIRE = "expire", "expired (到期)"

    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    from_status = models.CharField(max_length=10, choices=AgreementStatus.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=AgreementStatus.choices)
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
        verbose_name = "agreement event"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "request_no"],
                condition=Q(request_no__isnull=False),
                name="agreement_event_unique_request",
            ),
        ]

    def __str__(self):
        return f"A{self.agreement_id} {self.kind} {self.from_status}→{self.to_status}"


class InstructionStatus(models.TextChoices):
    OPEN = "open", "open (待扣款)"
    DONE = "done", "taken in full (已扣足)"
    FAILED = "failed", "given up (已放弃)"
    CANCELLED = "cancelled", "cancelled: agreement not active (协议失效)"


class DebitInstruction(models.Model):
    """A scheduled debit (扣款指令) of a weekly or monthly agreement: made
    for its due day, taken by the beat job, partly or whole, and what is
    left retried on ``next_attempt_on`` until taken or out of retries."""

    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="instructions")
    due_date = models.DateField()
    amount = money_field()
    taken = money_field()
    status = models.CharField(max_length=10, choices=InstructionStatus.choices, default=InstructionStatus.OPEN)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "scheduled debit (扣款指令)"
        ordering = ["-due_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "due_date"], name="instruction_once_per_due_date"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="instruction_amount_positive"),
            models.CheckConstraint(
                condition=Q(taken__gte=0) & Q(taken__lte=models.F("amount")), name="instruction_taken_within_amount"
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(taken=models.F("amount")), name="instruction_done_means_all_taken"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_on"], name="instruction_due_idx")]

    def __str__(self):
        return f"I{self.pk} A{self.agreement_id} {self.due_date} {self.taken}/{self.amount} {self.status}"

    @property
    def rest(self):
        return self.amount - self.taken


class Outcome(models.TextChoices):
    TAKEN = "taken", "taken in full (扣款成功)"
    PARTIAL = "partial", "partly taken (部分扣款)"
    REFUSED = "refused", "nothing taken (扣款失败)"


class DebitAttempt(models.Model):
    """One attempt to debit under an agreement, and its outcome, never
    changed. A taken (or partly taken) attempt names its hold and the
    posting that settled it, Dr payer / Cr payee in business type
    ``agreement_debit``; the database checks every such posting against the
    agreement it names here (limits per debit and per ``period_start``). A
    refused attempt took nothing and says why (``code``: insufficient_funds,
    agreement_limit_exceeded, no_agreement, account_blocked, ...).

    ``(source_system, request_no)`` is the caller's idempotency key of what
    was taken: one taking attempt per number. A refused attempt does not
    spend the number: asked again, it is tried again."""

    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="attempts")
    instruction = models.ForeignKey(
        DebitInstruction, null=True, blank=True, on_delete=models.PROTECT, related_name="attempt_rows"
    )
    source_system = models.CharField(max_length=32, default="ledger")
    request_no = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64, editable=False)
    purpose = models.CharField(max_length=64)
    amount_asked = money_field()
    amount_taken = money_field()
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    code = models.CharField(max_length=40, blank=True, help_text="Why less than asked was taken.")
    message = models.CharField(max_length=255, blank=True)
    hold = models.OneToOneField(
        "postings.Hold", null=True, blank=True, on_delete=models.PROTECT, related_name="agreement_attempt"
    )
    posting = models.OneToOneField(
        "postings.Posting", null=True, blank=True, on_delete=models.PROTECT, related_name="agreement_attempt"
    )
    accounting_date = models.DateField(null=True, blank=True)
    period_start = models.DateField(null=True, blank=True)
    actor = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "debit attempt (扣款记录)"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "request_no"],
                condition=Q(posting__isnull=False),
                name="attempt_unique_taking_request",
            ),
            models.CheckConstraint(condition=Q(amount_asked__gt=0), name="attempt_amount_asked_positive"),
            models.CheckConstraint(
                condition=Q(amount_taken__gte=0) & Q(amount_taken__lte=models.F("amount_asked")),
                name="attempt_taken_within_asked",
            ),
            # Money moves with a posting, a hold and a period, and only then.
            models.CheckConstraint(
                condition=(
                    Q(outcome="taken", amount_taken=models.F("amount_asked"))
                    | Q(outcome="partial", amount_taken__gt=0, amount_taken__lt=models.F("amount_asked"))
                )
                & Q(
                    posting__isnull=False, hold__isnull=False, accounting_date__isnull=False, period_start__isnull=False
                )
                | Q(
                    outcome="refused",
                    amount_taken=0,
                    posting__isnull=True,
                    hold__isnull=True,
                    accounting_date__isnull=True,
                    period_start__isnull=True,
                ),
                name="attempt_outcome_matches_money",
            ),
        ]
        indexes = [
            # What the limit per period sums: an agreement's taking attempts in one period.
            models.Index(
                fields=["agreement", "period_start"],
                include=["amount_taken"],
                condition=Q(posting__isnull=False),
                name="attempt_period_idx",
            ),
            models.Index(fields=["created_at"], name="attempt_created_idx"),
        ]

    def __str__(self):
        return f"D{self.pk} A{self.agreement_id} {self.amount_taken}/{self.amount_asked} {self.outcome}"
