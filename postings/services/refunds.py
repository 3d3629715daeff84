"""Refunds (退款): part or all of a payment given back, linked to it.

A refund of ``amount`` reverses every leg of the original posting in
proportion: each side of the original (its debits, its credits) gives back
``amount`` in all, split over its legs by what each has left to refund, so a
payment of 100.00 that paid 97.00 to the merchant, 2.00 to fee income and
1.00 to a revenue-share partner (分润) is refunded 30.00 as 29.10 / 0.60 / 0.30,
every leg's direction swapped. The split is lossless (largest remainder,
``refund_split``): the parts add back to the amount to the cent; the rounding
policy of the payment's business type (``RefundPolicy.rounding``) may instead
round the fee and share legs down and let the principal take the rest. The
last refund takes exactly what is left of every leg. Splitting what is left
(not the original amounts) is what keeps every leg within what it moved
whatever the sequence of partial refunds.

PostgreSQL holds the rule whatever writes (postings/sql/refunds.sql): the
legs refunding one entry never add up to more than its amount, counted under
a lock on the original posting, so concurrent refunds of one payment queue
there and the second sees the first's legs. The service takes the same lock
first, then (inside the posting service) the accounts in id order; an
approval takes the refund row before both.

A payment older than its business type's window, or a refund above the
policy's ``approval_above``, waits as ``pending_approval`` for a second
person (``refund_approve``; never its proposer); late ones are staff-only,
with a reason. When the payee's available balance is short the posting
service refuses with insufficient_funds, unless the payee is a merchant with
a reserve account (``MerchantReserve``): the shortfall is then debited there.

Idempotency: ``(source_system, request_no)`` answers the first refund again;
other content under the same number is IdempotencyConflict. The refund
posting carries the refund's request number.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction
from django.utils import timezone

from accounts.kernel.errors import IdempotencyConflict, IllegalTransition, LedgerValidationError
from accounts.kernel.idempotency import canonical_amount, request_fingerprint, run_once
from accounts.kernel.money import currency_places, format_amount, to_amount
from accounts.kernel.permissions import require_permission
from accounts.models import Account, Category

from ..exceptions import (
    RefundExceedsOriginal,
    RefundNotAllowed,
    RefundSamePerson,
    RefundWindowPassed,
    UnknownPosting,
    UnknownRefund,
)
from ..models import (
    BusinessType,
    Direction,
    MerchantReserve,
    OrderEvent,
    Posting,
    Refund,
    RefundLeg,
    RefundRounding,
    RefundStatus,
)
from ..selectors import LegRefunded, refund_policy_for, refunded_legs
from .drafts import DEFAULT_SOURCE, Leg
from .postings import posting_create

PERM_REFUND = "postings.refund_posting"
PERM_APPROVE = "postings.approve_refund"
# An opening posting (期初建账) brought balances in; nothing was paid that could be refunded.
NOT_REFUNDABLE = frozenset(
    {
        BusinessType.REFUND,
        BusinessType.REVERSAL,
        BusinessType.SETTLEMENT,
        BusinessType.CHANNEL_SETTLEMENT,
        BusinessType.OPENING,
    }
)


def refund_split(*, remaining: list[Decimal], amount: Decimal, places: int, rounding: str) -> list[Decimal]:
    """``amount`` split over legs in proportion to ``remaining``, to ``places``
    decimals, adding back to ``amount`` exactly, no part above its leg's
    remaining. ``amount`` equal to the whole: each leg its remaining."""
    total = sum(remaining, Decimal(0))
    if not 0 < amount <= total:
        raise ValueError(f"cannot split {amount} over {total}")
    if amount == total:
        return list(remaining)
    quantum = Decimal(1).scaleb(-places)
    exact = [r * amount / total for r in remaining]
    parts = [e.quantize(quantum, rounding=ROUND_FLOOR) for e in exact]
    left = amount - sum(parts, Decimal(0))
    if rounding == RefundRounding.FEES_DOWN:
        # The principal (the side's largest leg, the first of equals) takes
        # the cents the floored fee and share legs leave, as far as it can.
        principal = max(range(len(remaining)), key=lambda i: (remaining[i], -i))
        taken = min(left, remaining[principal] - parts[principal])
        parts[principal] += taken
        left -= taken
    # Largest remainder: a cent each to the largest fractions (then the
    # larger leg, then the first). A leg with a fraction is below its
    # remaining, so the cent never takes it past.
    order = sorted(
        (i for i in range(len(parts)) if exact[i] > parts[i]),
        key=lambda i: (-(exact[i] - parts[i]), -remaining[i], i),
    )
    for i in order[: int(left / quantum)]:
        parts[i] += quantum
    return parts


def _original(serial_no) -> Posting:
    try:
        original = Posting.objects.select_related("entity").get(serial_no=serial_no)
    except (Posting.DoesNotExist, ValueError, TypeError):
        raise UnknownPosting(f"No posting {serial_no}.", serial_no=serial_no) from None
    if OrderEvent.objects.filter(posting=original).exists():
        raise RefundNotAllowed(
            f"Posting {serial_no} belongs to a guarantee order; refund the order (its escrow balance) instead.",
            serial_no=serial_no,
        )
    if original.business_type in NOT_REFUNDABLE:
        raise RefundNotAllowed(
            f"Posting {serial_no} is a {original.business_type}; only a payment can be refunded.",
            serial_no=serial_no,
        )
    return original


def _refuse_reversed(original: Posting) -> None:
    if Posting.objects.filter(reverses=original).exists():
        raise RefundNotAllowed(
            f"Posting {original.serial_no} has been reversed; there is nothing left to refund.",
            serial_no=original.serial_no,
        )


def _lock(original: Posting) -> None:
    # The lock the database's refund check takes too (postings/sql/refunds.sql):
    # refunds of one payment queue here, before any account is locked.
    Posting.objects.select_for_update(no_key=True).filter(serial_no=original.serial_no).values_list("pk").first()


def _left_to_refund(legs: list[LegRefunded]) -> Decimal:
    return sum((leg.remaining for leg in legs if leg.entry.direction == Direction.DEBIT), Decimal(0))


def _check_amount(original: Posting, legs: list[LegRefunded], amount: Decimal) -> None:
    left = _left_to_refund(legs)
    if amount > left:
        raise RefundExceedsOriginal(
            f"Posting {original.serial_no} has {format_amount(left, original.currency)} left to refund; "
            f"{format_amount(amount, original.currency)} asked.",
            serial_no=original.serial_no,
            left_to_refund=left,
            amount=amount,
        )


def _shares(original: Posting, legs: list[LegRefunded], amount: Decimal, rounding: str) -> dict[int, Decimal]:
    """Entry serial -> what this refund takes back from it, per side."""
    places = currency_places(original.currency)
    shares: dict[int, Decimal] = {}
    for side in (Direction.DEBIT, Direction.CREDIT):
        open_legs = [leg for leg in legs if leg.entry.direction == side and leg.remaining > 0]
        parts = refund_split(
            remaining=[leg.remaining for leg in open_legs], amount=amount, places=places, rounding=rounding
        )
        shares.update({leg.entry.serial_no: part for leg, part in zip(open_legs, parts) if part > 0})
    return shares


def _reserve_part(account: Account, share: Decimal, reserves: dict[int, MerchantReserve]) -> Decimal:
    """What the merchant's reserve pays of a payee leg its available balance
    cannot (read unlocked: the posting service checks both accounts again)."""
    reserve = reserves.get(account.pk)
    if reserve is None or account.category != Category.LIABILITY:
        return Decimal(0)
    return min(share, max(share - account.available, Decimal(0)))


def _book(
    refund: Refund, original: Posting, *, posted_by: str, rounding: str, accounting_date: date | None = None
) -> Refund:
    """Post ``refund`` (a new row, or one awaiting approval): its legs, the
    posting, and what it took from each leg. Inside the caller's transaction."""
    _lock(original)
    _refuse_reversed(original)
    legs = refunded_legs(original=original)
    _check_amount(original, legs, refund.amount)
    shares = _shares(original, legs, refund.amount, rounding)
    accounts = {leg.entry.serial_no: leg.entry.account for leg in legs}
    reserves = {r.account_id: r for r in MerchantReserve.objects.filter(account__in=accounts.values())}
    reserve_accounts = dict(
        Account.objects.filter(pk__in=[r.reserve_account_id for r in reserves.values()]).values_list("pk", "account_no")
    )
    posting_legs: list[Leg] = []
    rows: list[RefundLeg] = []
    for leg in legs:
        share = shares.get(leg.entry.serial_no)
        if not share:
            continue
        account = accounts[leg.entry.serial_no]
        back = Direction.CREDIT if leg.entry.direction == Direction.DEBIT else Direction.DEBIT
        from_reserve = _reserve_part(account, share, reserves) if back == Direction.DEBIT else Decimal(0)
        if share - from_reserve:
            posting_legs.append(Leg(account.account_no, back, share - from_reserve))
        if from_reserve:
            posting_legs.append(Leg(reserve_accounts[reserves[account.pk].reserve_account_id], back, from_reserve))
        rows.append(RefundLeg(original_entry=leg.entry, amount=share, from_reserve=from_reserve))
    posting = posting_create(
        request_no=refund.request_no,
        business_type=BusinessType.REFUND,
        legs=posting_legs,
        posted_by=posted_by,
        source_system=refund.source_system,
        currency=original.currency,
        memo=f"refund of posting {original.serial_no}" + (f": {refund.reason}" if refund.reason else ""),
        external_ref=original.external_ref,
        accounting_date=accounting_date,
    )
    if posting.replayed:  # the number was a posting of the caller's before: not this refund
        raise IdempotencyConflict(
            f"Request {refund.request_no} of {refund.source_system} was already used for a posting.",
            request_no=refund.request_no,
        )
    refund.status, refund.posting = RefundStatus.POSTED, posting
    refund.save()
    for row in rows:
        row.refund = refund
    RefundLeg.objects.bulk_create(rows)
    return refund


