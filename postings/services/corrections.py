"""Red-ink corrections (红冲 + 蓝字) of a booked posting, under maker-checker.

A finance person proposes (``correction_propose``) a correction of posting P
with a reason and the legs P should have had; another approves it
(``correction_approve``), which books in ONE transaction:

- the red posting (红字): P's business type (not ``reversal``), ``reverses`` P,
  every entry P's with the direction swapped, so every balance moves back
  exactly; the vouchers step reads it as red ink: lines in P's subjects and
  directions with negative amounts (reports/vouchers/build.py), so the GL's
  turnover nets out instead of growing on both sides;
- the blue posting (蓝字): the corrected legs, P's business type and currency.

Both are dated on the open day; a correction of a closed day names it
(``corrects_date``). The ``Correction`` row links the three.

Refused (``correction_not_allowed``): a posting refunded (in part, or with a
refund awaiting approval), reversed, corrected or with a correction awaiting
a decision, of a guarantee order, a reversal, a red posting, or a refund's
posting. The database refuses a second correction and a red posting that
does not mirror its original (postings/sql/corrections.sql), whatever writes.

Lock order: the correction row, then P (the lock refunds and reversals take),
then every account of both postings in id order in one statement.

Idempotency: a proposal carries a request number (made when the form is
shown), so a double submit proposes once; approving a booked correction
again answers with it.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.kernel.errors import IllegalTransition, LedgerValidationError
from accounts.kernel.idempotency import canonical_amount, request_fingerprint, run_once
from accounts.kernel.money import to_amount
from accounts.kernel.permissions import require_permission
from accounts.models import Account

from ..exceptions import CorrectionNotAllowed, CorrectionSamePerson, UnknownCorrection, UnknownPosting
from ..models import (
    BusinessType,
    Correction,
    CorrectionStatus,
    Direction,
    OrderEvent,
    Posting,
    Refund,
    RefundStatus,
)
from .drafts import DEFAULT_SOURCE, Leg, _direction, _Draft
from .full_path import _write_posting
from .locking import _lock_accounts
from .postings import _legs_content

PERM_PROPOSE = "postings.propose_correction"
PERM_APPROVE = "postings.approve_correction"


def _refuse(posting: Posting, why: str) -> CorrectionNotAllowed:
    return CorrectionNotAllowed(
        f"Posting P{posting.serial_no} cannot be corrected: {why}.", serial_no=posting.serial_no, reason=why
    )


def _check_correctable(original: Posting) -> None:
    """Every refusal of a correction, in one place (read again under the lock on approval)."""
    if original.business_type == BusinessType.REVERSAL or original.reverses_id is not None:
        raise _refuse(original, "it undoes another posting (a reversal or a red posting)")
    if Refund.objects.filter(posting=original).exists():
        raise _refuse(original, "it is a refund; correct the payment it refunds")
    if OrderEvent.objects.filter(posting=original).exists():
        raise _refuse(original, "it belongs to a guarantee order, which moves only through the order")
    if Posting.objects.filter(reverses=original).exists():
        raise _refuse(original, "it has been reversed or corrected already")
    if Refund.objects.filter(original=original, status__in=[RefundStatus.POSTED, RefundStatus.PENDING]).exists():
        raise _refuse(original, "it has been refunded (or a refund of it awaits approval)")


def _original(serial_no) -> Posting:
    try:
        return Posting.objects.select_related("entity").get(serial_no=serial_no)
    except (Posting.DoesNotExist, ValueError, TypeError):
        raise UnknownPosting(f"No posting {serial_no}.", serial_no=serial_no) from None


def _corrected_legs(original: Posting, legs) -> list[list[str]]:
    """The proposed legs as stored: ``[account_no, "D"|"C", amount]``, checked
    for what can be told before approval: balanced, on the original's entity
    and currency, not the original's legs again."""
    legs = [Leg(str(a).strip(), d, amount) for a, d, amount in legs]
    if len(legs) < 2:
        raise LedgerValidationError("A corrected posting needs at least one debit and one credit leg.", legs="short")
    rows = []
    for i, leg in enumerate(legs):
        amount = to_amount(leg.amount, original.currency, field=f"legs[{i}].amount")
        rows.append([leg.account_no, _direction(leg.direction, i), canonical_amount(amount)])
    _legs_content([Leg(*row) for row in rows])
    debits = sum((Decimal(r[2]) for r in rows if r[1] == Direction.DEBIT), Decimal(0))
    credits = sum((Decimal(r[2]) for r in rows if r[1] == Direction.CREDIT), Decimal(0))
    if debits != credits:
        raise LedgerValidationError(
            f"The corrected legs do not balance: debits {debits}, credits {credits}.", debits=debits, credits=credits
        )
    accounts = {a.account_no: a for a in Account.objects.filter(account_no__in={r[0] for r in rows})}
    for row in rows:
        account = accounts.get(row[0])
        if account is None:
            raise LedgerValidationError(f"No account {row[0]}.", account_no=row[0])
        if account.entity_id != original.entity_id or account.currency != original.currency:
            raise LedgerValidationError(
                f"Account {row[0]} is not in P{original.serial_no}'s entity and currency "
                f"({original.entity.code} {original.currency}).",
                account_no=row[0],
            )
    now = sorted(
        [e.account.account_no, e.direction, canonical_amount(e.amount)]
        for e in original.entries.select_related("account")
    )
    if sorted(rows) == now:
        raise LedgerValidationError("The corrected legs are the posting's own; there is nothing to correct.")
    return rows


