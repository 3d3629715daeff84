"""Guarantee orders (担保交易): the buyer's money held in escrow per order.

An order is opened by the buyer's payment into the entity's escrow
intermediate account (担保中间户, type ESCROW): Dr buyer cash / Cr escrow,
one posting, and the order's own escrow ``balance`` is the amount paid. Then:

* refund (退款): part or all of what the order holds goes back to the buyer,
  as a refund of the payment (``postings.services.refunds``: a Refund with
  its legs, Dr escrow / Cr buyer), and the order's balance drops by it.
  Refunding what is left closes the order as ``refunded``;
* confirm (确认收货): everything the order holds goes to the merchant in ONE
  posting: Dr escrow (the balance) and Dr coupon (the platform's coupon) /
  Cr merchant and Cr fee income (the commission). After a partial refund the
  commission and the coupon are taken in proportion to what is confirmed
  (balance / amount), rounded down to the cent: no commission is charged on
  refunded money, and the merchant gets the cent a split leaves over;
* dispute (争议): the order is frozen, no refund or confirmation moves its
  money, until it is resolved, with a reason either way. A resolution
  returns it to ``paid`` and may at once confirm it or refund the rest;
* expiry: a paid order not confirmed by ``confirm_by`` (N days after
  payment) is confirmed automatically by a beat job
  (``orders_confirm_due``). A disputed order is never confirmed by it.

Locks: the order row first (FOR NO KEY UPDATE), then, for a refund, the
payment posting (the refunds' lock), then the accounts in id order (the
posting service). A confirmation racing a refund of one order therefore
runs one after the other, and the second sees the first's balance.

PostgreSQL keeps every order's balance equal to what its events leave,
never negative, zero once closed, and each money step tied to an escrow
entry of its amount (postings/sql/orders.sql), whoever writes.

Idempotency: every operation carries ``(source_system, request_no)``; the
same request again answers the first result, other content under the same
number is IdempotencyConflict. The postings carry the same request number.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.kernel.errors import IdempotencyConflict, LedgerError, LedgerValidationError
from accounts.kernel.idempotency import canonical_amount, replay, request_fingerprint, run_once
from accounts.kernel.money import currency_places, format_amount, to_amount
from accounts.kernel.permissions import require_permission
from accounts.models import Account, AccountType, Category, PostingMode
from accounts.selectors import account_get, internal_account_for

from ..exceptions import (
    EscrowNotConfigured,
    OrderClosed,
    OrderDisputed,
    OrderRefundExceedsEscrow,
    SameAccount,
    UnknownOrder,
)
from ..models import (
    ORDER_TRANSITIONS,
    BusinessType,
    GuaranteeOrder,
    OrderEvent,
    OrderStatus,
    Posting,
    Refund,
    RefundRounding,
)
from .drafts import DEFAULT_SOURCE, Leg
from .postings import posting_create
from .refunds import _book

log = logging.getLogger(__name__)

PERM_DISPUTE = "postings.dispute_guaranteeorder"
DEFAULT_CONFIRM_DAYS = 10
MAX_CONFIRM_DAYS = 365
RESOLUTIONS = ("continue", "confirm", "refund")
AUTO_SOURCE = "ledger"
OUT_OF_ESCROW = (OrderEvent.Kind.REFUND, OrderEvent.Kind.CONFIRM, OrderEvent.Kind.AUTO_CONFIRM)


def _confirm_days(days) -> int:
    if days is None:
        return int(getattr(settings, "ESCROW_AUTO_CONFIRM_DAYS", DEFAULT_CONFIRM_DAYS))
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_CONFIRM_DAYS:
        raise LedgerValidationError(
            f"confirm_within_days is a whole number of days from 1 to {MAX_CONFIRM_DAYS}.", confirm_within_days=days
        )
    return days


def _internal(entity, code: str, currency: str) -> Account:
    account_type = AccountType.objects.filter(code=code).first()
    account = account_type and internal_account_for(entity=entity, account_type=account_type, currency=currency)
    if account is None:
        raise EscrowNotConfigured(
            f"Entity {entity.code} needs exactly one open {code} account in {currency} for guarantee orders.",
            account_type=code,
            currency=currency,
        )
    return account


def _cash(account_no: str, role: str) -> Account:
    account = account_get(account_no=account_no)
    if account.category != Category.LIABILITY:
        raise LedgerValidationError(
            f"The {role} of a guarantee order pays or is paid from a member's cash account; {account_no} is "
            f"{account.category}.",
            **{f"{role}_account_no": account_no},
        )
    return account


def _reason(reason: str, what: str) -> str:
    reason = (reason or "").strip()[:255]
    if not reason:
        raise LedgerValidationError(f"A {what} needs a reason.", reason="required")
    return reason


def _posted(posting: Posting, request_no: str, source_system: str) -> Posting:
    if posting.replayed:  # the number was a posting of the caller's before: not this order step
        raise IdempotencyConflict(
            f"Request {request_no} of {source_system} was already used for a posting.", request_no=request_no
        )
    return posting


# ------------------------------------------------------------------ open ----


def order_open(
    *,
    order_no: str,
    buyer_account_no: str,
    merchant_account_no: str,
    amount,
    request_no: str,
    created_by: str,
    commission="0",
    coupon="0",
    confirm_within_days: int | None = None,
    source_system: str = DEFAULT_SOURCE,
    accounting_date: date | None = None,
) -> GuaranteeOrder:
    """Open a guarantee order: the buyer pays ``amount`` into escrow (Dr buyer
    cash / Cr escrow). ``commission`` goes to fee income and ``coupon`` is
    added from the coupon account when the order is confirmed; it is
    confirmed automatically ``confirm_within_days`` after payment.
    ``order.replayed`` tells whether the request was made before."""
    order_no = (order_no or "").strip()
    if not order_no or len(order_no) > 64:
        raise LedgerValidationError("order_no is required (at most 64 characters).", order_no=order_no)
    days = _confirm_days(confirm_within_days)
    fingerprint = request_fingerprint(
        op="order_open",
        order_no=order_no,
        buyer=buyer_account_no,
        merchant=merchant_account_no,
        amount=canonical_amount(amount),
        commission=canonical_amount(commission),
        coupon=canonical_amount(coupon),
        days=days,
    )
    existing = GuaranteeOrder.objects.filter(source_system=source_system, request_no=request_no).first()
    if existing is not None:
        return replay(existing, fingerprint, "order")
    buyer, merchant = _cash(buyer_account_no, "buyer"), _cash(merchant_account_no, "merchant")
    if buyer.pk == merchant.pk:
        raise SameAccount("The buyer and the merchant of an order are two accounts.", account_no=buyer_account_no)
    currency = buyer.currency
    value = to_amount(amount, currency)
    commission_value = to_amount(commission, currency, field="commission", allow_zero=True)
    coupon_value = to_amount(coupon, currency, field="coupon", allow_zero=True)
    if commission_value > value:
        raise LedgerValidationError(
            f"The commission ({format_amount(commission_value, currency)}) is more than the order's amount "
            f"({format_amount(value, currency)}).",
            commission=commission_value,
        )
    escrow = _internal(buyer.entity, "ESCROW", currency)
    if escrow.posting_mode == PostingMode.BUFFERED:
        raise EscrowNotConfigured(
            f"Escrow account {escrow.account_no} is buffered; an order's escrow is posted in real time.",
            account_no=escrow.account_no,
        )
    if commission_value:
        _internal(buyer.entity, "FEE_INCOME", currency)
    if coupon_value:
        _internal(buyer.entity, "COUPON", currency)

    def write() -> GuaranteeOrder:
        if GuaranteeOrder.objects.filter(source_system=source_system, order_no=order_no).exists():
            raise IdempotencyConflict(
                f"Order {order_no} of {source_system} was opened under another request number.", order_no=order_no
            )
        posting = _posted(
            posting_create(
                request_no=request_no,
                business_type=BusinessType.GUARANTEE_SETTLEMENT,
                legs=[Leg.debit(buyer.account_no, value), Leg.credit(escrow.account_no, value)],
                posted_by=created_by,
                source_system=source_system,
                currency=currency,
                memo=f"guarantee order {order_no}: paid into escrow (付款至担保户)",
                external_ref=order_no,
                accounting_date=accounting_date,
            ),
            request_no,
            source_system,
        )
        order = GuaranteeOrder.objects.create(
            order_no=order_no,
            entity=buyer.entity,
            currency=currency,
            buyer_account=buyer,
            merchant_account=merchant,
            escrow_account=escrow,
            amount=value,
            commission=commission_value,
            coupon=coupon_value,
            balance=value,
            status=OrderStatus.PAID,
            pay_posting=posting,
            confirm_by=timezone.now() + timedelta(days=days),
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            created_by=created_by,
        )
        OrderEvent.objects.create(
            order=order,
            kind=OrderEvent.Kind.PAY,
            amount=value,
            posting=posting,
            to_status=OrderStatus.PAID,
            source_system=source_system,
            actor=created_by,
        )
        return order

    try:
        return run_once(
            GuaranteeOrder,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            what="order",
            write=write,
        )
    except IntegrityError:
        # Two first requests for one order number under two request numbers:
        # the second waited on the unique order number and is answered so.
        if GuaranteeOrder.objects.filter(source_system=source_system, order_no=order_no).exists():
            raise IdempotencyConflict(
                f"Order {order_no} of {source_system} was opened under another request number.", order_no=order_no
            ) from None
        raise


# ----------------------------------------------------------------- steps ----


def _locked(order_id: int) -> GuaranteeOrder:
    order = (
        GuaranteeOrder.objects.select_for_update(no_key=True)
        .select_related("entity", "escrow_account", "merchant_account", "pay_posting")
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        raise UnknownOrder(f"No guarantee order {order_id}.", order_id=order_id)
    return order


def _refuse_frozen_or_closed(order: GuaranteeOrder, doing: str) -> None:
    if order.status == OrderStatus.DISPUTED:
        raise OrderDisputed(
            f"Order O{order.pk} ({order.order_no}) is disputed; nothing can be {doing} until the dispute is resolved.",
            order_id=order.pk,
            status=order.status,
        )
    if not order.is_open:
        raise OrderClosed(
            f"Order O{order.pk} ({order.order_no}) is {order.status}; nothing is left in its escrow.",
            order_id=order.pk,
            status=order.status,
        )


def _step(
    order: GuaranteeOrder,
    kind: str,
    to_status: str,
    *,
    actor: str,
    source_system: str,
    request_no: str | None,
    fingerprint: str = "",
    amount=Decimal(0),
    posting: Posting | None = None,
    refund: Refund | None = None,
    commission=Decimal(0),
    coupon=Decimal(0),
    reason: str = "",
    acting_user=None,
) -> OrderEvent:
    """The event first (the database checks it against the order's status as
    it is), then the order's new balance and status, in one UPDATE."""
    ORDER_TRANSITIONS.check(order.status, to_status, what=f"Order O{order.pk}", order_id=order.pk)
    event = OrderEvent.objects.create(
        order=order,
        kind=kind,
        amount=amount,
        posting=posting,
        refund=refund,
        commission=commission,
        coupon=coupon,
        from_status=order.status,
        to_status=to_status,
        reason=reason,
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        actor=actor,
        acting_user=acting_user,
    )
    if kind in OUT_OF_ESCROW:
        order.balance -= amount
    order.status = to_status
    order.updated_at = timezone.now()
    GuaranteeOrder.objects.filter(pk=order.pk).update(
        balance=order.balance, status=order.status, updated_at=order.updated_at
    )
    return event