def _fingerprint(*, serial_no: int, amount: Decimal, reason: str) -> str:
    asked = {"reason": reason} if reason else {}
    return request_fingerprint(op="refund", serial_no=serial_no, amount=canonical_amount(amount), **asked)


def refund_create(
    *,
    serial_no: int,
    request_no: str,
    amount,
    requested_by: str,
    source_system: str = DEFAULT_SOURCE,
    reason: str = "",
    acting_user=None,
) -> Refund:
    """Refund ``amount`` of posting ``serial_no`` (退款). Posted at once, or,
    when late or large, kept ``pending_approval`` for a second person.
    ``acting_user``: a member of staff refunding from the pages (who may
    refund a late payment, with a reason); without one, a business system.
    ``refund.replayed`` tells whether the request was made before."""
    if acting_user is not None:
        require_permission(acting_user, PERM_REFUND, doing="refund a posting")
    reason = (reason or "").strip()[:255]
    original = _original(serial_no)
    amount = to_amount(amount, original.currency)
    fingerprint = _fingerprint(serial_no=original.serial_no, amount=amount, reason=reason)
    policy = refund_policy_for(original.business_type)
    late = timezone.now() - original.created_at > timedelta(days=policy.window_days)
    large = policy.approval_above is not None and amount > policy.approval_above
    if late and acting_user is None:
        raise RefundWindowPassed(
            f"Posting {original.serial_no} was booked on {timezone.localtime(original.created_at):%Y-%m-%d}, past "
            f"the {policy.window_days}-day refund window of {original.business_type}; finance staff may refund it "
            "with a reason and a second person's approval.",
            serial_no=original.serial_no,
            window_days=policy.window_days,
        )
    if late and not reason:
        raise LedgerValidationError("A refund past the refund window needs a reason.", reason="required")

    def write() -> Refund:
        refund = Refund(
            original=original,
            amount=amount,
            currency=original.currency,
            needs_approval=",".join(why for why, needed in (("late", late), ("large", large)) if needed),
            reason=reason,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            requested_by=requested_by,
            proposed_by=acting_user,
        )
        if not refund.needs_approval:
            return _book(refund, original, posted_by=requested_by, rounding=policy.rounding)
        _lock(original)
        _refuse_reversed(original)
        _check_amount(original, refunded_legs(original=original), amount)
        refund.status = RefundStatus.PENDING
        refund.save()
        return refund

    return run_once(
        Refund,
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        what="refund",
        write=write,
    )


