"""Writes of the credit product: bills, daily accruals, repayments.

Design overview
---------------
A credit line (an asset account with a limit) owes what its balance says;
the product (``CreditProduct``) says how that is billed and charged. What
is owed is read from the line's entries (``selectors.replay``) in three
buckets: principal (purchases, and anything else that raised the line),
interest and penalty (the daily accruals). A credit pays the buckets in the
product's allocation order (a repayment) or gives back principal first (a
refund, a reversal); each credit's split is recorded once
(``CreditAllocation``), by ``bill_repay`` with the repayment or, for a
credit posted another way (the API's credit_repayment rule, a refund, an
agreement debit settled from a hold), by the end of its day.

Bills. On each billing day (``billing_day``; 29-31 in a shorter month: its
last day), once the day before is cut (日切: nothing can be dated on it
any more), ``bills_issue_due`` issues each line's bill for the accounting
dates since its previous bill through the day before: opening (the previous
closing), purchases, repayments, refunds, interest, penalties, other debits
and credits, closing = amount due, minimum due, due date (``due_days``
after the billing date). A line that owed nothing and moved not at all gets
no bill. The database refuses any change of an issued bill, a bill of a day
still open, and a closing other than what the entries add up to
(postings/credit/sql/credit.sql). A movement dated later is the next bill's.

Accruals. Each day's interest and penalty are booked by the end of the day
before (``credit_accruals_book``, a step of the end of day, reports.eod),
on what was overdue at that day's close, i.e. at the start of the day
charged: a member who pays k days after the due date pays k days. For day
D, with L the latest bill whose due date + grace days < D and C every credit
dated after L's period through D - 1:

    overdue principal = max(0, L's closing principal - C's principal part)
    overdue minimum   = max(0, L's minimum due - C)
    interest(D) = round_half_up(overdue principal x daily interest rate, cents)
    penalty(D)  = round_half_up(overdue minimum x daily penalty rate, cents)

nothing while L's amount due - C is within the grace amount (容差). Paying
the minimum stops the penalty, not the interest on the principal left
(revolving credit). Each accrual is a posting through the rules
credit_interest / credit_penalty (Dr the line / Cr interest or penalty
income) under request number credit-<kind>-<account>-<YYYYMMDD> and a
``CreditAccrual`` unique per line, day and kind: an end of day run again
books nothing twice. An accrual may take a line beyond its limit (the sign
rule allows it, posting_rules.sql); it is dated the open day.

Idempotency: a repayment carries the caller's request number (the posting's);
a bill is unique per line and period end; an accrual per line, day and kind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction

from accounts.kernel.errors import LedgerError, LedgerValidationError
from accounts.kernel.events import event_record
from accounts.kernel.money import ZERO, currency_places, to_amount
from accounts.models import Account, Entity
from accounts.selectors import account_get

from ..models import BusinessType, Direction, Entry, Posting
from ..services import posting_create_by_rule
from ..services.calendar import calendar_for
from ..services.drafts import DEFAULT_SOURCE
from . import selectors
from .exceptions import NoCreditProduct
from .models import Bill, CreditAccrual, CreditAllocation, CreditProduct

logger = logging.getLogger(__name__)

REPAYMENT_RULES = {
    BusinessType.CREDIT_REPAYMENT.value: ("cash_account", "credit_account"),
    BusinessType.AGREEMENT_DEBIT.value: ("payer_account", "payee_account"),
}


def _text(amount: Decimal) -> str:
    """An amount as the events carry it: the ledger's four places."""
    return str(Decimal(amount).quantize(Decimal("0.0001")))


# ---------------------------------------------------------- allocations ----


