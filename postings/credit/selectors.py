"""Reads of the credit product: what a line owes, in which bucket, what a
bill still asks for, what is overdue and by how many days.

What a line owes is never stored beside its balance: it is the line's
entries, read in chain order from the last bill's closing buckets
(``replay``). A debit is principal, unless it is an accrual (interest,
penalty) or the reversal of a credit (what that credit had paid comes
back, bucket by bucket); a credit is split by its recorded allocation or,
not yet recorded, by the rule the services record it with
(``split_credit``). So the buckets always add up to the ledger's balance,
whoever posted what.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from accounts.kernel.money import ZERO, currency_places
from accounts.models import Account, Category

from ..models import BusinessType, Direction, Entry, Posting
from ..services.calendar import calendar_for
from .models import Bill, Bucket, CreditAccrual, CreditAllocation, CreditProduct

REPAYMENT_TYPES = (BusinessType.CREDIT_REPAYMENT.value, BusinessType.AGREEMENT_DEBIT.value)
ACCRUAL_BUCKETS = {
    BusinessType.CREDIT_INTEREST.value: Bucket.INTEREST,
    BusinessType.CREDIT_PENALTY.value: Bucket.PENALTY,
}
# A refund or a reversal gives back a purchase: principal first.
GIVE_BACK_ORDER = [Bucket.PRINCIPAL, Bucket.INTEREST, Bucket.PENALTY]


# --------------------------------------------------------------- dates ----


def billing_date_in(year: int, month: int, day: int) -> date:
    """The billing date of a month: ``day``, or the month's last day when it is shorter."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def next_billing_date(after: date, day: int) -> date:
    """The first billing date strictly after ``after``."""
    this_month = billing_date_in(after.year, after.month, day)
    if this_month > after:
        return this_month
    year, month = (after.year + 1, 1) if after.month == 12 else (after.year, after.month + 1)
    return billing_date_in(year, month, day)


def round_half_up(amount: Decimal, places: int) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def minimum_due(amount_due: Decimal, product: CreditProduct, currency: str) -> Decimal:
    """max(share x amount due, floor), never more than the amount due."""
    if amount_due <= 0:
        return ZERO
    share = round_half_up(amount_due * product.minimum_percent, currency_places(currency))
    return min(amount_due, max(share, product.minimum_floor))


# -------------------------------------------------------------- buckets ----


@dataclass
class Owed:
    principal: Decimal = ZERO
    interest: Decimal = ZERO
    penalty: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.penalty

    def get(self, bucket: str) -> Decimal:
        return getattr(self, bucket)

    def add(self, bucket: str, amount: Decimal) -> None:
        setattr(self, bucket, getattr(self, bucket) + amount)


def split_credit(owed: Owed, amount: Decimal, order: Iterable[str]) -> dict[str, Decimal]:
    """``amount`` taken from the buckets in ``order``, each at most what it
    holds; anything left (a line credited beyond what the buckets say, which
    the sign rule prevents) goes to principal."""
    parts = {b: ZERO for b in Bucket.values}
    left = amount
    for bucket in order:
        take = min(left, max(owed.get(bucket), ZERO))
        parts[bucket] += take
        left -= take
    parts[Bucket.PRINCIPAL] += left
    return parts


@dataclass
class Movement:
    """One applied entry of a line, as the replay reads it."""

    account_seq: int
    posting_id: int
    direction: str
    amount: Decimal
    business_type: str
    accounting_date: date
    reverses_id: int | None
    reverses_type: str | None


@dataclass
class Replay:
    owed: Owed
    # Since the start: credits in all, and their principal part.
    credited: Decimal = ZERO
    credited_principal: Decimal = ZERO
    # The period's sums, as a bill states them.
    sums: dict[str, Decimal] = field(default_factory=dict)
    entry_count: int = 0
    # Credits without a recorded allocation: (movement, kind, parts, order).
    unrecorded: list[tuple[Movement, str, dict[str, Decimal], str]] = field(default_factory=list)