def correction_propose(
    *, serial_no: int, legs, reason: str, request_no: str, acting_user, source_system: str = DEFAULT_SOURCE
) -> Correction:
    """Propose a red-ink correction of posting ``serial_no``: ``legs`` are the
    legs it should have had (``(account_no, direction, amount)`` each).
    Nothing moves until another person approves it. ``correction.replayed``
    tells whether the same request had been proposed before."""
    require_permission(acting_user, PERM_PROPOSE, doing="propose a correction")
    reason = (reason or "").strip()[:255]
    if not reason:
        raise LedgerValidationError("A correction needs a reason.", reason="required")
    original = _original(serial_no)
    rows = _corrected_legs(original, legs)
    fingerprint = request_fingerprint(op="correct", serial_no=original.serial_no, legs=sorted(rows), reason=reason)

    def write() -> Correction:
        # The lock refunds and reversals take: whichever comes second sees the other.
        Posting.objects.select_for_update(no_key=True).filter(serial_no=original.serial_no).values_list("pk").first()
        _check_correctable(original)
        if Correction.objects.filter(original=original, status=CorrectionStatus.PROPOSED).exists():
            raise _refuse(original, "a correction of it awaits a decision")
        return Correction.objects.create(
            original=original,
            legs=rows,
            reason=reason,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            proposed_by=acting_user,
        )

    return run_once(
        Correction,
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        what="correction",
        write=write,
    )


def _locked(correction_id) -> Correction:
    correction = (
        Correction.objects.select_for_update(no_key=True).filter(pk=correction_id).first() if correction_id else None
    )
    if correction is None:
        raise UnknownCorrection(f"No correction {correction_id}.", correction_id=correction_id)
    return correction