def _record(account: Account, seen: selectors.Replay, recorded_by: str) -> int:
    """Record the splits ``seen`` derived for credits that had none. A split
    recorded meanwhile by another transaction (bill_repay, the other of two
    runs) wins: the same rule gave it the same figures."""
    if not seen.unrecorded:
        return 0
    bills = sorted(Bill.objects.filter(account=account).values_list("period_end", "pk"))
    rows = []
    for m, kind, parts, order in seen.unrecorded:
        paid_toward = next((pk for end, pk in reversed(bills) if end < m.accounting_date), None)
        rows.append(
            CreditAllocation(
                posting_id=m.posting_id,
                account=account,
                account_seq=m.account_seq,
                accounting_date=m.accounting_date,
                kind=kind,
                amount=m.amount,
                penalty=parts["penalty"],
                interest=parts["interest"],
                principal=parts["principal"],
                allocation_order=order,
                bill_id=paid_toward,
                recorded_by=recorded_by,
            )
        )
    CreditAllocation.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def credit_allocations_record(*, account: Account, through: date | None = None, recorded_by: str) -> int:
    """Record how each credit to the line dated through ``through`` (None:
    every one) was allocated, where nothing recorded it yet. Returns how many."""
    product = selectors.product_for(account)
    if product is None:
        return 0
    start = selectors.latest_bill(account, through=through)
    seen = selectors.replay(account, product, start=start, through=through)
    return _record(account, seen, recorded_by)


def credit_allocation_record(*, posting: Posting, recorded_by: str) -> list[CreditAllocation]:
    """Record the split of ``posting``'s credits to credit lines, now (the
    hook for a repayment booked without ``bill_repay``, e.g. an agreement
    debit settled from a hold: call it in the same transaction). The
    credits before it on each line are recorded too. Returns the posting's
    allocations."""
    lines = Account.objects.filter(
        entries__posting=posting, entries__direction=Direction.CREDIT, category="asset", member__isnull=False
    ).distinct()
    with transaction.atomic():
        for account in lines:
            credit_allocations_record(account=account, recorded_by=recorded_by)
    return list(CreditAllocation.objects.filter(posting=posting))


# ----------------------------------------------------------- repayments ----


@dataclass
class Repayment:
    posting: Posting
    allocation: CreditAllocation
    replayed: bool


def bill_repay(
    *,
    credit_account_no: str,
    cash_account_no: str,
    amount,
    request_no: str,
    posted_by: str,
    source_system: str = DEFAULT_SOURCE,
    memo: str = "",
    business_type: str = BusinessType.CREDIT_REPAYMENT,
) -> Repayment:
    """Repay a credit line from a cash account (还款) and record how the
    amount was allocated (penalty, interest, principal in the product's
    order), in one transaction. ``business_type``: credit_repayment, or
    agreement_debit when an agreement (代扣) takes it (its rule's
    payer/payee; the agreement's own checks are that rule's). Idempotent by
    ``(source_system, request_no)``: a replay answers the first repayment
    and its allocation (``replayed``), other content is
    IdempotencyConflict. More than the line owes is refused
    (insufficient_funds, "repaid beyond what is owed")."""
    if business_type not in REPAYMENT_RULES:
        raise LedgerValidationError(
            f"A repayment is {' or '.join(REPAYMENT_RULES)}, not {business_type}.", business_type=business_type
        )
    credit = account_get(account_no=credit_account_no)
    if selectors.product_for(credit) is None:
        raise NoCreditProduct(
            f"Account {credit.account_no} is not a credit line billed under a credit product.",
            account_no=credit.account_no,
        )
    amount = to_amount(amount, credit.currency)
    payer_param, line_param = REPAYMENT_RULES[business_type]
    with transaction.atomic():
        # Both accounts, in id order as every posting locks them, before the
        # line is read: nothing posts to it between the split and the posting.
        cash = Account.objects.filter(account_no=cash_account_no).first()
        ids = sorted(pk for pk in (credit.pk, cash.pk if cash else None) if pk)
        list(Account.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))
        posting = posting_create_by_rule(
            business_type=business_type,
            request_no=request_no,
            params={payer_param: cash_account_no, line_param: credit.account_no, "amount": str(amount)},
            posted_by=posted_by,
            source_system=source_system,
            memo=memo or f"repayment of {credit.account_no}",
        )
        # The split of this credit is the replay's: the line's entries, this
        # one the last, read under the lock.
        credit_allocations_record(account=credit, recorded_by=posted_by)
        allocation = CreditAllocation.objects.get(posting=posting, account=credit)
    return Repayment(posting=posting, allocation=allocation, replayed=posting.replayed)


