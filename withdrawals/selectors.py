"""Reads for withdrawals: the review rules' verdict, the queues the pages
show, and the dashboard figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_CEILING, Decimal

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, QuerySet, Sum
from django.utils import timezone

from accounts.kernel.money import currency_places
from accounts.kernel.tasks import pending_tasks_overdue

from .models import (
    FeeRule,
    InstructionStatus,
    PayoutInstruction,
    ReviewRule,
    RuleKind,
    Status,
    WatchListEntry,
    Withdrawal,
)


def fee_rule_for(*, currency: str) -> FeeRule | None:
    return FeeRule.objects.filter(currency=currency, active=True).order_by("-created_at", "-id").first()


def fee_for(*, amount: Decimal, currency: str) -> tuple[Decimal, FeeRule | None]:
    """fixed + rate% of amount, rounded UP to the currency's smallest unit
    (ROUND_CEILING: the company never under-charges by a fraction of a cent),
    then kept between the rule's minimum and maximum. No rule, no fee."""
    rule = fee_rule_for(currency=currency)
    if rule is None:
        return Decimal("0"), None
    unit = Decimal(1).scaleb(-currency_places(currency))
    fee = (rule.fixed + amount * rule.rate_percent / 100).quantize(unit, rounding=ROUND_CEILING)
    fee = max(fee, rule.minimum)
    if rule.maximum is not None:
        fee = min(fee, rule.maximum)
    return fee.quantize(unit), rule


@dataclass(frozen=True)
class Verdict:
    rule_codes: list[str]
    approvals_required: int

    @property
    def manual(self) -> bool:
        return bool(self.rule_codes)


def _member_today(withdrawal: Withdrawal) -> QuerySet[Withdrawal]:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return Withdrawal.objects.filter(member_id=withdrawal.member_id, created_at__gte=start).exclude(
        status__in=[Status.REJECTED, Status.CANCELLED]
    )


def review_verdict(withdrawal: Withdrawal) -> Verdict:
    """Which active rules fire on a withdrawal. Any rule sends it to manual
    review; a dual-approval rule also asks for two approvals."""
    fired: list[str] = []
    approvals = 1
    for rule in ReviewRule.objects.filter(active=True).order_by("code"):
        if rule.currency and rule.currency != withdrawal.currency:
            continue
        kind = rule.kind
        if kind == RuleKind.AMOUNT_OVER:
            hit = withdrawal.amount > rule.amount
        elif kind == RuleKind.DUAL_APPROVAL:
            hit = withdrawal.amount > rule.amount
            if hit:
                approvals = 2
        elif kind == RuleKind.DAILY_COUNT:
            hit = _member_today(withdrawal).count() > rule.count
        elif kind == RuleKind.DAILY_AMOUNT:
            total = _member_today(withdrawal).filter(currency=withdrawal.currency).aggregate(s=Sum("amount"))["s"]
            hit = (total or 0) > rule.amount
        elif kind == RuleKind.NEW_CARD:
            hit = (
                not Withdrawal.objects.filter(
                    member_id=withdrawal.member_id, card_number=withdrawal.card_number, status=Status.PAID
                )
                .exclude(pk=withdrawal.pk)
                .exists()
            )
        elif kind == RuleKind.WATCH_LIST:
            hit = WatchListEntry.objects.filter(member_id=withdrawal.member_id, active=True).exists()
        elif kind == RuleKind.YOUNG_ACCOUNT:
            hit = withdrawal.account.opened_on > timezone.localdate() - timedelta(days=rule.days)
        else:  # a kind added to the choices but not here must not approve silently
            hit = True
        if hit:
            fired.append(rule.code)
    return Verdict(fired, approvals)


def withdrawal_get(*, withdrawal_id) -> Withdrawal:
    from .exceptions import UnknownWithdrawal

    try:
        return Withdrawal.objects.select_related("account", "member", "entity", "hold").get(pk=withdrawal_id)
    except (Withdrawal.DoesNotExist, ValueError, TypeError):
        raise UnknownWithdrawal(f"No withdrawal {withdrawal_id}.", withdrawal_id=withdrawal_id) from None