SUM_NAMES = ("purchases", "repayments", "refunds", "interest", "penalties", "other_debits", "other_credits")


def movements(account: Account, *, after: date | None = None, through: date | None = None) -> list[Movement]:
    q = Q(account=account, account_seq__isnull=False)
    if after is not None:
        q &= Q(accounting_date__gt=after)
    if through is not None:
        q &= Q(accounting_date__lte=through)
    rows = (
        Entry.objects.filter(q)
        .order_by("account_seq")
        .values_list(
            "account_seq",
            "posting_id",
            "direction",
            "amount",
            "business_type",
            "accounting_date",
            "posting__reverses_id",
            "posting__reverses__business_type",
        )
    )
    return [Movement(*row) for row in rows]


def credit_kind(m: Movement) -> str:
    if m.business_type in REPAYMENT_TYPES:
        return "repayment"
    if m.business_type == BusinessType.REFUND:
        return "refund"
    return "other"


def credit_order(m: Movement, product: CreditProduct) -> list[str]:
    kind = credit_kind(m)
    if kind == "repayment":
        return product.order
    # A reversed (or red-ink corrected) accrual gives back its own bucket first.
    undone = ACCRUAL_BUCKETS.get(m.reverses_type or m.business_type)
    if undone is not None:
        return [undone, *[b for b in GIVE_BACK_ORDER if b != undone]]
    return list(GIVE_BACK_ORDER)


def replay(
    account: Account,
    product: CreditProduct,
    *,
    start: Bill | None,
    through: date | None = None,
    moves: list[Movement] | None = None,
) -> Replay:
    """What the line owes after its entries from the end of ``start`` (a
    bill; None: from the first entry) through the accounting date
    ``through`` (None: all)."""
    owed = Owed(start.closing_principal, start.closing_interest, start.closing_penalty) if start is not None else Owed()
    if moves is None:
        moves = movements(account, after=start.period_end if start else None, through=through)
    recorded = {
        a.account_seq: a
        for a in CreditAllocation.objects.filter(account=account, account_seq__in=[m.account_seq for m in moves])
    }
    restored = _restored(moves)
    result = Replay(owed=owed, sums={name: ZERO for name in SUM_NAMES})
    for m in moves:
        result.entry_count += 1
        if m.direction == Direction.DEBIT:
            bucket = ACCRUAL_BUCKETS.get(m.business_type)
            if bucket == Bucket.INTEREST:
                result.sums["interest"] += m.amount
            elif bucket == Bucket.PENALTY:
                result.sums["penalties"] += m.amount
            elif m.business_type == BusinessType.CREDIT_PURCHASE:
                result.sums["purchases"] += m.amount
            else:
                result.sums["other_debits"] += m.amount
            if bucket is not None:
                owed.add(bucket, m.amount)
            elif m.reverses_id in restored:
                for name, part in restored[m.reverses_id].items():
                    owed.add(name, part)
            else:
                owed.add(Bucket.PRINCIPAL, m.amount)
            continue
        kind = credit_kind(m)
        result.sums[{"repayment": "repayments", "refund": "refunds"}.get(kind, "other_credits")] += m.amount
        allocation = recorded.get(m.account_seq)
        if allocation is not None:
            parts = {
                Bucket.PENALTY: allocation.penalty,
                Bucket.INTEREST: allocation.interest,
                Bucket.PRINCIPAL: allocation.principal,
            }
        else:
            order = credit_order(m, product)
            parts = split_credit(owed, m.amount, order)
            result.unrecorded.append((m, kind, parts, ",".join(order)))
        for name, part in parts.items():
            owed.add(name, -part)
        result.credited += m.amount
        result.credited_principal += parts[Bucket.PRINCIPAL]
    return result