# ---------------------------------------------------------------- bills ----


def _first_day(account: Account) -> date:
    first = (
        Entry.objects.filter(account=account, account_seq__isnull=False)
        .order_by("accounting_date")
        .values_list("accounting_date", flat=True)
        .first()
    )
    return min(account.opened_on, first) if first else account.opened_on


def bill_issue(
    *,
    account: Account,
    product: CreditProduct,
    period_start: date,
    period_end: date,
    billing_date: date,
    issued_by: str,
) -> Bill | None:
    """Issue one line's bill for ``period_start``..``period_end``, or None when
    the line owed nothing and moved not at all. The credits of the period
    get their allocations recorded first; the bill and its event in one
    transaction. A bill issued already (a second run) is answered as it is."""
    existing = Bill.objects.filter(account=account, period_end=period_end).first()
    if existing is not None:
        return existing
    previous = selectors.latest_bill(account, through=period_end)
    try:
        with transaction.atomic():
            seen = selectors.replay(account, product, start=previous, through=period_end)
            opening = previous.closing if previous else ZERO
            if opening == 0 and seen.entry_count == 0:
                return None
            _record(account, seen, issued_by)
            owed = seen.owed
            bill = Bill.objects.create(
                account=account,
                product=product,
                product_version=product.version,
                currency=account.currency,
                period_start=period_start,
                period_end=period_end,
                billing_date=billing_date,
                due_date=billing_date + timedelta(days=product.due_days),
                opening=opening,
                **seen.sums,
                closing=owed.total,
                amount_due=owed.total,
                minimum_due=selectors.minimum_due(owed.total, product, account.currency),
                closing_principal=owed.principal,
                closing_interest=owed.interest,
                closing_penalty=owed.penalty,
                entry_count=seen.entry_count,
                issued_on=calendar_for(entity=account.entity).open_date,
                issued_by=issued_by,
            )
            _bill_issued_event(bill)
    except IntegrityError:
        existing = Bill.objects.filter(account=account, period_end=period_end).first()
        if existing is None:
            raise
        return existing
    return bill


def _bill_issued_event(bill: Bill) -> None:
    account = bill.account
    event_record(
        "bill.issued",
        aggregate_type="bill",
        aggregate_id=bill.pk,
        entity_id=account.entity_id,
        payload={
            "bill_id": bill.pk,
            "account_no": account.account_no,
            "member_no": account.member.member_no if account.member_id else None,
            "currency": bill.currency,
            "period_start": bill.period_start,
            "period_end": bill.period_end,
            "billing_date": bill.billing_date,
            "due_date": bill.due_date,
            **{
                name: _text(getattr(bill, name))
                for name in ("opening", *selectors.SUM_NAMES, "amount_due", "minimum_due")
            },
            "product_version": bill.product_version,
        },
    )


def bills_issue_due(*, issued_by: str = "system:bills") -> list[Bill]:
    """The beat job: for every active product, each line's bills whose
    billing date has come and whose period's last day is cut, oldest first
    (a job that was down catches up). Safe to run twice or at once: a bill
    is unique per line and period end. Returns the bills issued."""
    issued = []
    for product in CreditProduct.objects.filter(active=True).select_related("entity").order_by("pk"):
        last_cut = calendar_for(entity=product.entity).open_date - timedelta(days=1)
        latest_due = _latest_billing_date(last_cut + timedelta(days=1), product.billing_day)
        lines = (
            selectors.credit_lines(product)
            .filter(entry_seq__gt=0)  # a line never used has nothing to bill
            .exclude(bills__billing_date__gte=latest_due)
            .order_by("pk")
        )
        for account in lines:
            issued += _bills_of(account, product, last_cut, issued_by)
    return issued