def confirm_split(order: GuaranteeOrder) -> tuple[Decimal, Decimal, Decimal]:
    """(commission, coupon, to the merchant) of confirming what the order
    holds now: the whole commission and coupon when nothing was refunded,
    else their share balance / amount rounded down to the cent."""
    balance = order.balance
    if balance == order.amount:
        commission, coupon = order.commission, order.coupon
    else:
        quantum = Decimal(1).scaleb(-currency_places(order.currency))
        commission = (order.commission * balance / order.amount).quantize(quantum, rounding=ROUND_FLOOR)
        coupon = (order.coupon * balance / order.amount).quantize(quantum, rounding=ROUND_FLOOR)
    return commission, coupon, balance + coupon - commission


def _confirm(
    order: GuaranteeOrder,
    *,
    kind: str,
    actor: str,
    source_system: str,
    request_no: str,
    event_request_no: str | None,
    fingerprint: str,
    acting_user=None,
    accounting_date: date | None = None,
) -> OrderEvent:
    _refuse_frozen_or_closed(order, "confirmed")
    commission, coupon, to_merchant = confirm_split(order)
    legs = [Leg.debit(order.escrow_account.account_no, order.balance)]
    if coupon:
        legs.append(Leg.debit(_internal(order.entity, "COUPON", order.currency).account_no, coupon))
    if to_merchant:
        legs.append(Leg.credit(order.merchant_account.account_no, to_merchant))
    if commission:
        legs.append(Leg.credit(_internal(order.entity, "FEE_INCOME", order.currency).account_no, commission))
    how = "confirmed automatically (超时自动确认)" if kind == OrderEvent.Kind.AUTO_CONFIRM else "confirmed (确认收货)"
    posting = _posted(
        posting_create(
            request_no=request_no,
            business_type=BusinessType.GUARANTEE_SETTLEMENT,
            legs=legs,
            posted_by=actor,
            source_system=source_system,
            currency=order.currency,
            memo=f"guarantee order {order.order_no} {how}: escrow to merchant",
            external_ref=order.order_no,
            accounting_date=accounting_date,
        ),
        request_no,
        source_system,
    )
    return _step(
        order,
        kind,
        OrderStatus.CONFIRMED,
        actor=actor,
        source_system=source_system,
        request_no=event_request_no,
        fingerprint=fingerprint,
        amount=order.balance,
        posting=posting,
        commission=commission,
        coupon=coupon,
        acting_user=acting_user,
    )


