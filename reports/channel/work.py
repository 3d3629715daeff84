"""Working reconciliation differences (差错处理): owner, status, resolution.

A difference (``reports.channel.models.Difference``) moves along ``TRANSITIONS``
(the kernel's ``accounts.kernel.transitions``):
open -> investigating -> resolved (open -> resolved directly too: the
matching resolves late arrivals that way). Resolved is final. Every change
writes a ``DifferenceEvent`` in the same transaction; nothing is deleted.

Resolutions worked by staff:

- adjusting posting (调账) and write-off to suspense (核销挂账): maker-checker
  through a ``DifferenceProposal``. One member of staff proposes, a different
  one approves; the approval posts through ``postings.services.posting_create``
  (business type ``adjustment``, source system ``recon``, request number
  ``recon-D<difference>-P<proposal>``) and resolves the difference, all in one
  transaction. A rejected proposal can be replaced by a new one.
- channel error (渠道差错): a note saying why, no posting.

The clearing leg of a proposal must move the channel's clearing account by
exactly the difference (channel minus ledger, money in positive): a debit
for a long, a credit for a short, either way for a mismatch. So a resolved
difference leaves the clearing account agreeing with the channel.

Lock order, everywhere: the difference row, then its proposal, then (inside
the posting service) the accounts in id order. Two approvals of one proposal
at once: the second waits for the difference, then finds it approved and
answers with the first's posting; the request number would refuse a second
posting anyway.

Every function takes the acting ``user`` and checks ``reports.work_difference``
here, not only in the pages.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.kernel.errors import CurrencyMismatch, IllegalTransition, LedgerError, LedgerValidationError
from accounts.kernel.money import to_amount
from accounts.kernel.permissions import NotAllowed, has_permission, require_permission  # noqa: F401 (NotAllowed: named here for callers)
from accounts.kernel.transitions import Transitions, transition
from accounts.models import Account, AccountType, Category
from accounts.selectors import account_get, internal_account_for
from postings.exceptions import CrossEntityPosting
from postings.selectors import current_accounting_date
from postings.services import Leg, posting_create

from .models import Difference, DifferenceEvent, DifferenceProposal, DifferenceStatus, ProposalStatus, Resolution

SOURCE = "recon"  # the source system of the postings made here
PERM_WORK = "reports.work_difference"
SUSPENSE_TYPE = "SUSPENSE"

OPEN, INVESTIGATING, RESOLVED = DifferenceStatus.OPEN, DifferenceStatus.INVESTIGATING, DifferenceStatus.RESOLVED
TRANSITIONS = Transitions(
    {
        OPEN: {INVESTIGATING, RESOLVED},
        INVESTIGATING: {RESOLVED},
        RESOLVED: set(),
    }
)


class SamePerson(LedgerError):
    """Maker-checker: nobody approves their own proposal."""

    code = "same_person"
    http_status = 403
    default_message = "A proposal must be approved by someone other than its proposer."


class ProposalPending(LedgerError):
    code = "proposal_pending"
    http_status = 409
    default_message = "The difference already has a proposal awaiting a decision."


class ProposalMismatch(LedgerValidationError):
    code = "proposal_not_the_difference"
    default_message = "The clearing leg must move the clearing account by exactly the difference."


class SuspenseNotConfigured(LedgerError):
    code = "suspense_not_configured"
    default_message = "No single open suspense account (type SUSPENSE) for this entity and currency."


class UnknownDifference(LedgerError):
    code = "not_found"
    http_status = 404
    default_message = "No such difference."


def _require(user: AbstractBaseUser) -> None:
    require_permission(user, PERM_WORK, doing="work differences")


def _locked(difference_id: int) -> Difference:
    diff = (
        Difference.objects.select_for_update(no_key=True, of=("self",))
        .select_related("channel", "entry")
        .filter(pk=difference_id)
        .first()
    )
    if diff is None:
        raise UnknownDifference(f"No difference {difference_id}.", difference_id=difference_id)
    return diff


def _event(diff: Difference, kind: str, *, user, from_value: str = "", to_value: str = "", note: str = "") -> None:
    DifferenceEvent.objects.create(
        difference=diff,
        kind=kind,
        from_value=from_value[:64],
        to_value=to_value[:64],
        note=note,
        actor=user.get_username(),
    )


def _move(diff: Difference, to_status: str, *, user, note: str = "", resolution: str = "") -> None:
    """The one place a status changes: checked against TRANSITIONS, with its event."""
    changes = {}
    if to_status == RESOLVED:
        changes = {
            "resolution": resolution,
            "resolved_at": timezone.now(),
            "resolved_by": user.get_username(),
            "resolution_posting": diff.resolution_posting,
        }

    def history(from_status: str, to_status: str) -> None:
        _event(diff, DifferenceEvent.Kind.STATUS, user=user, from_value=from_status, to_value=to_status, note=note)
        if to_status == RESOLVED:
            _event(diff, DifferenceEvent.Kind.RESOLVED, user=user, to_value=resolution, note=note)

    transition(
        diff,
        to_status,
        table=TRANSITIONS,
        what=f"Difference {diff.pk}",
        difference_id=diff.pk,
        changes=changes,
        history=history,
    )


def _required_note(note: str, what: str) -> str:
    note = (note or "").strip()
    if not note:
        raise LedgerValidationError(f"{what} needs a note.", note=note)
    return note


def _unresolved(diff: Difference, action: str) -> None:
    if diff.status == RESOLVED:
        raise IllegalTransition(
            f"Difference {diff.pk} is resolved; cannot {action}.", difference_id=diff.pk, from_status=diff.status
        )


# ------------------------------------------------------------ owner/status ----


def difference_assign(
    *, difference_id: int, owner: AbstractBaseUser | None, user: AbstractBaseUser, note: str = ""
) -> Difference:
    """Give the difference an owner (or take it away with ``owner=None``)."""
    _require(user)
    if owner is not None and not has_permission(owner, PERM_WORK):
        raise LedgerValidationError(f"{owner.get_username()} cannot work differences.", owner=owner.get_username())
    with transaction.atomic(durable=True):
        diff = _locked(difference_id)
        _unresolved(diff, "change its owner")
        before = diff.owner.get_username() if diff.owner_id else ""
        if diff.owner_id == (owner.pk if owner else None):
            return diff
        diff.owner = owner
        diff.save(update_fields=["owner", "updated_at"])
        _event(
            diff,
            DifferenceEvent.Kind.OWNER,
            user=user,
            from_value=before,
            to_value=owner.get_username() if owner else "",
            note=note,
        )
        return diff


def difference_investigate(*, difference_id: int, user: AbstractBaseUser, note: str = "") -> Difference:
    """open -> investigating. Without an owner, the one who starts owns it."""
    _require(user)
    with transaction.atomic(durable=True):
        diff = _locked(difference_id)
        _move(diff, INVESTIGATING, user=user, note=note)
        if diff.owner_id is None:
            diff.owner = user
            diff.save(update_fields=["owner", "updated_at"])
            _event(diff, DifferenceEvent.Kind.OWNER, user=user, to_value=user.get_username())
        return diff


def difference_note(*, difference_id: int, user: AbstractBaseUser, note: str) -> Difference:
    _require(user)
    note = _required_note(note, "A note")
    with transaction.atomic(durable=True):
        diff = _locked(difference_id)
        _event(diff, DifferenceEvent.Kind.NOTE, user=user, note=note)
        return diff


def difference_mark_channel_error(*, difference_id: int, user: AbstractBaseUser, note: str) -> Difference:
    """Resolved as the channel's error (渠道差错): no posting; the note says why."""
    _require(user)
    note = _required_note(note, "Marking a channel error")
    with transaction.atomic(durable=True):
        diff = _locked(difference_id)
        if diff.proposals.filter(status=ProposalStatus.PROPOSED).exists():
            raise ProposalPending(
                f"Difference {diff.pk} has a proposal awaiting a decision; reject it first.", difference_id=diff.pk
            )
        diff.note = note
        diff.save(update_fields=["note", "updated_at"])
        _move(diff, RESOLVED, user=user, note=note, resolution=Resolution.CHANNEL_ERROR)
        return diff