def _latest_billing_date(on_or_before: date, day: int) -> date:
    this_month = selectors.billing_date_in(on_or_before.year, on_or_before.month, day)
    if this_month <= on_or_before:
        return this_month
    year, month = (
        (on_or_before.year - 1, 12) if on_or_before.month == 1 else (on_or_before.year, on_or_before.month - 1)
    )
    return selectors.billing_date_in(year, month, day)


def _bills_of(account: Account, product: CreditProduct, last_cut: date, issued_by: str) -> list[Bill]:
    last = selectors.latest_bill(account)
    if last is not None:
        start = last.billing_date
        billing = selectors.next_billing_date(start, product.billing_day)
    else:
        # The first bill covers its whole cycle (from the billing date before
        # it), or from the line's first day when that is earlier.
        first = _first_day(account)
        billing = selectors.next_billing_date(first, product.billing_day)
        start = min(first, _latest_billing_date(billing - timedelta(days=1), product.billing_day))
    out = []
    while billing - timedelta(days=1) <= last_cut:
        bill = bill_issue(
            account=account,
            product=product,
            period_start=start,
            period_end=billing - timedelta(days=1),
            billing_date=billing,
            issued_by=issued_by,
        )
        if bill is not None:
            out.append(bill)
        start = billing
        billing = selectors.next_billing_date(billing, product.billing_day)
    return out


# ------------------------------------------------------------- accruals ----


@dataclass
class AccrualRun:
    day: date
    booked: list[CreditAccrual]
    already: int
    refused: list[str]

    def message(self) -> str:
        if not (self.booked or self.already or self.refused):
            return f"nothing overdue for {self.day}"
        total = sum((a.amount for a in self.booked), ZERO)
        text = f"{len(self.booked)} accruals for {self.day} ({total:,.2f})"
        if self.already:
            text += f", {self.already} booked before"
        if self.refused:
            text += f"; refused: {'; '.join(self.refused)}"
        return text


def credit_accruals_book(*, entity: Entity, day: date, booked_by: str = "system:eod") -> AccrualRun:
    """Book the interest and penalty of ``day`` on every overdue line of the
    entity's products (see the overview): run by the end of ``day - 1``,
    whose close they are computed from, so that day must be cut. Each line
    in its own savepoint: a line whose accrual is refused (a closed line)
    is named in the result and the others go on."""
    run = AccrualRun(day=day, booked=[], already=0, refused=[])
    before = day - timedelta(days=1)
    for product in CreditProduct.objects.filter(entity=entity, active=True).order_by("pk"):
        lines = (
            selectors.credit_lines(product)
            .filter(bills__due_date__lte=before - timedelta(days=product.grace_days))
            .distinct()
            .order_by("pk")
        )
        for account in lines:
            for charged in _days_to_charge(account, product, day):
                _accrue_day(run, account, product, charged, booked_by)
    return run


def _days_to_charge(account: Account, product: CreditProduct, day: date) -> list[date]:
    """``day``, after the days an end of day could not charge: those between
    the latest past-due bill's first day of interest and the day it was
    issued, when the bills' job issued it late (the ends of those days ran
    before the bill existed). Each is charged on its own day's start."""
    bill = (
        Bill.objects.filter(account=account, due_date__lte=day - timedelta(days=1 + product.grace_days))
        .order_by("-period_end")
        .first()
    )
    if bill is None:
        return [day]
    first = bill.due_date + timedelta(days=1 + product.grace_days)
    # The end of d - 1 charges d: it missed the bill when it ran before the bill's day.
    last_missed = min(bill.issued_on, day - timedelta(days=1))
    if last_missed < first:
        return [day]
    missed = [first + timedelta(days=n) for n in range((last_missed - first).days + 1)]
    return [d for d in missed if not CreditAccrual.objects.filter(account=account, accrual_date=d).exists()] + [day]


