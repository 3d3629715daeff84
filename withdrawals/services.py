"""Withdrawal writes: request, review, payout, bank answers, cancellation.

Every function here is one transaction and moves a withdrawal along
``models.TRANSITIONS`` through ``_transition`` (the kernel's ``transition``),
which locks nothing itself but is only called with the withdrawal row
locked, and writes the history row. Lock order, everywhere: the withdrawal row, then (inside the posting
service) the accounts in id order, then the hold, so no two paths deadlock.

Money moves only through ``postings.services``: the request places a hold
for amount + fee, a paid instruction settles it (Dr member cash amount+fee /
Cr the paying bank's clearing account amount / Cr fee income fee), a
rejection or cancellation releases it. Each of those carries a request
number derived from the withdrawal, so a retried task or a duplicated bank
callback can never book twice.

Staff actions take the ``user`` and check its permission here, not only in
the views: the API and the admin call the same functions.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.kernel.errors import CurrencyMismatch, IdempotencyConflict, LedgerError, LedgerValidationError
from accounts.kernel.idempotency import canonical_amount, request_fingerprint, run_once
from accounts.kernel.metadata import clean_metadata, clean_trade_no, references_content
from accounts.kernel.money import Money, as_money, to_amount
from accounts.kernel.permissions import require_permission
from accounts.kernel.tasks import enqueue_on_commit, pending_args
from accounts.kernel.transitions import transition
from accounts.models import AccountType, Category
from accounts.selectors import account_get, internal_account_for
from accounts.services import luhn_check_digit
from postings.services import Leg, hold_place, hold_release, hold_settle

from . import gateways
from .exceptions import (
    IllegalTransition,
    InvalidCardNumber,
    PayoutOutcomeUnknown,
    SegregationOfDuties,
    UnresolvedBankAnswer,
    WithdrawalNotConfigured,
)
from .models import (
    TRANSITIONS,
    Approval,
    InstructionStatus,
    PayingBank,
    PayoutInstruction,
    Status,
    Withdrawal,
    WithdrawalEvent,
)
from .selectors import (
    TRANSMIT_CLAIM_SECONDS,
    fee_for,
    instructions_not_transmitted,
    review_verdict,
    withdrawal_get,
    withdrawals_review_overdue,
)

log = logging.getLogger(__name__)

SOURCE = "withdrawals"  # the source system of the ledger requests made here
SYSTEM = "system:auto-review"
# The tasks that follow a commit here, enqueued by name (accounts.kernel.tasks).
AUTO_REVIEW = "withdrawals.tasks.withdrawal_auto_review"
TRANSMIT = "withdrawals.tasks.payout_transmit"

PERM_REQUEST = "withdrawals.request_withdrawal"
PERM_REVIEW = "withdrawals.review_withdrawal"
PERM_PAY = "withdrawals.pay_withdrawal"
PERM_RESOLVE = "withdrawals.resolve_payout_flag"

BANK_PAID, BANK_NOT_PAID = "bank_paid", "bank_not_paid"


def _require(user: AbstractBaseUser, perm: str) -> None:
    require_permission(user, perm)


def _actor(user) -> str:
    return user.get_username() if user is not None else SYSTEM


def _locked(withdrawal_id) -> Withdrawal:
    withdrawal_get(withdrawal_id=withdrawal_id)  # a clear not_found before locking
    return (
        Withdrawal.objects.select_for_update(no_key=True, of=("self",))
        .select_related("account", "member", "entity", "hold")
        .get(pk=withdrawal_id)
    )


def _transition(
    withdrawal: Withdrawal,
    to_status: str,
    *,
    actor: str,
    reason: str = "",
    rule_codes: Iterable[str] = (),
    bank_ref: str = "",
    instruction: PayoutInstruction | None = None,
    **changes,
) -> Withdrawal:
    transition(
        withdrawal,
        to_status,
        table=TRANSITIONS,
        what=f"Withdrawal {withdrawal.id}",
        withdrawal_id=withdrawal.id,
        changes=changes,
        history=lambda from_status, to_status: WithdrawalEvent.objects.create(
            withdrawal=withdrawal,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            reason=reason[:255],
            rule_codes=list(rule_codes),
            bank_ref=bank_ref,
            instruction=instruction,
        ),
    )
    return withdrawal


# ------------------------------------------------------------- request ----


def luhn_valid(number: str) -> bool:
    return luhn_check_digit(number[:-1]) == number[-1:]


def _clean_card(card_number: str) -> str:
    number = str(card_number or "").replace(" ", "").replace("-", "")
    # isascii: str.isdigit() also accepts "²" or full-width "６", which int() then
    # refuses (a raw ValueError) or which would be stored as the card number.
    if not (number.isascii() and number.isdigit()) or not 12 <= len(number) <= 19:
        raise InvalidCardNumber("A bank card number has 12 to 19 digits.", card_number="…" + number[-4:])
    if not luhn_valid(number):
        raise InvalidCardNumber(
            "The card number fails its check digit; please check it.", card_number="…" + number[-4:]
        )
    return number


def mask_card(number: str) -> str:
    return f"{number[:4]} **** {number[-4:]}"


def _fee_account(entity, currency: str):
    fee_type = AccountType.objects.filter(code="FEE_INCOME").first()
    account = fee_type and internal_account_for(entity=entity, account_type=fee_type, currency=currency)
    if account is None:
        raise WithdrawalNotConfigured(
            f"Entity {entity.code} has no single fee income account in {currency}.",
            entity=entity.code,
            currency=currency,
        )
    return account


def withdrawal_request(
    *,
    account_no: str,
    amount,
    card_holder: str,
    card_bank: str,
    card_number: str,
    request_no: str,
    source_system: str = "member",
    created_by: AbstractBaseUser | None = None,
    trade_no: str | None = None,
    metadata: dict | None = None,
) -> Withdrawal:
    """A member asks to withdraw: amount + fee are frozen in the same
    transaction that records the request. ``created_by`` is the staff member
    who took it by phone; None when the member asked through the app. The
    same request again returns the first one (``replayed``). ``trade_no``
    and ``metadata`` go to the hold, and from it to the settlement posting."""
    if created_by is not None:
        _require(created_by, PERM_REQUEST)
    trade_no, metadata = clean_trade_no(trade_no), clean_metadata(metadata)
    account = account_get(account_no=account_no)
    if account.member_id is None or account.category != Category.LIABILITY:
        raise LedgerValidationError("Withdrawals are paid from a member's cash account.", account_no=account_no)
    if isinstance(amount, Money) and amount.currency.code != account.currency:
        # to_amount reads only a Money's number: 100 USD must not become 100 CNY.
        raise CurrencyMismatch(
            f"The amount is in {amount.currency.code}; account {account_no} is in {account.currency}.",
            account_no=account_no,
        )
    value = to_amount(amount, account.currency)
    number = _clean_card(card_number)
    card_holder, card_bank = (card_holder or "").strip(), (card_bank or "").strip()
    if not card_holder or not card_bank:
        raise LedgerValidationError("The card holder's name and the bank are required.")
    fee, fee_rule = fee_for(amount=value, currency=account.currency)
    if fee:
        _fee_account(account.entity, account.currency)
    fingerprint = request_fingerprint(
        op="withdrawal",
        account_no=account_no,
        amount=canonical_amount(value),
        card_holder=card_holder,
        card_bank=card_bank,
        card_number=number,
        **references_content(metadata=metadata, trade_no=trade_no),
    )

    replayed_by_race = False
    hold_request_no = f"{source_system}:{request_no}"
    if len(hold_request_no) > 64:
        # Cut to 64, two long request numbers sharing their first 57 characters
        # would share one hold key; a digest (64 hex digits, no colon) keeps them apart.
        hold_request_no = hashlib.sha256(hold_request_no.encode()).hexdigest()

    def write() -> Withdrawal:
        nonlocal replayed_by_race
        hold = hold_place(
            account_no=account_no,
            amount=value + fee,
            reason=f"withdrawal {source_system}/{request_no}",
            request_no=hold_request_no,
            actor=_actor(created_by),
            source_system=SOURCE,
            trade_no=trade_no,
            metadata=metadata,
        )
        if hold.replayed:
            # A concurrent first attempt won the hold's unique key and has
            # committed its withdrawal: answer with that one.
            existing = Withdrawal.objects.get(hold=hold)
            if existing.fingerprint != fingerprint:
                raise IdempotencyConflict(
                    f"Request {request_no} was already used for another withdrawal.", request_no=request_no
                )
            replayed_by_race = True
            return existing
        withdrawal = Withdrawal.objects.create(
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            account=account,
            member_id=account.member_id,
            entity=account.entity,
            currency=account.currency,
            amount=value,
            fee=fee,
            fee_rule=fee_rule,
            fee_rule_version=fee_rule.version if fee_rule else None,
            card_holder=card_holder,
            card_bank=card_bank,
            card_number=number,
            card_masked=mask_card(number),
            hold=hold,
            created_by=created_by,
            trade_no=trade_no,
            metadata=metadata,
        )
        WithdrawalEvent.objects.create(
            withdrawal=withdrawal,
            from_status="",
            to_status=Status.REQUESTED,
            actor=_actor(created_by) if created_by else f"member:{account.member.member_no}",
            reason=f"amount {as_money(value, account.currency)} + fee {as_money(fee, account.currency)} frozen",
        )
        enqueue_on_commit(AUTO_REVIEW, withdrawal.id)
        return withdrawal

    with transaction.atomic(durable=True):  # the hold, the request and its history row, or none
        withdrawal = run_once(
            Withdrawal,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            what="withdrawal",
            write=write,
        )
    withdrawal.replayed = withdrawal.replayed or replayed_by_race
    return withdrawal


# -------------------------------------------------------------- review ----


def withdrawal_auto_review(*, withdrawal_id: int) -> Withdrawal:
    """Run the review rules on a new request: approved when none fires, else
    to manual review; the history row names every rule that fired. Safe to
    run twice: a request already reviewed is returned as it is."""
    with transaction.atomic(durable=True):
        withdrawal = _locked(withdrawal_id)
        if withdrawal.status != Status.REQUESTED:
            return withdrawal
        verdict = review_verdict(withdrawal)
        if verdict.manual:
            return _transition(
                withdrawal,
                Status.IN_REVIEW,
                actor=SYSTEM,
                rule_codes=verdict.rule_codes,
                reason="rules fired: " + ", ".join(verdict.rule_codes),
                review_rules=verdict.rule_codes,
                approvals_required=verdict.approvals_required,
            )
        return _transition(withdrawal, Status.APPROVED, actor=SYSTEM, reason="no review rule fired", review_rules=[])


def withdrawal_approve(*, withdrawal_id: int, user: AbstractBaseUser, reason: str = "") -> Withdrawal:
    """A reviewer's approval. One approval approves, unless the request needs
    two: then the first keeps it in review and the second, by someone else,
    approves it."""
    _require(user, PERM_REVIEW)
    with transaction.atomic(durable=True):
        withdrawal = _locked(withdrawal_id)
        if withdrawal.status != Status.IN_REVIEW:
            raise IllegalTransition(
                f"Withdrawal {withdrawal.id} is {withdrawal.status}, not in review.",
                withdrawal_id=withdrawal.id,
                from_status=withdrawal.status,
            )
        if withdrawal.created_by_id == user.pk:
            raise SegregationOfDuties(
                "You took this request; another reviewer must approve it.", withdrawal_id=withdrawal.id
            )
        if withdrawal.approvals.filter(reviewer=user).exists():
            raise SegregationOfDuties(
                "You have approved this request already; the second approval must come from another reviewer.",
                withdrawal_id=withdrawal.id,
            )
        Approval.objects.create(withdrawal=withdrawal, reviewer=user, reason=reason[:255])
        given = withdrawal.approvals.count()
        target = Status.APPROVED if given >= withdrawal.approvals_required else Status.IN_REVIEW
        note = f"approval {given} of {withdrawal.approvals_required}" + (f": {reason}" if reason else "")
        return _transition(withdrawal, target, actor=_actor(user), reason=note)


def _refuse_if_bank_may_have_paid(withdrawal: Withdrawal, doing: str) -> None:
    """Paying again or cancelling is refused while the bank may have paid:
    an open contradictory-answer flag (finance resolves it) or an instruction
    sent without an answer (a query must find it refused). Called with the
    withdrawal row locked, which every answer and resolution also takes."""
    flagged = withdrawal.instructions.exclude(needs_attention="").filter(attention_resolved_at__isnull=True).first()
    if flagged is not None:
        raise UnresolvedBankAnswer(
            f"Withdrawal {withdrawal.id} cannot be {doing}: the bank gave contradictory answers on "
            f"{flagged.instruction_no} ({flagged.needs_attention}); finance must resolve it against the bank statement.",
            withdrawal_id=withdrawal.id,
            instruction_no=flagged.instruction_no,
        )
    in_flight = withdrawal.instructions.filter(status=InstructionStatus.SENT).first()
    if in_flight is not None:
        raise PayoutOutcomeUnknown(
            f"Withdrawal {withdrawal.id} cannot be {doing}: the bank has not answered {in_flight.instruction_no}; "
            "query it and wait for a refusal first.",
            withdrawal_id=withdrawal.id,
            instruction_no=in_flight.instruction_no,
        )


def _close_and_release(withdrawal_id: int, to_status: str, *, user, reason: str, missing_reason: str) -> Withdrawal:
    reason = (reason or "").strip()
    if not reason:
        raise LedgerValidationError(missing_reason, reason=reason)
    with transaction.atomic(durable=True):
        withdrawal = _locked(withdrawal_id)
        _refuse_if_bank_may_have_paid(withdrawal, to_status)
        _transition(withdrawal, to_status, actor=_actor(user), reason=reason, closing_reason=reason[:255])
        hold_release(
            hold_id=withdrawal.hold_id, request_no=f"W{withdrawal.id}-release", actor=_actor(user), source_system=SOURCE
        )
        return withdrawal


def withdrawal_reject(*, withdrawal_id: int, user: AbstractBaseUser, reason: str) -> Withdrawal:
    """Reject with a reason the member will read; the hold is released."""
    _require(user, PERM_REVIEW)
    return _close_and_release(
        withdrawal_id, Status.REJECTED, user=user, reason=reason, missing_reason="A rejection needs a reason."
    )


def _ids(withdrawal_ids: Iterable) -> list[int]:
    try:
        return sorted({int(i) for i in withdrawal_ids})
    except (TypeError, ValueError):
        raise LedgerValidationError("Withdrawal ids are whole numbers.", withdrawal_ids=withdrawal_ids) from None


@dataclass(frozen=True)
class BulkResult:
    done: list[int]
    refused: dict[int, str]  # withdrawal id -> why


def withdrawals_approve_bulk(*, withdrawal_ids: Iterable[int], user: AbstractBaseUser, reason: str = "") -> BulkResult:
    """Approve several small requests at once, each in its own transaction.
    Requests that need two approvals or exceed ``WITHDRAWAL_BULK_APPROVE_MAX``
    are refused here: they deserve a look of their own."""
    _require(user, PERM_REVIEW)
    limit = Decimal(settings.WITHDRAWAL_BULK_APPROVE_MAX)
    done, refused = [], {}
    for withdrawal_id in _ids(withdrawal_ids):
        try:
            # Inside the try: an unknown id is one refusal, not the end of the batch.
            withdrawal = withdrawal_get(withdrawal_id=withdrawal_id)
            if withdrawal.approvals_required > 1 or withdrawal.amount > limit:
                refused[withdrawal_id] = f"above {limit} or needs two approvals: review it on its own"
                continue
            withdrawal_approve(withdrawal_id=withdrawal_id, user=user, reason=reason or "bulk approval")
        except LedgerError as exc:
            refused[withdrawal_id] = exc.message
        else:
            done.append(withdrawal_id)
    return BulkResult(done, refused)


# -------------------------------------------------------------- payout ----


def payment_order(instruction: PayoutInstruction) -> gateways.PaymentOrder:
    w = instruction.withdrawal
    return gateways.PaymentOrder(
        instruction_no=instruction.instruction_no,
        attempt=instruction.attempt,
        bank_code=instruction.bank.code,
        amount=w.amount,
        currency=w.currency,
        card_holder=w.card_holder,
        card_bank=w.card_bank,
        card_number=w.card_number,
    )


def payout_send(*, withdrawal_id: int, bank: PayingBank, user: AbstractBaseUser) -> PayoutInstruction:
    """A cashier pays an approved request (or pays a failed one again) through
    a bank. The instruction is recorded with the withdrawal locked, so two
    cashiers at once pay it once; it reaches the bank after the commit."""
    _require(user, PERM_PAY)
    if not bank.active:
        raise LedgerValidationError(f"Paying bank {bank.code} is not active.", bank=bank.code)
    if bank.gateway not in settings.BANK_GATEWAYS:
        # Checked here, not first in the transmit task after the commit (a KeyError there).
        raise WithdrawalNotConfigured(
            f"Paying bank {bank.code} names gateway {bank.gateway!r}, which is not configured.",
            bank=bank.code,
            gateway=bank.gateway,
        )
    with transaction.atomic(durable=True):
        withdrawal = _locked(withdrawal_id)
        if (
            bank.clearing_account.currency != withdrawal.currency
            or bank.clearing_account.entity_id != withdrawal.entity_id
        ):
            raise LedgerValidationError(
                f"{bank.name} pays {bank.clearing_account.currency} for entity {bank.clearing_account.entity.code}; "
                f"this withdrawal is {withdrawal.currency} of {withdrawal.entity.code}.",
                bank=bank.code,
            )
        _refuse_if_bank_may_have_paid(withdrawal, "paid again")
        if Status.PAYING not in TRANSITIONS[withdrawal.status]:
            raise IllegalTransition(
                f"Withdrawal {withdrawal.id} is {withdrawal.status}; it cannot be paid.",
                withdrawal_id=withdrawal.id,
                from_status=withdrawal.status,
            )
        attempt = withdrawal.instructions.count() + 1
        instruction = PayoutInstruction.objects.create(
            instruction_no=f"PO{withdrawal.id:010d}{attempt:02d}",
            withdrawal=withdrawal,
            bank=bank,
            attempt=attempt,
            sent_by=_actor(user),
        )
        _transition(
            withdrawal,
            Status.PAYING,
            actor=_actor(user),
            instruction=instruction,
            reason=f"attempt {attempt} through {bank.code}",
        )
        enqueue_on_commit(TRANSMIT, instruction.id)
        return instruction


@dataclass(frozen=True)
class BatchResult:
    sent: list[PayoutInstruction]
    refused: dict[int, str]


def payout_send_batch(*, withdrawal_ids: Iterable[int], bank: PayingBank, user: AbstractBaseUser) -> BatchResult:
    """Pay several requests through one bank; each is its own transaction, so
    one refusal does not hold back the others."""
    _require(user, PERM_PAY)
    sent, refused = [], {}
    for withdrawal_id in _ids(withdrawal_ids):
        try:
            sent.append(payout_send(withdrawal_id=withdrawal_id, bank=bank, user=user))
        except LedgerError as exc:
            refused[withdrawal_id] = exc.message
    return BatchResult(sent, refused)


def payout_transmit(*, instruction_id: int) -> PayoutInstruction:
    """Hand a recorded instruction to its bank's gateway, with no database
    transaction open while the bank is called, so a slow bank holds no lock:

    1. claim: the instruction is marked as transmitting (``transmitting_at``)
       and committed; a run that finds it claimed, acknowledged (``bank_ref``)
       or answered does nothing, so two runs of the task (a retry racing the
       original) hand the bank one instruction, once;
    2. call the bank;
    3. record its reference in a new transaction.

    A bank that could not be reached gives the claim back (the instruction
    stays in flight, sent again by a retry or settled by the periodic query).
    A claim whose run died between 1 and 3 is taken over after
    ``TRANSMIT_CLAIM_SECONDS``: the bank dedupes an instruction by its number.
    """
    with transaction.atomic(durable=True):
        instruction = (
            PayoutInstruction.objects.select_for_update(no_key=True, of=("self",))
            .select_related("withdrawal", "bank")
            .get(pk=instruction_id)
        )
        now = timezone.now()
        claimed = instruction.transmitting_at is not None and (
            now - instruction.transmitting_at < timedelta(seconds=TRANSMIT_CLAIM_SECONDS)
        )
        if instruction.bank_ref or instruction.status != InstructionStatus.SENT or claimed:
            return instruction
        instruction.transmitting_at = now
        instruction.save(update_fields=["transmitting_at"])
    gateway = gateways.gateway_for(instruction.bank.gateway)
    try:
        bank_ref = gateway.send(payment_order(instruction))
    except gateways.GatewayUnavailable as exc:
        log.warning("bank %s unreachable for %s: %s", instruction.bank.code, instruction.instruction_no, exc)
        PayoutInstruction.objects.filter(pk=instruction.pk, transmitting_at=now).update(transmitting_at=None)
        instruction.refresh_from_db()
        return instruction
    with transaction.atomic(durable=True):
        PayoutInstruction.objects.filter(pk=instruction.pk, bank_ref="").update(bank_ref=bank_ref[:64])
    instruction.refresh_from_db()
    return instruction


def payout_answer_record(
    *, instruction_no: str, outcome: str, bank_ref: str = "", reason: str = "", source: str = "callback"
) -> PayoutInstruction:
    """The bank's answer to an instruction, by callback or query. The first
    final answer is applied: paid settles the hold, refused fails the
    withdrawal. A repeated answer is only counted. An answer that contradicts
    the first, or says paid after the withdrawal moved on, settles nothing
    and is flagged for finance (``needs_attention``)."""
    if outcome not in {gateways.SUCCEEDED, gateways.FAILED, gateways.PROCESSING}:
        raise LedgerValidationError(f"Unknown bank outcome {outcome!r}.", outcome=outcome)
    actor = f"bank:{source}"
    try:
        withdrawal_id = PayoutInstruction.objects.values_list("withdrawal_id", flat=True).get(
            instruction_no=instruction_no
        )
    except PayoutInstruction.DoesNotExist:
        raise LedgerValidationError(f"No payout instruction {instruction_no}.", instruction_no=instruction_no) from None
    with transaction.atomic(durable=True):
        withdrawal = _locked(withdrawal_id)
        instruction = (
            PayoutInstruction.objects.select_for_update(no_key=True, of=("self",))
            .select_related("bank")
            .get(instruction_no=instruction_no)
        )
        now = timezone.now()
        if outcome == gateways.PROCESSING:
            instruction.last_queried_at = now
            instruction.save(update_fields=["last_queried_at"])
            return instruction
        if instruction.status != InstructionStatus.SENT:
            if instruction.status == outcome:
                instruction.duplicate_answers += 1
                instruction.save(update_fields=["duplicate_answers"])
            else:
                instruction.needs_attention = (
                    f"bank answered {outcome} by {source} at {now:%Y-%m-%d %H:%M:%S} after {instruction.status}; "
                    f"withdrawal is {withdrawal.status}"
                )[:255]
                # A new contradiction reopens a flag finance may have resolved.
                instruction.attention_resolution = instruction.attention_resolved_by = ""
                instruction.attention_resolution_reason = ""
                instruction.attention_resolved_at = None
                instruction.save(
                    update_fields=[
                        "needs_attention",
                        "attention_resolution",
                        "attention_resolved_by",
                        "attention_resolved_at",
                        "attention_resolution_reason",
                    ]
                )
                log.error("payout %s: contradictory bank answer: %s", instruction_no, instruction.needs_attention)
            return instruction
        instruction.status = outcome
        instruction.bank_ref = bank_ref[:64] or instruction.bank_ref
        instruction.failure_reason = reason[:255] if outcome == gateways.FAILED else ""
        instruction.answered_at = now
        instruction.save(update_fields=["status", "bank_ref", "failure_reason", "answered_at"])
        if outcome == gateways.SUCCEEDED:
            _record_outcome(withdrawal, instruction, paid=True, actor=actor, reason=f"paid by {instruction.bank.code}")
        else:
            _record_outcome(withdrawal, instruction, paid=False, actor=actor, reason=reason or "refused by the bank")
        return instruction


def _record_outcome(withdrawal: Withdrawal, instruction: PayoutInstruction, *, paid: bool, actor: str, reason: str):
    """The bank's answer (or finance's reading of its statement) on the
    withdrawal: paid settles the freeze and moves it to paid; not paid moves
    it to failed, to be paid again or cancelled."""
    settlement = {"settlement": _settle(withdrawal, instruction, actor=actor)} if paid else {}
    _transition(
        withdrawal,
        Status.PAID if paid else Status.FAILED,
        actor=actor,
        bank_ref=instruction.bank_ref,
        instruction=instruction,
        reason=reason,
        **settlement,
    )


def _settle(withdrawal: Withdrawal, instruction: PayoutInstruction, *, actor: str):
    legs = [Leg.credit(instruction.bank.clearing_account.account_no, withdrawal.amount)]
    if withdrawal.fee:
        legs.append(Leg.credit(_fee_account(withdrawal.entity, withdrawal.currency).account_no, withdrawal.fee))
    return hold_settle(
        hold_id=withdrawal.hold_id,
        request_no=f"W{withdrawal.id}-settle",
        amount=withdrawal.total,
        business_type="withdrawal",
        actor=actor,
        counter_legs=legs,
        source_system=SOURCE,
        memo=f"withdrawal W{withdrawal.id} to {withdrawal.card_masked}",
        external_ref=instruction.bank_ref,
    )


def payout_query(*, instruction_id: int, user: AbstractBaseUser | None = None) -> PayoutInstruction:
    """Ask the bank about an instruction it has not answered: by the periodic
    job (no user) or a cashier's "query now"."""
    if user is not None:
        _require(user, PERM_PAY)
    instruction = PayoutInstruction.objects.select_related("withdrawal", "bank").get(pk=instruction_id)
    if instruction.status != InstructionStatus.SENT:
        return instruction
    answer = gateways.gateway_for(instruction.bank.gateway).query(payment_order(instruction))
    return payout_answer_record(
        instruction_no=instruction.instruction_no,
        outcome=answer.outcome,
        bank_ref=answer.bank_ref,
        reason=answer.reason,
        source="query",
    )