# ------------------------------------------------------------- proposals ----


def _clearing_account(diff: Difference, account_no: str | None) -> Account:
    accounts = diff.channel.clearing_accounts.filter(currency=diff.currency)
    if account_no:
        account = accounts.filter(account_no=account_no).first()
        if account is None:
            raise LedgerValidationError(
                f"{account_no} is not a clearing account of {diff.channel.code}.", clearing_account_no=account_no
            )
        return account
    if diff.entry_id is not None:
        return Account.objects.get(pk=diff.entry.account_id)
    found = list(accounts[:2])
    if len(found) != 1:
        raise LedgerValidationError(
            f"{diff.channel.code} has {len(found) or 'no'} clearing accounts in {diff.currency}; name one.",
            channel=diff.channel.code,
        )
    return found[0]


def _propose(
    diff: Difference,
    *,
    user,
    kind: str,
    clearing: Account,
    counter: Account,
    direction: str,
    amount: Decimal,
    memo: str,
) -> DifferenceProposal:
    _unresolved(diff, "propose a posting")
    if diff.proposals.filter(status=ProposalStatus.PROPOSED).exists():
        raise ProposalPending(
            f"Difference {diff.pk} already has a proposal awaiting a decision.", difference_id=diff.pk
        )
    if counter.pk == clearing.pk:
        raise LedgerValidationError(
            "The counter account cannot be the clearing account.", counter_account_no=counter.account_no
        )
    # Refused now, when the proposer can still choose another account, not at
    # approval, when the posting service would refuse the same legs.
    if counter.entity_id != clearing.entity_id:
        raise CrossEntityPosting(
            f"{counter.account_no} belongs to another entity than the clearing account {clearing.account_no}; "
            f"an adjusting posting stays within one entity.",
            counter_account_no=counter.account_no,
        )
    if counter.currency != diff.currency:
        raise CurrencyMismatch(
            f"{counter.account_no} is a {counter.currency} account; the difference is in {diff.currency}.",
            counter_account_no=counter.account_no,
            currency=counter.currency,
        )
    expected_direction = "D" if diff.difference > 0 else "C"
    if diff.difference == 0 or direction != expected_direction or amount != abs(diff.difference):
        raise ProposalMismatch(
            f"Difference {diff.pk} is {diff.difference:+.2f}: the clearing leg must be "
            f"{expected_direction} {abs(diff.difference):.2f}, not {direction} {amount:.2f}.",
            difference=diff.difference,
            direction=direction,
            amount=amount,
        )
    proposal = DifferenceProposal.objects.create(
        difference=diff,
        kind=kind,
        clearing_account=clearing,
        direction=direction,
        amount=amount,
        counter_account=counter,
        memo=memo[:255],
        proposed_by=user,
    )
    proposal.request_no = f"recon-D{diff.pk}-P{proposal.pk}"
    proposal.save(update_fields=["request_no"])
    _event(
        diff,
        DifferenceEvent.Kind.PROPOSED,
        user=user,
        to_value=f"P{proposal.pk} {kind}",
        note=f"{direction} {clearing.account_no} {amount:.2f} / {counter.account_no}: {memo}",
    )
    return proposal