def _accrue_day(run: AccrualRun, account: Account, product: CreditProduct, day: date, booked_by: str) -> None:
    overdue, due = selectors.accruals_due(account, product, day)
    for kind, base, rate, amount in due:
        if CreditAccrual.objects.filter(account=account, accrual_date=day, kind=kind).exists():
            run.already += 1
            continue
        try:
            with transaction.atomic():
                run.booked.append(_accrue(account, product, overdue.bill, day, kind, base, rate, amount, booked_by))
        except LedgerError as exc:
            logger.warning("accrual %s %s %s refused: %s", account.account_no, day, kind, exc.message)
            run.refused.append(f"{account.account_no} {kind}: {exc.message}")


def _accrue(account, product, bill, day, kind, base, rate, amount, booked_by) -> CreditAccrual:
    posting = posting_create_by_rule(
        business_type=f"credit_{kind}",
        request_no=f"credit-{kind}-{account.account_no}-{day:%Y%m%d}",
        params={"credit_account": account.account_no, "amount": str(amount)},
        posted_by=booked_by,
        memo=f"{kind} for {day} on bill B{bill.pk}: {base:.2f} x {rate.normalize():f}",
    )
    accrual = CreditAccrual.objects.create(
        account=account,
        accrual_date=day,
        kind=kind,
        bill=bill,
        base=base,
        rate=rate,
        amount=amount,
        places=currency_places(account.currency),
        posting=posting,
        product_version=product.version,
        booked_by=booked_by,
    )
    event_record(
        "credit.accrual_booked",
        aggregate_type="account",
        aggregate_id=account.pk,
        entity_id=account.entity_id,
        payload={
            "account_no": account.account_no,
            "currency": account.currency,
            "accrual_date": day,
            "kind": kind,
            "base": _text(base),
            "rate": f"{rate.normalize():f}",
            "amount": _text(amount),
            "bill_id": bill.pk,
            "posting_serial_no": posting.serial_no,
            "accounting_date": posting.accounting_date,
        },
    )
    return accrual


def credit_day_end(*, entity: Entity, day: date, actor: str = "system:eod") -> tuple[int, str]:
    """The end of day's credit step for the cut day ``day``: record the
    allocation of every credit to a line dated through it, then book the
    next day's interest and penalty. (rows, message) for the step's record."""
    recorded = 0
    for product in CreditProduct.objects.filter(entity=entity).order_by("pk"):
        lines = (
            selectors.credit_lines(product)
            .filter(entries__direction=Direction.CREDIT, entries__accounting_date=day)
            .distinct()
        )
        for account in lines:
            recorded += credit_allocations_record(account=account, through=day, recorded_by=actor)
    run = credit_accruals_book(entity=entity, day=day + timedelta(days=1), booked_by=actor)
    message = run.message()
    if recorded:
        message += f"; {recorded} credits allocated"
    return len(run.booked), message


# ------------------------------------------- repayment on the due date ----

AUTOREPAY_ACTOR = "system:credit-autorepay"
AUTOREPAY_SOURCE = DEFAULT_SOURCE


def autorepay_request_no(bill: Bill, attempt_day: int) -> str:
    """The debit's number: one per bill and attempt day (the due date, then
    each retry), so a job run again on a day answers the day's debit."""
    return f"bill-{bill.pk}-due" if attempt_day == 0 else f"bill-{bill.pk}-due-r{attempt_day}"