def payouts_query_unanswered() -> int:
    """The periodic job: query every instruction unanswered for longer than
    ``PAYOUT_QUERY_AFTER_SECONDS``. Returns how many were answered.

    An instruction never handed to its bank (no transmission claimed, no
    bank reference: its transmit task was lost or found the bank unreachable)
    is not queried: no bank can answer for an order it never received, and
    the follow-up sweep transmits it (``withdrawal_followups_requeue``)."""
    cutoff = timezone.now() - timedelta(seconds=settings.PAYOUT_QUERY_AFTER_SECONDS)
    answered = 0
    for instruction_id in (
        PayoutInstruction.objects.filter(status=InstructionStatus.SENT, sent_at__lt=cutoff)
        .exclude(transmitting_at__isnull=True, bank_ref="")
        .values_list("id", flat=True)
    ):
        try:
            if payout_query(instruction_id=instruction_id).status != InstructionStatus.SENT:
                answered += 1
        except gateways.GatewayUnavailable:
            log.warning("query of instruction %s: bank unreachable", instruction_id)
        except LedgerError as exc:
            # An answer the ledger cannot book (e.g. a blocked clearing account)
            # must not hold back the rest; it stays in flight, then shows as stuck.
            log.error("query of instruction %s: answer not booked: %s", instruction_id, exc)
    return answered