def withdrawals_base() -> QuerySet[Withdrawal]:
    return Withdrawal.objects.select_related("account", "member", "entity")


def review_queue() -> QuerySet[Withdrawal]:
    """Requests waiting for a reviewer, oldest first."""
    return (
        withdrawals_base()
        .filter(status=Status.IN_REVIEW)
        .annotate(approvals_given=Count("approvals"))
        .order_by("created_at", "id")
    )


def open_bank_flags() -> QuerySet[PayoutInstruction]:
    """Contradictory bank answers finance has not resolved yet."""
    return PayoutInstruction.objects.exclude(needs_attention="").filter(attention_resolved_at__isnull=True)


def bank_may_have_paid(withdrawal: Withdrawal) -> bool:
    """An open flag or an unanswered instruction: not to be paid again or
    cancelled (the services refuse it; pages do not offer it)."""
    return (
        open_bank_flags().filter(withdrawal=withdrawal).exists()
        or withdrawal.instructions.filter(status=InstructionStatus.SENT).exists()
    )


def payout_queue() -> QuerySet[Withdrawal]:
    """What the cashier can send: approved, and failed ones to pay again or
    cancel, but not those with an open contradictory bank answer (listed
    under "needs attention" for finance)."""
    return (
        withdrawals_base()
        .filter(status__in=[Status.APPROVED, Status.FAILED])
        .exclude(Exists(open_bank_flags().filter(withdrawal=OuterRef("pk"))))
        .order_by("created_at", "id")
    )


def stuck_after() -> timedelta:
    return timedelta(minutes=settings.PAYOUT_STUCK_AFTER_MINUTES)


def instructions_in_flight() -> QuerySet[PayoutInstruction]:
    return (
        PayoutInstruction.objects.filter(status=InstructionStatus.SENT)
        .select_related("withdrawal", "withdrawal__member", "bank")
        .order_by("sent_at")
    )


def instructions_stuck() -> QuerySet[PayoutInstruction]:
    return instructions_in_flight().filter(sent_at__lt=timezone.now() - stuck_after())


# How long a transmission's claim on an instruction stands before another run
# may take it over (the first run died between claiming and recording).
TRANSMIT_CLAIM_SECONDS = 300


def followup_cutoff():
    return timezone.now() - timedelta(seconds=settings.FOLLOWUP_REQUEUE_AFTER_SECONDS)


def withdrawals_review_overdue() -> QuerySet[Withdrawal]:
    """Requests still waiting for their automatic review past
    ``FOLLOWUP_REQUEUE_AFTER_SECONDS``: the review task was lost or never
    sent (the review takes a second when it runs)."""
    return Withdrawal.objects.filter(status=Status.REQUESTED, created_at__lt=followup_cutoff())


def instructions_not_transmitted() -> QuerySet[PayoutInstruction]:
    """Instructions recorded past ``FOLLOWUP_REQUEUE_AFTER_SECONDS`` that no
    bank acknowledged and no run is transmitting now: the transmit task was
    lost, never sent, or found the bank unreachable."""
    from django.db.models import Q

    claim_dead = timezone.now() - timedelta(seconds=TRANSMIT_CLAIM_SECONDS)
    return PayoutInstruction.objects.filter(
        Q(transmitting_at__isnull=True) | Q(transmitting_at__lt=claim_dead),
        status=InstructionStatus.SENT,
        bank_ref="",
        sent_at__lt=followup_cutoff(),
    )


def instructions_needing_attention() -> QuerySet[PayoutInstruction]:
    return open_bank_flags().select_related("withdrawal", "bank")


def last_failure(withdrawal: Withdrawal) -> PayoutInstruction | None:
    return withdrawal.instructions.filter(status=InstructionStatus.FAILED).order_by("-attempt").first()