def adjustment_propose(
    *,
    difference_id: int,
    user: AbstractBaseUser,
    amount,
    direction: str,
    counter_account_no: str,
    memo: str,
    clearing_account_no: str | None = None,
) -> DifferenceProposal:
    """Propose an adjusting posting (调账): ``direction`` ``amount`` on the
    clearing account, the other side on ``counter_account_no``."""
    _require(user)
    memo = _required_note(memo, "An adjusting posting")
    direction = {"D": "D", "DEBIT": "D", "借": "D", "C": "C", "CREDIT": "C", "贷": "C"}.get(
        str(direction).strip().upper()
    )
    if direction is None:
        raise LedgerValidationError("direction must be debit or credit.", direction=direction)
    counter = account_get(account_no=counter_account_no)
    with transaction.atomic(durable=True):
        diff = _locked(difference_id)
        amount = to_amount(amount, diff.currency)
        return _propose(
            diff,
            user=user,
            kind=Resolution.ADJUSTING_POSTING,
            clearing=_clearing_account(diff, clearing_account_no),
            counter=counter,
            direction=direction,
            amount=amount,
            memo=memo,
        )


def suspense_account_for(*, entity, currency: str) -> Account:
    account_type = AccountType.objects.filter(code=SUSPENSE_TYPE, category=Category.INTERNAL).first()
    account = account_type and internal_account_for(entity=entity, account_type=account_type, currency=currency)
    if not account:
        raise SuspenseNotConfigured(
            f"Open one suspense account ({SUSPENSE_TYPE}) for {entity.code} in {currency}.",
            entity=entity.code,
            currency=currency,
        )
    return account