@dataclass(frozen=True)
class Requeued:
    reviews: int
    transmissions: int


def withdrawal_followups_requeue() -> Requeued:
    """The periodic follow-up sweep: queue again the automatic review of every
    request still waiting for it, and the transmission of every instruction
    never handed to its bank, past ``FOLLOWUP_REQUEUE_AFTER_SECONDS`` (a lost
    task, or one whose publish failed). Both tasks are safe to run twice. One
    still waiting in the task outbox is left to it, so an outage does not
    pile up copies of the same task."""
    waiting = pending_args(AUTO_REVIEW)
    reviews = [pk for pk in withdrawals_review_overdue().values_list("id", flat=True) if (pk,) not in waiting]
    waiting = pending_args(TRANSMIT)
    transmissions = [pk for pk in instructions_not_transmitted().values_list("id", flat=True) if (pk,) not in waiting]
    for pk in reviews:
        enqueue_on_commit(AUTO_REVIEW, pk)
    for pk in transmissions:
        enqueue_on_commit(TRANSMIT, pk)
    if reviews or transmissions:
        log.warning(
            "follow-up sweep: queued again %d reviews %s, %d transmissions %s",
            len(reviews),
            reviews,
            len(transmissions),
            transmissions,
        )
    return Requeued(len(reviews), len(transmissions))