def member_recent_withdrawals(withdrawal: Withdrawal, limit: int = 5) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(member_id=withdrawal.member_id).exclude(pk=withdrawal.pk).order_by("-id")[:limit]


@dataclass(frozen=True)
class Dashboard:
    in_review: int
    in_review_amount: dict[str, Decimal]
    to_pay: int
    to_pay_amount: dict[str, Decimal]
    in_flight: int
    stuck: int
    paid_today: int
    paid_today_amount: dict[str, Decimal]
    # Requests whose payout failed and that nobody has paid again or
    # cancelled yet: work left, not the count of refusals by the banks.
    failed: int
    needs_attention: int
    # Follow-up work overdue: what the follow-up sweep queues again, and the
    # tasks a broker outage left in the outbox.
    review_overdue: int
    not_transmitted: int
    tasks_unsent: int


def _by_currency(qs: QuerySet[Withdrawal]) -> dict[str, Decimal]:
    return {row["currency"]: row["s"] for row in qs.values("currency").annotate(s=Sum("amount")).order_by("currency")}


def dashboard() -> Dashboard:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    in_review = Withdrawal.objects.filter(status__in=[Status.REQUESTED, Status.IN_REVIEW])
    to_pay = Withdrawal.objects.filter(status__in=[Status.APPROVED, Status.FAILED])
    paid_today = Withdrawal.objects.filter(status=Status.PAID, settlement__created_at__gte=start)
    return Dashboard(
        in_review=in_review.count(),
        in_review_amount=_by_currency(in_review),
        to_pay=to_pay.count(),
        to_pay_amount=_by_currency(to_pay),
        in_flight=instructions_in_flight().count(),
        stuck=instructions_stuck().count(),
        paid_today=paid_today.count(),
        paid_today_amount=_by_currency(paid_today),
        failed=Withdrawal.objects.filter(status=Status.FAILED).count(),
        needs_attention=instructions_needing_attention().count(),
        review_overdue=withdrawals_review_overdue().count(),
        not_transmitted=instructions_not_transmitted().count(),
        tasks_unsent=pending_tasks_overdue().count(),
    )


# ------------------------------------------------------- staff pages ----
# Reads the staff pages (withdrawals/views.py) need beyond the queues above.


def paying_banks_active() -> QuerySet:
    """The banks a cashier may choose, with the currency each pays in."""
    from .models import PayingBank

    return PayingBank.objects.filter(active=True).select_related("clearing_account").order_by("code")


def review_rule_names() -> dict[str, str]:
    return dict(ReviewRule.objects.values_list("code", "name"))


@dataclass(frozen=True)
class ReviewCard:
    """What a reviewer sees beside one request: the account as it stands now,
    its latest entries, the member's other withdrawals and why it is here."""

    withdrawal: Withdrawal
    recent_entries: list
    past_withdrawals: list[Withdrawal]
    rules: list[tuple[str, str]]  # (code, name) of the rules that fired
    bulk_allowed: bool


def review_cards(withdrawals, *, entries: int = 5, past: int = 5) -> list[ReviewCard]:
    from postings.selectors import recent_entries

    names = review_rule_names()
    limit = Decimal(settings.WITHDRAWAL_BULK_APPROVE_MAX)
    return [
        ReviewCard(
            withdrawal=w,
            recent_entries=list(recent_entries(account=w.account, limit=entries)),
            past_withdrawals=list(member_recent_withdrawals(w, limit=past)),
            rules=[(code, names.get(code, "(rule deleted)")) for code in w.review_rules],
            bulk_allowed=w.approvals_required <= 1 and w.amount <= limit,
        )
        for w in withdrawals
    ]


@dataclass(frozen=True)
class PayoutRow:
    withdrawal: Withdrawal
    last_failure: PayoutInstruction | None


def payout_rows(withdrawals) -> list[PayoutRow]:
    return [PayoutRow(w, last_failure(w) if w.status == Status.FAILED else None) for w in withdrawals]