def write_off_propose(
    *, difference_id: int, user: AbstractBaseUser, memo: str, clearing_account_no: str | None = None
) -> DifferenceProposal:
    """Propose writing the difference off to the suspense account (核销挂账):
    the clearing account moves by the difference, suspense takes the other side."""
    _require(user)
    memo = _required_note(memo, "A write-off")
    with transaction.atomic(durable=True):
        diff = _locked(difference_id)
        _unresolved(diff, "propose a write-off")
        counter = suspense_account_for(entity=diff.channel.entity, currency=diff.currency)
        return _propose(
            diff,
            user=user,
            kind=Resolution.WRITE_OFF,
            clearing=_clearing_account(diff, clearing_account_no),
            counter=counter,
            direction="D" if diff.difference > 0 else "C",
            amount=abs(diff.difference),
            memo=memo,
        )


def _locked_proposal(proposal_id: int) -> tuple[Difference, DifferenceProposal]:
    difference_id = DifferenceProposal.objects.filter(pk=proposal_id).values_list("difference_id", flat=True).first()
    if difference_id is None:
        raise UnknownDifference(f"No proposal {proposal_id}.", proposal_id=proposal_id)
    diff = _locked(difference_id)
    proposal = (
        DifferenceProposal.objects.select_for_update(no_key=True)
        .select_related("clearing_account", "counter_account")
        .get(pk=proposal_id)
    )
    return diff, proposal


def proposal_approve(*, proposal_id: int, user: AbstractBaseUser, note: str = "") -> DifferenceProposal:
    """The checker's approval: posts the proposal and resolves the difference.
    Approving an approved proposal again answers with it (posted once)."""
    _require(user)
    with transaction.atomic(durable=True):
        diff, proposal = _locked_proposal(proposal_id)
        if proposal.status == ProposalStatus.APPROVED:
            proposal.replayed = True
            return proposal
        if proposal.status != ProposalStatus.PROPOSED:
            raise IllegalTransition(
                f"Proposal {proposal.pk} is {proposal.status}; it cannot be approved.",
                proposal_id=proposal.pk,
                from_status=proposal.status,
            )
        if proposal.proposed_by_id == user.pk:
            raise SamePerson(
                f"{user.get_username()} proposed P{proposal.pk}; another person must approve it.",
                proposal_id=proposal.pk,
            )
        _unresolved(diff, "approve a posting")
        other = "C" if proposal.direction == "D" else "D"
        opened = current_accounting_date(entity=diff.channel.entity)
        posting = posting_create(
            request_no=proposal.request_no,
            business_type="adjustment",
            source_system=SOURCE,
            legs=[
                Leg(proposal.clearing_account.account_no, proposal.direction, proposal.amount),
                Leg(proposal.counter_account.account_no, other, proposal.amount),
            ],
            posted_by=user.get_username(),
            currency=diff.currency,
            memo=f"D{diff.pk} {proposal.get_kind_display()}: {proposal.memo}",
            corrects_date=diff.recon_date if diff.recon_date < opened else None,
        )
        proposal.status, proposal.posting = ProposalStatus.APPROVED, posting
        proposal.decided_by, proposal.decided_at, proposal.decision_note = user, timezone.now(), note
        proposal.save(update_fields=["status", "posting", "decided_by", "decided_at", "decision_note"])
        _event(
            diff, DifferenceEvent.Kind.APPROVED, user=user, to_value=f"P{proposal.pk} posting {posting.pk}", note=note
        )
        diff.resolution_posting = posting
        _move(diff, RESOLVED, user=user, note=proposal.memo, resolution=proposal.kind)
        proposal.replayed = False
        return proposal


def proposal_reject(*, proposal_id: int, user: AbstractBaseUser, note: str) -> DifferenceProposal:
    """The checker refuses; the difference stays as it was and may get a new proposal.
    The proposer may withdraw their own proposal the same way."""
    _require(user)
    note = _required_note(note, "A rejection")
    with transaction.atomic(durable=True):
        diff, proposal = _locked_proposal(proposal_id)
        if proposal.status != ProposalStatus.PROPOSED:
            raise IllegalTransition(
                f"Proposal {proposal.pk} is {proposal.status}; it cannot be rejected.",
                proposal_id=proposal.pk,
                from_status=proposal.status,
            )
        proposal.status, proposal.decision_note, proposal.decided_at = ProposalStatus.REJECTED, note, timezone.now()
        # decided_by stays empty for a withdrawal by the proposer (four-eyes constraint)
        proposal.decided_by = None if proposal.proposed_by_id == user.pk else user
        proposal.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        _event(diff, DifferenceEvent.Kind.REJECTED, user=user, to_value=f"P{proposal.pk}", note=note)
        return proposal