def correction_approve(*, correction_id: int, acting_user, note: str = "") -> Correction:
    """The second person's approval: books the red and the blue posting and
    links them, in one transaction. Approving a booked correction again
    answers with it (booked once)."""
    require_permission(acting_user, PERM_APPROVE, doing="approve a correction")
    with transaction.atomic():
        correction = _locked(correction_id)
        if correction.status == CorrectionStatus.BOOKED:
            correction.replayed = True
            return correction
        if correction.status != CorrectionStatus.PROPOSED:
            raise IllegalTransition(
                f"Correction C{correction.pk} is {correction.status}; it cannot be approved.",
                correction_id=correction.pk,
                from_status=correction.status,
            )
        if correction.proposed_by_id == acting_user.pk:
            raise CorrectionSamePerson(
                f"{acting_user.get_username()} proposed correction C{correction.pk}; another person must approve it.",
                correction_id=correction.pk,
            )
        original = Posting.objects.select_for_update(no_key=True).get(serial_no=correction.original_id)
        _check_correctable(original)
        red_legs = [
            Leg(e.account.account_no, Direction.CREDIT if e.direction == Direction.DEBIT else Direction.DEBIT, e.amount)
            for e in original.entries.select_related("account").order_by("serial_no")
        ]
        blue_legs = [Leg(a, d, Decimal(amount)) for a, d, amount in correction.legs]
        posted_by = acting_user.get_username()
        # Every account of both postings locked at once, in id order (no deadlock with any other posting).
        accounts, (red_refusals, _) = _lock_accounts(
            [leg.account_no for leg in red_legs + blue_legs],
            [_Draft(red_legs, original.currency), _Draft(blue_legs, original.currency)],
        )
        red = _write_posting(
            source_system=correction.source_system,
            request_no=f"corr-C{correction.pk}-red",
            fingerprint=request_fingerprint(op="correct-red", correction=correction.pk),
            business_type=original.business_type,
            legs=red_legs,
            accounts=accounts,
            posted_by=posted_by,
            memo=f"红冲 red ink of P{original.serial_no} (correction C{correction.pk}): {correction.reason}",
            currency=original.currency,
            accounting_date=None,
            external_ref=original.external_ref,
            reverses=original,
            corrects_date=original.accounting_date,
            refusals=red_refusals,
        )
        # Read again after the red posting moved them (the rows stay locked by this transaction).
        accounts, (blue_refusals,) = _lock_accounts(
            (leg.account_no for leg in blue_legs), [_Draft(blue_legs, original.currency)]
        )
        blue = _write_posting(
            source_system=correction.source_system,
            request_no=f"corr-C{correction.pk}-blue",
            fingerprint=request_fingerprint(op="correct-blue", correction=correction.pk),
            business_type=original.business_type,
            legs=blue_legs,
            accounts=accounts,
            posted_by=posted_by,
            memo=f"蓝字 corrected P{original.serial_no} (correction C{correction.pk}): {correction.reason}",
            currency=original.currency,
            accounting_date=red.accounting_date,
            external_ref=original.external_ref,
            corrects_date=original.accounting_date if original.accounting_date < red.accounting_date else None,
            refusals=blue_refusals,
        )
        correction.status = CorrectionStatus.BOOKED
        correction.red_posting, correction.blue_posting = red, blue
        correction.decided_by, correction.decided_at = acting_user, timezone.now()
        correction.decision_note = (note or "").strip()[:255]
        correction.save(
            update_fields=["status", "red_posting", "blue_posting", "decided_by", "decided_at", "decision_note"]
        )
    correction.replayed = False
    return correction


def correction_reject(*, correction_id: int, acting_user, note: str) -> Correction:
    """The checker refuses a proposed correction (or its proposer withdraws it); nothing moves."""
    require_permission(acting_user, PERM_APPROVE, doing="reject a correction")
    note = (note or "").strip()
    if not note:
        raise LedgerValidationError("A rejection needs a note saying why.", note="required")
    with transaction.atomic():
        correction = _locked(correction_id)
        if correction.status != CorrectionStatus.PROPOSED:
            raise IllegalTransition(
                f"Correction C{correction.pk} is {correction.status}; it cannot be rejected.",
                correction_id=correction.pk,
                from_status=correction.status,
            )
        correction.status = CorrectionStatus.REJECTED
        correction.decided_by, correction.decided_at, correction.decision_note = acting_user, timezone.now(), note[:255]
        correction.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        return correction