def payout_cancel(*, withdrawal_id: int, user: AbstractBaseUser, reason: str) -> Withdrawal:
    """Give up on paying: the hold is released and the reason recorded for
    the member to fix (usually the card)."""
    _require(user, PERM_PAY)
    return _close_and_release(
        withdrawal_id,
        Status.CANCELLED,
        user=user,
        reason=reason,
        missing_reason="A cancellation needs a reason the member can act on.",
    )


def withdrawal_flag_resolve(*, instruction_id: int, outcome: str, reason: str, user: AbstractBaseUser) -> Withdrawal:
    """Finance resolves a contradictory bank answer on a failed withdrawal's
    instruction, after checking the bank's statement:

    - ``bank_paid``: the money left; the frozen amount + fee is settled as
      paid (once: the settlement's request number is the withdrawal's), and
      the withdrawal becomes paid;
    - ``bank_not_paid``: the money did not leave; the flag is closed and the
      withdrawal stays failed, to be paid again or cancelled.

    Who and why are kept on the instruction and in the withdrawal's history.
    A flag on a withdrawal that is not failed (paid, or cancelled with its
    hold released) is not resolved here."""
    require_permission(user, PERM_RESOLVE, doing="resolve a contradictory bank answer")
    if outcome not in {BANK_PAID, BANK_NOT_PAID}:
        raise LedgerValidationError(f"Outcome is {BANK_PAID} or {BANK_NOT_PAID}, not {outcome!r}.", outcome=outcome)
    reason = (reason or "").strip()
    if not reason:
        raise LedgerValidationError("A resolution needs a reason (the bank statement line).", reason=reason)
    try:
        withdrawal_id = PayoutInstruction.objects.values_list("withdrawal_id", flat=True).get(pk=instruction_id)
    except (PayoutInstruction.DoesNotExist, ValueError, TypeError):
        raise LedgerValidationError(f"No payout instruction {instruction_id}.", instruction_id=instruction_id) from None
    actor = _actor(user)
    with transaction.atomic(durable=True):
        withdrawal = _locked(withdrawal_id)
        instruction = (
            PayoutInstruction.objects.select_for_update(no_key=True, of=("self",))
            .select_related("bank")
            .get(pk=instruction_id)
        )
        if not instruction.needs_attention or instruction.attention_resolved_at is not None:
            raise LedgerValidationError(
                f"Instruction {instruction.instruction_no} has no open flag to resolve.",
                instruction_no=instruction.instruction_no,
            )
        if withdrawal.status != Status.FAILED:
            raise IllegalTransition(
                f"Withdrawal {withdrawal.id} is {withdrawal.status}; only a failed withdrawal's flag is resolved here.",
                withdrawal_id=withdrawal.id,
                from_status=withdrawal.status,
            )
        note = f"finance: {instruction.instruction_no} {outcome}: {reason}"
        _record_outcome(withdrawal, instruction, paid=outcome == BANK_PAID, actor=actor, reason=note)
        instruction.attention_resolution = outcome
        instruction.attention_resolved_by = actor
        instruction.attention_resolved_at = timezone.now()
        instruction.attention_resolution_reason = reason[:255]
        instruction.save(
            update_fields=[
                "attention_resolution",
                "attention_resolved_by",
                "attention_resolved_at",
                "attention_resolution_reason",
            ]
        )
        return withdrawal