def _with_stuck_flag(qs: QuerySet[PayoutInstruction]) -> QuerySet[PayoutInstruction]:
    from django.db.models import BooleanField, Case, Value, When

    cutoff = timezone.now() - stuck_after()
    return qs.annotate(
        is_stuck=Case(
            When(status=InstructionStatus.SENT, sent_at__lt=cutoff, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    )


def instructions_in_flight_flagged() -> QuerySet[PayoutInstruction]:
    """In-flight instructions, oldest first, each with ``is_stuck``."""
    return _with_stuck_flag(instructions_in_flight())


def withdrawals_list() -> QuerySet[Withdrawal]:
    """Every withdrawal, newest first, with the bank of its latest instruction."""
    from django.db.models import Subquery

    latest = PayoutInstruction.objects.filter(withdrawal=OuterRef("pk")).order_by("-attempt")
    return (
        withdrawals_base()
        .annotate(
            last_bank_code=Subquery(latest.values("bank__code")[:1]),
            last_bank_name=Subquery(latest.values("bank__name")[:1]),
        )
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class WithdrawalDetail:
    withdrawal: Withdrawal
    events: list
    approvals: list
    instructions: list
    hold_events: list
    settlement_entries: list
    rules: list[tuple[str, str]]


def withdrawal_detail(*, withdrawal_id) -> WithdrawalDetail:
    """A withdrawal with its history, approvals, instructions, hold and the
    entries of its settlement posting. UnknownWithdrawal when there is none."""
    withdrawal = withdrawal_get(withdrawal_id=withdrawal_id)
    names = review_rule_names()
    settlement_entries = []
    if withdrawal.settlement_id:
        settlement_entries = list(withdrawal.settlement.entries.select_related("account").order_by("serial_no"))
    return WithdrawalDetail(
        withdrawal=withdrawal,
        events=list(withdrawal.events.select_related("instruction").order_by("id")),
        approvals=list(withdrawal.approvals.select_related("reviewer").order_by("id")),
        instructions=list(_with_stuck_flag(withdrawal.instructions.select_related("bank")).order_by("attempt")),
        hold_events=list(withdrawal.hold.events.select_related("posting").order_by("id")),
        settlement_entries=settlement_entries,
        rules=[(code, names.get(code, "(rule deleted)")) for code in withdrawal.review_rules],
    )


@dataclass(frozen=True)
class CardUsed:
    masked: str
    holder: str
    bank: str
    last_used: object
    paid_before: bool


@dataclass(frozen=True)
class RequestLookup:
    """What the phone-request form shows as soon as the account number is
    typed, and nothing more: the member's name, what the account can pay out
    now, and the cards the member withdrew to before (masked)."""

    account_no: str
    holder: str
    currency: str
    available: Decimal
    status_label: str | None  # None: active; else why a request would be refused
    cards: list[CardUsed]


def request_lookup(*, account_no: str, cards: int = 5) -> RequestLookup | None:
    """None unless ``account_no`` is a member's cash account, the only kind a
    withdrawal is taken from (withdrawal_request says the same): an internal
    or credit account reveals nothing here."""
    from django.db.models import Max, Q

    from accounts.models import Account, AccountStatus, Category

    account = (
        Account.objects.select_related("member")
        .filter(account_no=account_no.strip(), member__isnull=False, category=Category.LIABILITY)
        .first()
    )
    if account is None:
        return None
    used = (
        Withdrawal.objects.filter(member_id=account.member_id)
        .values("card_number", "card_masked", "card_holder", "card_bank")
        .annotate(last_used=Max("created_at"), paid=Count("id", filter=Q(status=Status.PAID)))
        .order_by("-last_used")[:cards]
    )
    return RequestLookup(
        account_no=account.account_no,
        holder=account.member.name,
        currency=account.currency,
        available=account.available,
        status_label=None if account.status == AccountStatus.ACTIVE else account.get_status_display(),
        # The full number only groups the rows; it never leaves this function.
        cards=[
            CardUsed(u["card_masked"], u["card_holder"], u["card_bank"], u["last_used"], u["paid"] > 0) for u in used
        ],
    )