def _restored(moves: list[Movement]) -> dict[int, dict[str, Decimal]]:
    """A reversal of a credit to the line owes again what that credit paid."""
    reversed_ids = [m.reverses_id for m in moves if m.direction == Direction.DEBIT and m.reverses_id]
    if not reversed_ids:
        return {}
    return {
        a.posting_id: {Bucket.PENALTY: a.penalty, Bucket.INTEREST: a.interest, Bucket.PRINCIPAL: a.principal}
        for a in CreditAllocation.objects.filter(posting_id__in=reversed_ids)
    }


# ------------------------------------------------------------- products ----


def product_for(account: Account) -> CreditProduct | None:
    """The product a credit line is billed under: its entity's, in its currency."""
    if account.category != Category.ASSET or account.member_id is None:
        return None
    return CreditProduct.objects.filter(entity_id=account.entity_id, currency=account.currency).first()


def credit_lines(product: CreditProduct) -> QuerySet[Account]:
    """A product's credit lines: its entity's member asset accounts in its currency."""
    return Account.objects.filter(
        entity_id=product.entity_id, currency=product.currency, category=Category.ASSET, member__isnull=False
    )


def latest_bill(account: Account, *, through: date | None = None) -> Bill | None:
    bills = Bill.objects.filter(account=account)
    if through is not None:
        bills = bills.filter(period_end__lte=through)
    return bills.order_by("-period_end").first()


def owed_now(account: Account, product: CreditProduct) -> Replay:
    """What the line owes after every applied entry."""
    return replay(account, product, start=latest_bill(account))


# ---------------------------------------------------------------- dues ----


@dataclass
class Overdue:
    """What is overdue of a line at the start of a day: its latest past-due
    bill (due date plus grace days before that day) less every credit since
    that bill's period."""

    bill: Bill
    unpaid: Decimal
    principal: Decimal
    minimum: Decimal
    within_grace_amount: bool


def overdue_at_start_of(account: Account, product: CreditProduct, day: date) -> Overdue | None:
    """What interest and penalty of ``day`` are charged on: the close of the
    day before, for the latest bill whose due date plus grace days has passed
    by then (None: no such bill, or nothing of it unpaid)."""
    before = day - timedelta(days=1)
    bill = (
        Bill.objects.filter(account=account, due_date__lte=before - timedelta(days=product.grace_days))
        .order_by("-period_end")
        .first()
    )
    if bill is None:
        return None
    seen = replay(account, product, start=bill, through=before)
    unpaid = max(ZERO, bill.amount_due - seen.credited)
    if unpaid == 0:
        return None
    return Overdue(
        bill=bill,
        unpaid=unpaid,
        principal=max(ZERO, bill.closing_principal - seen.credited_principal),
        minimum=max(ZERO, bill.minimum_due - seen.credited),
        within_grace_amount=unpaid <= product.grace_amount,
    )


def accruals_due(account: Account, product: CreditProduct, day: date) -> tuple[Overdue | None, list[tuple]]:
    """The accruals of ``day``: [(kind, base, rate, amount)] with amount > 0."""
    overdue = overdue_at_start_of(account, product, day)
    if overdue is None or overdue.within_grace_amount:
        return overdue, []
    places = currency_places(account.currency)
    due = []
    for kind, base, rate in (
        ("interest", overdue.principal, product.daily_interest_rate),
        ("penalty", overdue.minimum, product.daily_penalty_rate),
    ):
        amount = round_half_up(base * rate, places)
        if amount > 0:
            due.append((kind, base, rate, amount))
    return overdue, due


def credited_since(bill: Bill, *, through: date | None = None) -> Decimal:
    """Every credit to the bill's line dated after its period (repayments, refunds, reversals)."""
    entries = Entry.objects.filter(
        account_id=bill.account_id,
        direction=Direction.CREDIT,
        accounting_date__gt=bill.period_end,
        account_seq__isnull=False,
    )
    if through is not None:
        entries = entries.filter(accounting_date__lte=through)
    return entries.aggregate(s=Coalesce(Sum("amount"), ZERO))["s"]