def _refund(
    order: GuaranteeOrder,
    value: Decimal,
    *,
    actor: str,
    source_system: str,
    request_no: str,
    event_request_no: str | None,
    fingerprint: str,
    reason: str = "",
    acting_user=None,
    accounting_date: date | None = None,
) -> OrderEvent:
    _refuse_frozen_or_closed(order, "refunded")
    if value > order.balance:
        raise OrderRefundExceedsEscrow(
            f"Order O{order.pk} ({order.order_no}) holds {format_amount(order.balance, order.currency)} in escrow; "
            f"{format_amount(value, order.currency)} asked.",
            order_id=order.pk,
            balance=order.balance,
            amount=value,
        )
    # Through the refund service: a Refund of the payment, its legs kept
    # within what the payment moved by the database (postings/sql/refunds.sql).
    refund = _book(
        Refund(
            original=order.pay_posting,
            amount=value,
            currency=order.currency,
            reason=reason or f"guarantee order {order.order_no}",
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            requested_by=actor,
            proposed_by=acting_user,
        ),
        order.pay_posting,
        posted_by=actor,
        rounding=RefundRounding.LARGEST_REMAINDER,
        accounting_date=accounting_date,
    )
    return _step(
        order,
        OrderEvent.Kind.REFUND,
        OrderStatus.REFUNDED if value == order.balance else OrderStatus.PAID,
        actor=actor,
        source_system=source_system,
        request_no=event_request_no,
        fingerprint=fingerprint,
        amount=value,
        posting=refund.posting,
        refund=refund,
        reason=reason,
        acting_user=acting_user,
    )