def _locked_refund(refund_id) -> Refund:
    refund = Refund.objects.select_for_update(no_key=True).filter(pk=refund_id).first() if refund_id else None
    if refund is None:
        raise UnknownRefund(f"No refund {refund_id}.", refund_id=refund_id)
    return refund


def refund_approve(*, refund_id: int, acting_user, note: str = "") -> Refund:
    """The second person's approval of a late or large refund: posts it.
    Approving a posted refund again answers with it (posted once)."""
    require_permission(acting_user, PERM_APPROVE, doing="approve a refund")
    with transaction.atomic():
        refund = _locked_refund(refund_id)
        if refund.status == RefundStatus.POSTED:
            refund.replayed = True
            return refund
        if refund.status != RefundStatus.PENDING:
            raise IllegalTransition(
                f"Refund R{refund.pk} is {refund.status}; it cannot be approved.",
                refund_id=refund.pk,
                from_status=refund.status,
            )
        if refund.proposed_by_id == acting_user.pk:
            raise RefundSamePerson(
                f"{acting_user.get_username()} proposed refund R{refund.pk}; another person must approve it.",
                refund_id=refund.pk,
            )
        original = Posting.objects.get(serial_no=refund.original_id)
        refund.decided_by, refund.decided_at, refund.decision_note = acting_user, timezone.now(), note.strip()[:255]
        _book(
            refund,
            original,
            posted_by=acting_user.get_username(),
            rounding=refund_policy_for(original.business_type).rounding,
        )
        refund.replayed = False
        return refund


def refund_reject(*, refund_id: int, acting_user, note: str) -> Refund:
    """The checker refuses a refund awaiting approval (or its proposer withdraws it); nothing moves."""
    require_permission(acting_user, PERM_APPROVE, doing="reject a refund")
    note = (note or "").strip()
    if not note:
        raise LedgerValidationError("A rejection needs a note saying why.", note="required")
    with transaction.atomic():
        refund = _locked_refund(refund_id)
        if refund.status != RefundStatus.PENDING:
            raise IllegalTransition(
                f"Refund R{refund.pk} is {refund.status}; it cannot be rejected.",
                refund_id=refund.pk,
                from_status=refund.status,
            )
        refund.status = RefundStatus.REJECTED
        refund.decided_by, refund.decided_at, refund.decision_note = acting_user, timezone.now(), note[:255]
        refund.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        return refund