class BillStatus:
    NOT_DUE = "not_due"
    PAID = "paid"
    MINIMUM_PAID = "minimum_paid"
    OVERDUE = "overdue"

    LABELS = {
        NOT_DUE: "not yet due (未到期)",
        PAID: "paid (已还清)",
        MINIMUM_PAID: "minimum paid (已还最低)",
        OVERDUE: "overdue (逾期)",
    }


@dataclass
class BillPosition:
    bill: Bill
    as_of: date
    credited: Decimal
    amount_due_left: Decimal
    minimum_due_left: Decimal
    status: str
    days_overdue: int

    @property
    def status_label(self) -> str:
        return BillStatus.LABELS[self.status]


def bill_position(bill: Bill, *, as_of: date | None = None, product: CreditProduct | None = None) -> BillPosition:
    """What a bill still asks for on ``as_of`` (default: the open day):
    every credit dated after its period counts towards it, and a bill is
    paid when what is left is within the product's grace amount."""
    product = product or bill.product
    as_of = as_of or calendar_for(entity=bill.account.entity).open_date
    credited = credited_since(bill, through=as_of)
    left = max(ZERO, bill.amount_due - credited)
    minimum_left = max(ZERO, bill.minimum_due - credited)
    if left == 0 or left <= product.grace_amount:
        status, days = BillStatus.PAID, 0
    elif as_of <= bill.due_date:
        status, days = BillStatus.NOT_DUE, 0
    else:
        status = BillStatus.MINIMUM_PAID if minimum_left == 0 else BillStatus.OVERDUE
        days = (as_of - bill.due_date).days
    return BillPosition(bill, as_of, credited, left, minimum_left, status, days)


def oldest_unpaid_due_date(account: Account, *, as_of: date, product: CreditProduct) -> date | None:
    """The due date days overdue count from: the oldest of the run of overdue
    bills (minimum not paid) that ends with the latest past-due bill. A bill
    whose minimum was paid is not overdue (revolving: it bears interest, no
    penalty), so it ends the run."""
    oldest = None
    for bill in Bill.objects.filter(account=account, due_date__lt=as_of).order_by("-period_end"):
        position = bill_position(bill, as_of=as_of, product=product)
        if position.status != BillStatus.OVERDUE:
            break
        oldest = bill.due_date
    return oldest


# ------------------------------------------------------ what a member sees ----


@dataclass
class CreditSummary:
    account: Account
    product: CreditProduct | None
    as_of: date
    owed: Owed
    bill: Bill | None
    position: BillPosition | None
    days_overdue: int

    @property
    def over_limit(self) -> bool:
        return self.account.balance + self.account.frozen > self.account.credit_limit


def credit_summary(account: Account) -> CreditSummary:
    """The member's line now: what it owes by bucket, the current bill (the
    latest) with what it still asks for, its due date, and days overdue."""
    product = product_for(account)
    as_of = calendar_for(entity=account.entity).open_date
    if product is None:
        return CreditSummary(account, None, as_of, Owed(principal=account.balance), None, None, 0)
    owed = owed_now(account, product).owed
    bill = latest_bill(account)
    position = bill_position(bill, as_of=as_of, product=product) if bill else None
    oldest = oldest_unpaid_due_date(account, as_of=as_of, product=product) if bill else None
    days = (as_of - oldest).days if oldest else 0
    return CreditSummary(account, product, as_of, owed, bill, position, days)


# ------------------------------------------------------ staff lists ----


def bills(*, product: CreditProduct | None = None) -> QuerySet[Bill]:
    qs = Bill.objects.select_related("account", "account__member", "product", "product__entity")
    if product is not None:
        qs = qs.filter(product=product)
    return qs.order_by("-billing_date", "account__account_no")


@dataclass
class OverdueRow:
    account: Account
    bill: Bill
    position: BillPosition
    oldest_due: date
    days_overdue: int
    interest: Decimal
    penalty: Decimal