def _order_id(order_id) -> int:
    if isinstance(order_id, bool) or not isinstance(order_id, int):
        raise UnknownOrder(f"No guarantee order {order_id}.", order_id=order_id)
    return order_id


def _run(*, source_system: str, request_no: str, fingerprint: str, what: str, write) -> OrderEvent:
    return run_once(
        OrderEvent, source_system=source_system, request_no=request_no, fingerprint=fingerprint, what=what, write=write
    )


def order_confirm(
    *,
    order_id: int,
    request_no: str,
    actor: str,
    source_system: str = DEFAULT_SOURCE,
    acting_user=None,
    accounting_date: date | None = None,
) -> OrderEvent:
    """The buyer confirms receipt (确认收货): everything the order holds goes
    to the merchant, commission to fee income and the coupon added, in one
    posting. Refused while disputed (order_disputed) or once closed."""
    order_id = _order_id(order_id)
    fingerprint = request_fingerprint(op="order_confirm", order_id=order_id)

    def write() -> OrderEvent:
        order = _locked(order_id)
        return _confirm(
            order,
            kind=OrderEvent.Kind.CONFIRM,
            actor=actor,
            source_system=source_system,
            request_no=request_no,
            event_request_no=request_no,
            fingerprint=fingerprint,
            acting_user=acting_user,
            accounting_date=accounting_date,
        )

    return _run(
        source_system=source_system, request_no=request_no, fingerprint=fingerprint, what="order step", write=write
    )


