"""Holds (冻结): place, settle, release, expire."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.kernel.errors import IdempotencyConflict, LedgerError, LedgerValidationError
from accounts.kernel.hooks import Hook
from accounts.kernel.idempotency import canonical_amount, request_fingerprint
from accounts.kernel.metadata import clean_metadata, clean_trade_no, references_content
from accounts.kernel.money import to_amount
from accounts.kernel.transitions import transition

from .. import balances
from ..exceptions import BufferedDebitRefused, HoldExceeded, HoldExpired, HoldNotActive, NoAgreement, UnknownHold
from ..models import (
    ACTIVE_HOLD_STATUSES,
    HOLD_TRANSITIONS,
    BusinessType,
    Direction,
    Hold,
    HoldEvent,
    HoldStatus,
    Posting,
)
from .drafts import DEFAULT_SOURCE, Leg, _Draft
from .full_path import _write_posting
from .idempotency import _idempotent
from .locking import _lock_accounts
from .postings import _check_business_type, _legs_content
from .refusals import _balance_detail, _leg_detail, _refusal

# Agreement debits (代扣) belong to postings.agreements, a floor above: it
# answers, when its app is ready, whether an active agreement covers a
# settlement in business type agreement_debit (the held payer, the one counter
# account as payee, the amount, the open day, what is left of the period's
# limit). Without an answer nothing covers it. The database refuses at COMMIT
# an agreement debit that no agreement's debit attempt links to
# (postings/agreements/sql/agreements.sql), whoever writes it.
agreement_debit_cover = Hook(
    "Does an active agreement cover this agreement debit? "
    "(payer: Account, legs: [Leg], amount: Decimal, accounting_date: date | None) -> LedgerError | None"
)


def _agreement_debit_refusal(
    payer, legs: Sequence[Leg], amount: Decimal, accounting_date: date | None
) -> LedgerError | None:
    answers = agreement_debit_cover.answers(payer=payer, legs=legs, amount=amount, accounting_date=accounting_date)
    if not answers:
        return NoAgreement("No agreement can cover an agreement debit here: the agreements are not installed.")
    return next((answer for answer in answers if answer is not None), None)


def hold_place(
    *,
    account_no: str,
    amount,
    reason: str,
    request_no: str,
    actor: str,
    source_system: str = DEFAULT_SOURCE,
    expires_at: datetime | None = None,
    trade_no: str | None = None,
    metadata: dict | None = None,
) -> Hold:
    """Freeze (冻结) an amount: available drops, balance does not. The hold
    keeps ``trade_no`` and ``metadata`` for its settlement postings."""
    trade_no, metadata = clean_trade_no(trade_no), clean_metadata(metadata)
    fingerprint = request_fingerprint(
        op="hold",
        account_no=account_no,
        amount=canonical_amount(amount),
        reason=reason,
        expires_at=expires_at,
        **references_content(metadata=metadata, trade_no=trade_no),
    )

    def write() -> Hold:
        accounts, ((refusal,),) = _lock_accounts([account_no], [_Draft([Leg.debit(account_no, amount)])])
        account = accounts[account_no]
        # A hold is a debit to come: the leg rules' status refusals of a debit.
        if refusal in ("account_closed", "account_blocked"):
            raise _refusal(refusal, _leg_detail(0, account, Direction.DEBIT, account.currency, account))
        if account.is_buffered:
            raise BufferedDebitRefused(
                f"Account {account_no} is a buffered (hot) account: its balance is applied in batches, so "
                "nothing can be frozen on it.",
                account_no=account_no,
            )
        value = to_amount(amount, account.currency)
        frozen_before = account.frozen
        account.frozen += value
        refusal = balances.frozen_write(account)
        if refusal is not None:
            raise _refusal(refusal, _balance_detail(account))
        hold = Hold.objects.create(
            account=account,
            amount=value,
            remaining=value,
            reason=reason,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            expires_at=expires_at,
            trade_no=trade_no,
            metadata=metadata,
            created_by=actor,
        )
        HoldEvent.objects.create(
            hold=hold,
            kind=HoldEvent.Kind.FREEZE,
            amount=value,
            frozen_before=frozen_before,
            frozen_after=account.frozen,
            source_system=source_system,
            actor=actor,
        )
        return hold

    return _idempotent(
        Hold,
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        what="hold",
        write=write,
    )


def _hold_get(hold_id) -> Hold:
    try:
        return Hold.objects.select_related("account").get(pk=hold_id)
    except (Hold.DoesNotExist, ValueError):
        raise UnknownHold(f"No hold {hold_id}.", hold_id=hold_id) from None


def _lock_active_hold(hold_id: int, amount: Decimal | None, *, refuse_due: bool = True) -> Hold:
    """Lock the hold; refuse it when closed (HOLD_TRANSITIONS' refusal:
    hold_not_active, or hold_expired for an expired one), past its expiry
    (hold_expired: the caller expires it, see _expire), or short of
    ``amount``. Expired means ``expires_at <= timezone.now()`` read once the
    row is locked: the same clock and comparison as holds_expire_due, so a
    settle or release never gets in after the moment the sweep would take.
    The sweep itself passes ``refuse_due=False``."""
    hold = Hold.objects.select_for_update(no_key=True).get(pk=hold_id)
    if not hold.is_active:
        raise HOLD_TRANSITIONS.refuse(f"Hold {hold.id}", hold.status, HoldStatus.EXPIRED, hold_id=hold.id)
    if refuse_due and hold.expires_at is not None and hold.expires_at <= timezone.now():
        raise HoldExpired(
            f"Hold {hold.id} expired at {hold.expires_at.isoformat()}.",
            hold_id=hold.id,
            status=HoldStatus.EXPIRED,
            expires_at=hold.expires_at.isoformat(),
        )
    if amount is not None and amount > hold.remaining:
        raise HoldExceeded(
            f"Hold {hold.id} has {hold.remaining} remaining; {amount} asked.", hold_id=hold.id, remaining=hold.remaining
        )
    return hold


def _expire(hold: Hold, *, actor: str = "system:hold-expiry") -> bool:
    """Expire the rest of an active hold in a transaction of its own; False
    when it is no longer active (someone else closed it first).

    The sweep calls it for each due hold; a settle or release that found its
    hold past the expiry (HoldExpired, its own transaction rolled back) calls
    it before re-raising, so the expiry is committed however the refusal is
    handled. Whoever comes first (that call, another, the sweep) expires the
    hold; the others find it expired: the money is released exactly once.
    Inside a caller's own transaction this is a savepoint, and goes with it
    (the sweep then expires the hold)."""
    try:
        with transaction.atomic():
            _release(
                hold,
                None,
                kind=HoldEvent.Kind.EXPIRE,
                actor=actor,
                source_system=DEFAULT_SOURCE,
                request_no=None,
                fingerprint="",
                refuse_due=False,
            )
    except (HoldNotActive, HoldExceeded):
        return False
    return True


def hold_settle(
    *,
    hold_id: int,
    request_no: str,
    amount,
    business_type: str,
    actor: str,
    counter_account_no: str | None = None,
    counter_legs: Sequence[Leg] | None = None,
    source_system: str = DEFAULT_SOURCE,
    memo: str = "",
    external_ref: str = "",
    accounting_date: date | None = None,
    trade_no: str | None = None,
    metadata: dict | None = None,
) -> Posting:
    """Deduct (扣除冻结) all or part of a hold: one posting whose debit on the
    held account lowers balance and frozen together. The other side is one
    counter account, or legs such as Cr channel amount / Cr fee income fee.
    An agreement debit (代扣) is refused (no_agreement, agreement_limit_exceeded)
    unless an active agreement of the held payer covers it. The posting has
    the hold's ``trade_no`` and ``metadata`` unless the call gives its own,
    each on its own (a trade number given keeps the hold's metadata)."""
    _check_business_type(business_type, settling_hold=True)
    # None and {} alike: not given, the hold's.
    given_trade_no, given_metadata = clean_trade_no(trade_no), clean_metadata(metadata) or None
    hold = _hold_get(hold_id)
    if (counter_account_no is None) == (counter_legs is None):
        raise LedgerValidationError("Give either counter_account_no or counter_legs.")
    if counter_legs is None:
        counter_legs = [Leg.credit(counter_account_no, amount)]
    legs = [Leg.debit(hold.account.account_no, amount), *counter_legs]
    fingerprint = request_fingerprint(
        op="settle",
        hold_id=hold.id,
        business_type=business_type,
        legs=_legs_content(legs),
        memo=memo,
        external_ref=external_ref,
        # What the call gave: what it inherits is fixed by hold_id already.
        **references_content(metadata=given_metadata or {}, trade_no=given_trade_no),
    )

    def write() -> Posting:
        accounts, (refusals,) = _lock_accounts((leg.account_no for leg in legs), [_Draft(legs, None, hold_leg=0)])
        value = to_amount(amount, hold.account.currency)
        locked_hold = _lock_active_hold(hold.id, value)
        if business_type == BusinessType.AGREEMENT_DEBIT:
            refusal = _agreement_debit_refusal(accounts[hold.account.account_no], legs, value, accounting_date)
            if refusal is not None:
                raise refusal
        posting = _write_posting(
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            business_type=business_type,
            legs=legs,
            accounts=accounts,
            posted_by=actor,
            memo=memo or f"settle hold {hold.id}",
            currency=None,
            accounting_date=accounting_date,
            external_ref=external_ref,
            hold_leg=0,
            refusals=refusals,
            trade_no=hold.trade_no if given_trade_no is None else given_trade_no,
            metadata=hold.metadata if given_metadata is None else given_metadata,
        )
        held_account = accounts[hold.account.account_no]
        remaining = locked_hold.remaining - value
        transition(
            locked_hold,
            HoldStatus.SETTLED if remaining == 0 else HoldStatus.PARTIALLY_SETTLED,
            table=HOLD_TRANSITIONS,
            what=f"Hold {locked_hold.id}",
            hold_id=locked_hold.id,
            changes={"remaining": remaining},
            history=lambda from_status, to_status: HoldEvent.objects.create(
                hold=locked_hold,
                kind=HoldEvent.Kind.SETTLE,
                amount=value,
                posting=posting,
                frozen_before=held_account.frozen + value,
                frozen_after=held_account.frozen,
                source_system=source_system,
                actor=actor,
            ),
        )
        return posting

    try:
        return _idempotent(
            Posting,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            what="settlement",
            write=write,
        )
    except HoldExpired:
        _expire(hold)
        raise


def _release(
    hold: Hold,
    amount: Decimal | None,
    *,
    kind: str,
    actor: str,
    source_system: str,
    request_no: str | None,
    fingerprint: str,
    refuse_due: bool = True,
) -> HoldEvent:
    account = _lock_accounts([hold.account.account_no])[0][hold.account.account_no]
    locked_hold = _lock_active_hold(hold.id, amount, refuse_due=refuse_due)
    value = locked_hold.remaining if amount is None else amount
    if value <= 0:
        raise HoldExceeded(f"Hold {hold.id} has nothing left to release.", hold_id=hold.id)
    frozen_before = account.frozen
    account.frozen = frozen_before - value
    balances.balances_write([account])
    remaining = locked_hold.remaining - value
    if remaining:
        status = locked_hold.status
    else:
        status = HoldStatus.EXPIRED if kind == HoldEvent.Kind.EXPIRE else HoldStatus.RELEASED
    return transition(
        locked_hold,
        status,
        table=HOLD_TRANSITIONS,
        what=f"Hold {locked_hold.id}",
        hold_id=locked_hold.id,
        changes={"remaining": remaining},
        history=lambda from_status, to_status: HoldEvent.objects.create(
            hold=locked_hold,
            kind=kind,
            amount=value,
            frozen_before=frozen_before,
            frozen_after=frozen_before - value,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            actor=actor,
        ),
    )


def hold_release(
    *,
    hold_id: int,
    request_no: str,
    actor: str,
    amount=None,
    source_system: str = DEFAULT_SOURCE,
) -> Hold:
    """Release (解冻) the rest of a hold, or part of it when ``amount`` is given."""
    hold = _hold_get(hold_id)
    fingerprint = request_fingerprint(
        op="release", hold_id=hold.id, amount=None if amount is None else canonical_amount(amount)
    )

    def write() -> HoldEvent:
        value = None if amount is None else to_amount(amount, hold.account.currency)
        return _release(
            hold,
            value,
            kind=HoldEvent.Kind.RELEASE,
            actor=actor,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
        )

    try:
        event = _idempotent(
            HoldEvent,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            what="release",
            write=write,
        )
    except HoldExpired:
        # The money comes back by expiry (an expire event, status expired),
        # and the call says so with hold_expired, as every later one will.
        _expire(hold)
        raise
    if event.hold_id != hold.id:
        raise IdempotencyConflict(f"Request {request_no} released another hold.", request_no=request_no)
    hold.refresh_from_db()
    hold.replayed = event.replayed
    return hold


def holds_expire_due(*, now: datetime | None = None, actor: str = "system:hold-expiry") -> int:
    """Release every active hold whose expiry has passed and that nobody has
    touched since (a settle or release past the expiry expires the hold
    itself). Safe to run twice: a hold already released, settled or expired
    is skipped under its row lock."""
    now = now or timezone.now()
    due = Hold.objects.filter(status__in=ACTIVE_HOLD_STATUSES, expires_at__lte=now).select_related("account")
    return sum(_expire(hold, actor=actor) for hold in due.iterator())