def overdue_rows(*, as_of: date | None = None, entity_id: int | None = None, min_days: int = 0) -> list[OverdueRow]:
    """Every line whose latest past-due bill is overdue on ``as_of`` (its
    minimum not paid; default: each entity's open day): days overdue from the
    oldest overdue bill's due date, what is left of the amount and the minimum due, and the interest
    and penalty accrued since that bill. Most days overdue first."""
    rows = []
    products = CreditProduct.objects.select_related("entity")
    if entity_id is not None:
        products = products.filter(entity_id=entity_id)
    for product in products:
        day = as_of or calendar_for(entity=product.entity).open_date
        # Each line's latest past-due bill (PostgreSQL's DISTINCT ON).
        candidates = (
            Bill.objects.filter(product=product, due_date__lt=day)
            .order_by("account_id", "-period_end")
            .distinct("account_id")
            .select_related("account", "account__member", "product")
        )
        for bill in candidates:
            position = bill_position(bill, as_of=day, product=product)
            if position.status != BillStatus.OVERDUE:
                continue
            oldest = oldest_unpaid_due_date(bill.account, as_of=day, product=product) or bill.due_date
            accrued = dict(
                CreditAccrual.objects.filter(account=bill.account, accrual_date__gt=bill.due_date)
                .values("kind")
                .annotate(s=Sum("amount"))
                .values_list("kind", "s")
            )
            days = (day - oldest).days
            if days < min_days:
                continue
            rows.append(
                OverdueRow(
                    bill.account,
                    bill,
                    position,
                    oldest,
                    days,
                    accrued.get("interest", ZERO),
                    accrued.get("penalty", ZERO),
                )
            )
    rows.sort(key=lambda r: (-r.days_overdue, r.account.account_no))
    return rows


# ------------------------------------------------------------ a bill ----


def bill_entries(bill: Bill) -> QuerySet[Entry]:
    """The movements a bill states: the line's applied entries of its period, in chain order."""
    return (
        Entry.objects.filter(
            account_id=bill.account_id,
            accounting_date__gte=bill.period_start,
            accounting_date__lte=bill.period_end,
            account_seq__isnull=False,
        )
        .select_related("posting")
        .order_by("account_seq")
    )


def bill_accruals(bill: Bill) -> QuerySet[CreditAccrual]:
    """The accruals booked in a bill's period (each day's, as the bill adds them up)."""
    return (
        CreditAccrual.objects.filter(
            account_id=bill.account_id,
            posting__accounting_date__gte=bill.period_start,
            posting__accounting_date__lte=bill.period_end,
        )
        .select_related("posting", "bill")
        .order_by("accrual_date", "kind")
    )


def accruals_charged_on(bill: Bill) -> QuerySet[CreditAccrual]:
    """The accruals charged on a bill's overdue amounts (booked after it, on later bills)."""
    return CreditAccrual.objects.filter(bill=bill).select_related("posting", "bill").order_by("accrual_date", "kind")


def bill_allocations(bill: Bill) -> QuerySet[CreditAllocation]:
    """How the credits booked in a bill's period were allocated."""
    return (
        CreditAllocation.objects.filter(
            account_id=bill.account_id,
            accounting_date__gte=bill.period_start,
            accounting_date__lte=bill.period_end,
        )
        .select_related("posting")
        .order_by("account_seq")
    )


def repayments_after(bill: Bill) -> QuerySet[CreditAllocation]:
    """The credits that paid towards a bill: those dated after its period."""
    return (
        CreditAllocation.objects.filter(account_id=bill.account_id, accounting_date__gt=bill.period_end)
        .select_related("posting")
        .order_by("account_seq")
    )


def allocation_of(posting: Posting, account: Account) -> CreditAllocation | None:
    return CreditAllocation.objects.filter(posting=posting, account=account).first()
