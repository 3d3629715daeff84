"""posting_create and posting_reverse."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from accounts.kernel.errors import LedgerValidationError
from accounts.kernel.idempotency import canonical_amount, request_fingerprint
from accounts.kernel.metadata import clean_metadata, clean_trade_no, references_content

from ..exceptions import (
    AlreadyReversed,
    ClosedPeriodNeedsCorrection,
    NoAgreement,
    ReversalNotAllowed,
    SameAccount,
    UnbalancedPosting,
    UnknownPosting,
)
from ..models import AccountingCalendar, BusinessType, Direction, OrderEvent, Posting, Refund, RefundStatus
from .drafts import DEFAULT_SOURCE, Leg, _direction, _Draft
from .full_path import _write_posting
from .idempotency import _idempotent
from .locking import _lock_accounts
from .one_call import _post_in_one_call


def _legs_content(legs: Sequence[Leg]) -> list:
    """The legs as the fingerprint sees them, refusing an account on both sides.

    Every way in (posting_create, each item of a batch, hold_settle) passes
    here before anything is read or written, so the one-call and full paths
    refuse it alike."""
    content = sorted(
        [str(leg.account_no), _direction(leg.direction, i), canonical_amount(leg.amount)] for i, leg in enumerate(legs)
    )
    sides: dict[str, set[str]] = {}
    for account_no, direction, _ in content:
        sides.setdefault(account_no, set()).add(direction)
    both = sorted(account_no for account_no, directions in sides.items() if len(directions) > 1)
    if both:
        raise SameAccount(
            f"Account {both[0]} is on both a debit and a credit leg; a posting must move money between accounts.",
            account_no=both[0],
        )
    return content


_POSTABLE_TYPES = frozenset(BusinessType.values) - {BusinessType.REVERSAL}


def _check_business_type(business_type: str, *, settling_hold: bool = False) -> None:
    """A known business type; a reversal is only ever written by posting_reverse.
    An agreement debit (代扣) only settles a hold taken under its agreement
    (hold_settle asks the agreements whether one covers it); asked of any
    other way in, it is refused as having no agreement."""
    if business_type not in _POSTABLE_TYPES:
        raise LedgerValidationError(f"Unknown business type {business_type!r}.", business_type=business_type)
    if business_type == BusinessType.AGREEMENT_DEBIT and not settling_hold:
        raise NoAgreement(
            "An agreement debit (代扣) is taken under its agreement: postings.agreements.services.agreement_debit "
            "(POST /api/v1/agreements/{agreement_id}/debits), not posted directly.",
            business_type=business_type,
        )


def _posting_fingerprint(
    *,
    business_type: str,
    legs: Sequence[Leg],
    memo: str,
    currency: str | None,
    external_ref: str,
    corrects_date: date | None,
    trade_no: str | None = None,
    metadata: dict[str, str] | None = None,
) -> str:
    """What a posting request asks for, refusing what can never post.
    ``trade_no`` and ``metadata`` as accounts.kernel.metadata cleaned them:
    a retry that changes them is a conflict, as for any other field."""
    _check_business_type(business_type)
    if len(legs) < 2:
        raise UnbalancedPosting("A posting needs at least one debit and one credit leg.")
    return request_fingerprint(
        op="post",
        business_type=business_type,
        legs=_legs_content(legs),
        memo=memo,
        currency=currency,
        external_ref=external_ref,
        corrects_date=corrects_date,
        **references_content(metadata=metadata or {}, trade_no=trade_no),
    )


def posting_create(
    *,
    request_no: str,
    business_type: str,
    legs: Sequence[Leg],
    posted_by: str,
    source_system: str = DEFAULT_SOURCE,
    memo: str = "",
    currency: str | None = None,
    accounting_date: date | None = None,
    external_ref: str = "",
    corrects_date: date | None = None,
    rule_version: int | None = None,
    trade_no: str | None = None,
    metadata: dict | None = None,
) -> Posting:
    """Post a balanced set of legs atomically (记账). Returns the posting;
    ``posting.replayed`` tells whether it had been posted before.
    ``corrects_date`` marks an adjustment of a day already closed;
    ``rule_version`` the posting rule's version the legs were made by
    (posting_create_by_rule), recorded on the posting. ``trade_no`` groups
    the postings of one order; ``metadata`` is the caller's own keys
    (both searchable, accounts.kernel.metadata)."""
    trade_no, metadata = clean_trade_no(trade_no), clean_metadata(metadata)
    fingerprint = _posting_fingerprint(
        business_type=business_type,
        legs=legs,
        memo=memo,
        currency=currency,
        external_ref=external_ref,
        corrects_date=corrects_date,
        trade_no=trade_no,
        metadata=metadata,
    )

    def write() -> Posting:
        accounts, (refusals,) = _lock_accounts((leg.account_no for leg in legs), [_Draft(legs, currency)])
        return _write_posting(
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            business_type=business_type,
            legs=legs,
            accounts=accounts,
            posted_by=posted_by,
            memo=memo,
            currency=currency,
            accounting_date=accounting_date,
            external_ref=external_ref,
            corrects_date=corrects_date,
            refusals=refusals,
            rule_version=rule_version,
            trade_no=trade_no,
            metadata=metadata,
        )

    def one_call() -> Posting:
        return _post_in_one_call(
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            business_type=business_type,
            legs=legs,
            posted_by=posted_by,
            memo=memo,
            currency=currency,
            external_ref=external_ref,
            rule_version=rule_version,
            trade_no=trade_no,
            metadata=metadata,
        )

    return _idempotent(
        Posting,
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        what="posting",
        write=write,
        look_first=False,
        # A back-dated posting or a correction needs its day checked: the full path.
        one_call=one_call if accounting_date is None and corrects_date is None else None,
    )


def posting_reverse(
    *,
    serial_no: int,
    request_no: str,
    posted_by: str,
    source_system: str = DEFAULT_SOURCE,
    memo: str = "",
    accounting_date: date | None = None,
) -> Posting:
    """Reverse a posting (冲正): swap every leg's direction, link to the original."""
    try:
        original = Posting.objects.get(serial_no=serial_no)
    except (Posting.DoesNotExist, ValueError):
        raise UnknownPosting(f"No posting {serial_no}.", serial_no=serial_no) from None
    if original.business_type == BusinessType.REVERSAL:
        raise ReversalNotAllowed(f"Posting {serial_no} is itself a reversal.", serial_no=serial_no)
    if original.reverses_id is not None:
        raise ReversalNotAllowed(
            f"Posting {serial_no} is the red posting of a correction; correct its blue posting instead.",
            serial_no=serial_no,
        )
    if OrderEvent.objects.filter(posting=original).exists():
        raise ReversalNotAllowed(
            f"Posting {serial_no} belongs to a guarantee order; it is refunded through the order, not reversed.",
            serial_no=serial_no,
        )
    legs = [
        Leg(e.account.account_no, Direction.CREDIT if e.direction == Direction.DEBIT else Direction.DEBIT, e.amount)
        for e in original.entries.select_related("account").order_by("serial_no")
    ]
    # Every field of the request, so a replay that asks for something else is
    # a conflict. A field left at its default stays out: the fingerprint of
    # such a request is the one reversals were stored with before.
    asked = {"memo": memo, "accounting_date": accounting_date}
    fingerprint = request_fingerprint(
        op="reverse", serial_no=original.serial_no, **{k: v for k, v in asked.items() if v not in ("", None)}
    )

    def already_reversed(violated: str) -> None:
        if "reverses" in violated:
            raise AlreadyReversed(f"Posting {serial_no} has already been reversed.", serial_no=serial_no)

    def write() -> Posting:
        # The refunds' lock on the original (postings.services.refunds), taken
        # before the accounts as they take it: a refund and a reversal of one
        # payment run one after the other and each sees the other's result.
        Posting.objects.select_for_update(no_key=True).filter(serial_no=original.serial_no).values_list("pk").first()
        accounts, (refusals,) = _lock_accounts((leg.account_no for leg in legs), [_Draft(legs, original.currency)])
        if Posting.objects.filter(reverses=original).exists():
            raise AlreadyReversed(f"Posting {serial_no} has already been reversed.", serial_no=serial_no)
        closed_through = (
            AccountingCalendar.objects.filter(entity_id=original.entity_id)
            .values_list("closed_through", flat=True)
            .first()
        )
        if closed_through is not None and original.accounting_date <= closed_through:
            raise ClosedPeriodNeedsCorrection(
                f"Posting {serial_no} is dated {original.accounting_date}, in a period closed through {closed_through}: "
                "a correction of a closed period needs a second person's approval. Ask finance to propose a "
                "red-ink correction (红冲) of it.",
                serial_no=serial_no,
                closed_through=str(closed_through),
            )
        # A reversal gives back every leg whole: after a refund that would
        # give back the refunded part twice. What is left is refunded instead.
        if Refund.objects.filter(original=original, status=RefundStatus.POSTED).exists():
            raise ReversalNotAllowed(
                f"Posting {serial_no} has been partly refunded; refund what is left instead of reversing it.",
                serial_no=serial_no,
            )
        return _write_posting(
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            business_type=BusinessType.REVERSAL,
            legs=legs,
            accounts=accounts,
            posted_by=posted_by,
            memo=memo or f"reversal of posting {original.serial_no} ({original.business_type})",
            currency=original.currency,
            accounting_date=accounting_date,
            external_ref=original.external_ref,
            reverses=original,
            corrects_date=original.accounting_date,
            refusals=refusals,
            # The reversal is part of the original's trade: a search by the
            # trade number finds the payment and what undid it.
            trade_no=original.trade_no,
        )

    return _idempotent(
        Posting,
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        what="reversal",
        write=write,
        extra_conflicts=already_reversed,
    )