def order_refund(
    *,
    order_id: int,
    amount,
    request_no: str,
    actor: str,
    source_system: str = DEFAULT_SOURCE,
    reason: str = "",
    acting_user=None,
    accounting_date: date | None = None,
) -> OrderEvent:
    """Give ``amount`` of what the order holds back to the buyer (退款); the
    rest stays in escrow, refunding all of it closes the order."""
    order_id = _order_id(order_id)
    reason = (reason or "").strip()[:255]
    fingerprint = request_fingerprint(
        op="order_refund", order_id=order_id, amount=canonical_amount(amount), **({"reason": reason} if reason else {})
    )

    def write() -> OrderEvent:
        order = _locked(order_id)
        value = to_amount(amount, order.currency)
        return _refund(
            order,
            value,
            actor=actor,
            source_system=source_system,
            request_no=request_no,
            event_request_no=request_no,
            fingerprint=fingerprint,
            reason=reason,
            acting_user=acting_user,
            accounting_date=accounting_date,
        )

    return _run(
        source_system=source_system, request_no=request_no, fingerprint=fingerprint, what="order step", write=write
    )


def order_dispute(
    *,
    order_id: int,
    reason: str,
    request_no: str,
    actor: str,
    source_system: str = DEFAULT_SOURCE,
    acting_user=None,
) -> OrderEvent:
    """Freeze a paid order (争议): nothing is refunded or confirmed, by anyone
    or the expiry job, until it is resolved. Staff need the dispute permission."""
    if acting_user is not None:
        require_permission(acting_user, PERM_DISPUTE, doing="dispute a guarantee order")
    order_id = _order_id(order_id)
    reason = _reason(reason, "dispute")
    fingerprint = request_fingerprint(op="order_dispute", order_id=order_id, reason=reason)

    def write() -> OrderEvent:
        order = _locked(order_id)
        if order.status == OrderStatus.DISPUTED:
            raise OrderDisputed(f"Order O{order.pk} is already disputed.", order_id=order.pk, status=order.status)
        _refuse_frozen_or_closed(order, "disputed")
        return _step(
            order,
            OrderEvent.Kind.DISPUTE,
            OrderStatus.DISPUTED,
            actor=actor,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            reason=reason,
            acting_user=acting_user,
        )

    return _run(
        source_system=source_system, request_no=request_no, fingerprint=fingerprint, what="order step", write=write
    )