def bill_autorepay(*, bill: Bill, agreement, on: date, actor: str = AUTOREPAY_ACTOR):
    """Debit under ``agreement`` (purpose credit_repayment, payee the bill's
    line) what is left of the bill, all of it or of its minimum as the
    member chose (``agreement.repay``), on ``on`` (the open day: the due
    date or a retry day). What is left is read with the member's cash
    account and the line locked, so a repayment made at the same time is
    counted and nothing is repaid twice. The split is recorded in the same
    transaction. Answers the DebitAttempt (``replayed`` when the day's debit
    was taken before), None when nothing is left, or the refusal's attempt
    (``outcome`` refused; insufficient funds, a suspended agreement...)."""
    from postings.agreements.models import DebitAttempt, Repay
    from postings.agreements.services import agreement_debit

    k = (on - bill.due_date).days // agreement.retry_every_days
    request_no = autorepay_request_no(bill, k)

    def taken_before():
        attempt = DebitAttempt.objects.filter(
            source_system=AUTOREPAY_SOURCE, request_no=request_no, posting__isnull=False
        ).first()
        if attempt is not None:
            attempt.replayed = True
        return attempt

    earlier = taken_before()
    if earlier is not None:
        return earlier
    with transaction.atomic():
        # The agreement, then both accounts in id order: the order its debit
        # (and any posting) takes them in, so no deadlock with a repayment.
        type(agreement).objects.select_for_update(no_key=True).filter(pk=agreement.pk).exists()
        ids = sorted({agreement.payer_account_id, bill.account_id})
        list(Account.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))
        earlier = taken_before()
        if earlier is not None:
            return earlier
        position = selectors.bill_position(bill, as_of=on)
        if position.status == selectors.BillStatus.PAID:
            return None
        amount = position.minimum_due_left if agreement.repay == Repay.MINIMUM else position.amount_due_left
        if amount <= 0:
            return None
        try:
            attempt = agreement_debit(
                agreement_id=agreement.pk,
                amount=amount,
                purpose=agreement.purpose,
                request_no=request_no,
                actor=actor,
                source_system=AUTOREPAY_SOURCE,
            )
        except LedgerError as exc:
            # agreement_debit recorded the refused attempt in a savepoint of
            # this transaction; it commits with it. The next retry day tries again.
            logger.info(
                "Due-date debit of B%s under A%s refused: %s (%s)", bill.pk, agreement.pk, exc.message, exc.code
            )
            return (
                DebitAttempt.objects.filter(agreement=agreement, request_no=request_no, source_system=AUTOREPAY_SOURCE)
                .order_by("-pk")
                .first()
            )
        credit_allocation_record(posting=attempt.posting, recorded_by=actor)
        attempt.replayed = False
        return attempt


def bills_autorepay_due(*, actor: str = AUTOREPAY_ACTOR) -> list:
    """The beat job: on each entity's open day, for every bill whose due date
    is that day or a retry day of it (every ``retry_every_days`` after it, up
    to ``max_retries``) and whose line has an active credit repayment
    agreement paying it, debit what is left (``bill_autorepay``). Run it on
    the due date before that day's cut (日切): a repayment dated later is
    late. Safe to run again and at once: each day's debit of a bill has its
    own request number and what is left is read under the accounts' locks.
    Returns the attempts made or found (refused ones included)."""
    from postings.agreements.models import CREDIT_REPAYMENT_PURPOSE, Agreement, AgreementStatus

    attempts = []
    for product in CreditProduct.objects.filter(active=True).select_related("entity").order_by("pk"):
        on = calendar_for(entity=product.entity).open_date
        agreements = Agreement.objects.filter(
            status=AgreementStatus.ACTIVE,
            purpose=CREDIT_REPAYMENT_PURPOSE,
            payee_account__in=selectors.credit_lines(product),
            valid_from__lte=on,
        ).order_by("pk")
        for agreement in agreements:
            last = on - timedelta(days=agreement.retry_every_days * agreement.max_retries)
            bills = Bill.objects.filter(account_id=agreement.payee_account_id, due_date__lte=on, due_date__gte=last)
            for bill in bills.order_by("due_date", "pk"):
                if (on - bill.due_date).days % agreement.retry_every_days:
                    continue  # not one of its attempt days
                attempt = bill_autorepay(bill=bill, agreement=agreement, on=on, actor=actor)
                if attempt is not None:
                    attempts.append(attempt)
    return attempts