def order_resolve(
    *,
    order_id: int,
    outcome: str,
    reason: str,
    request_no: str,
    actor: str,
    source_system: str = DEFAULT_SOURCE,
    acting_user=None,
) -> OrderEvent:
    """Resolve a dispute, with a reason: ``continue`` (the order is paid
    again and goes on: confirmation, refunds, the expiry), ``confirm`` (to
    the merchant now) or ``refund`` (everything it holds back to the buyer).
    Answers the resolution's event; the order's step after it, if any, is
    its next event."""
    if acting_user is not None:
        require_permission(acting_user, PERM_DISPUTE, doing="resolve a guarantee order's dispute")
    order_id = _order_id(order_id)
    if outcome not in RESOLUTIONS:
        raise LedgerValidationError(f"outcome is one of {', '.join(RESOLUTIONS)}.", outcome=outcome)
    reason = _reason(reason, "resolution")
    fingerprint = request_fingerprint(op="order_resolve", order_id=order_id, outcome=outcome, reason=reason)

    def write() -> OrderEvent:
        order = _locked(order_id)
        if order.status != OrderStatus.DISPUTED:
            raise ORDER_TRANSITIONS.refuse(
                f"Order O{order.pk}",
                order.status,
                OrderStatus.PAID,
                order_id=order.pk,
                note="only a disputed order is resolved",
            )
        event = _step(
            order,
            OrderEvent.Kind.RESOLVE,
            OrderStatus.PAID,
            actor=actor,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            reason=f"{outcome}: {reason}"[:255],
            acting_user=acting_user,
        )
        follow = dict(
            actor=actor,
            source_system=source_system,
            request_no=request_no,
            event_request_no=None,
            fingerprint=fingerprint,
            acting_user=acting_user,
        )
        if outcome == "confirm":
            _confirm(order, kind=OrderEvent.Kind.CONFIRM, **follow)
        elif outcome == "refund":
            _refund(order, order.balance, reason=f"dispute resolved: {reason}"[:255], **follow)
        return event

    return _run(
        source_system=source_system, request_no=request_no, fingerprint=fingerprint, what="order step", write=write
    )


def orders_confirm_due(*, now=None, limit: int = 500) -> int:
    """Confirm automatically (超时自动确认) every paid order past its
    ``confirm_by``; disputed ones wait for their resolution. Each order in a
    transaction of its own; one being refunded or confirmed right now is
    skipped (SKIP LOCKED) and seen again by the next run. Safe to run twice:
    a confirmed order is no longer due, and the request number of the
    automatic confirmation is the order's own."""
    now = now or timezone.now()
    due = list(
        GuaranteeOrder.objects.filter(status=OrderStatus.PAID, confirm_by__lte=now)
        .order_by("confirm_by", "id")
        .values_list("pk", flat=True)[:limit]
    )
    confirmed = 0
    for order_id in due:
        try:
            with transaction.atomic():
                order = (
                    GuaranteeOrder.objects.select_for_update(no_key=True, skip_locked=True)
                    .select_related("entity", "escrow_account", "merchant_account")
                    .filter(pk=order_id, status=OrderStatus.PAID, confirm_by__lte=now)
                    .first()
                )
                if order is None:
                    continue
                number = f"auto-confirm-O{order.pk}"
                _confirm(
                    order,
                    kind=OrderEvent.Kind.AUTO_CONFIRM,
                    actor="system:order-expiry",
                    source_system=AUTO_SOURCE,
                    request_no=number,
                    event_request_no=number,
                    fingerprint=request_fingerprint(op="order_auto_confirm", order_id=order.pk),
                )
        except LedgerError as exc:
            # One order the ledger refuses (say, a merchant account blocked
            # for credits) must not hold up the others; it stays paid and
            # due, and is tried again by the next run.
            log.warning("Guarantee order O%s not confirmed automatically: %s (%s)", order_id, exc.message, exc.code)
            continue
        confirmed += 1
    return confirmed
