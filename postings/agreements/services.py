"""Agreements (代扣协议) and the debits taken under them.

Design overview
---------------
An agreement is signed by the calling business system (``agreement_sign``,
idempotent by its request number, its agreement number unique per system):
the payee may debit the payer's cash account for one purpose, within a
maximum per debit and per period (day, week or month), from ``valid_from``
to ``valid_to``. It is suspended, resumed or revoked at the member's request
(the API) or by finance staff, always with a reason for a suspension or a
revocation; it expires by the beat job once its last day is past. Every
step is a history row (AgreementEvent) with who did it.

The one way to take money under an agreement is ``agreement_debit`` (the
API's POST /agreements/{id}/debits and the scheduled debits call it; so does
any service, e.g. the repayment of a bill)::

    agreement_debit(agreement_id=A, amount=X, purpose=P, request_no=R, actor=..., source_system=...)

In one transaction it locks the agreement's row (FOR NO KEY UPDATE), then
the payer's and the payee's real-time rows in id order (the order every
posting locks them in, so no deadlock with a repayment on the same account);
checks the agreement covers the debit (active, the open accounting day within
its validity, the purpose, the limit per debit and what is left of the
period's); freezes the amount on the payer (hold_place) and settles the hold
to the payee (hold_settle, business type ``agreement_debit``: Dr payer /
Cr payee); and writes the DebitAttempt that links the posting to the
agreement. Debits of one agreement therefore run one after another, each
seeing the ones before it: the period's limit holds however many run at
once. PostgreSQL checks the same at COMMIT for every agreement_debit
posting, whoever writes it (postings/agreements/sql/agreements.sql).

Short of funds, a debit takes what is available when partial debits are
allowed (for the call, or by the agreement) and the rest is the caller's
(or, for a scheduled debit, the next retry's); else nothing. A refused
debit (no_agreement, agreement_limit_exceeded, insufficient_funds,
account_blocked, ...) raises its LedgerError after recording the attempt
and its code in a transaction of its own (inside a caller's transaction, a
savepoint of it).

Idempotency: the request number of a debit is the settlement posting's
(``GET /postings/by-request/{source_system}/{R}`` finds it); the same number
again answers the first attempt (``attempt.replayed``) and takes nothing; a
refused debit does not use its number up, so a retry after a top-up is a new
attempt. Scheduled debits number theirs ``sched-I<instruction>-<n>``.

Scheduled debits: a weekly or monthly agreement gets a DebitInstruction for
each due day (``instructions_make_due``); ``debits_run_due`` (beat) takes
each open instruction whose day has come, in a transaction of its own per
instruction (SKIP LOCKED, so two runs never take one twice), and schedules
what is left ``retry_every_days`` later, up to ``max_retries`` retries, after
which the instruction is given up (failed). Revoking or expiring an
agreement cancels its open instructions; a suspended one's are attempted,
refused (no_agreement) and retried on schedule.
"""

from __future__ import annotations

import calendar
import logging
import uuid
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.exceptions import InsufficientFunds
from accounts.kernel.errors import IdempotencyConflict, LedgerError, LedgerValidationError
from accounts.kernel.idempotency import canonical_amount, check_request_no, replay, request_fingerprint, run_once
from accounts.kernel.money import currency_places, to_amount
from accounts.kernel.permissions import require_permission
from accounts.models import Account, Category, PostingMode
from accounts.selectors import account_get
from postings.exceptions import NoAgreement, SameAccount, UnknownAgreement
from postings.models import BusinessType
from postings.selectors import current_accounting_date
from postings.services import DEFAULT_SOURCE, hold_place, hold_settle

from .models import (
    AGREEMENT_TRANSITIONS,
    CREDIT_REPAYMENT_PURPOSE,
    Agreement,
    AgreementEvent,
    AgreementStatus,
    DebitAttempt,
    DebitInstruction,
    Frequency,
    InstructionStatus,
    LimitPeriod,
    Outcome,
    Repay,
)
from .selectors import covering_refusal, period_start

log = logging.getLogger(__name__)

PERM_CHANGE_STATUS = "agreements.change_agreement_status"
SCHEDULE_SOURCE = "ledger"
SCHEDULE_ACTOR = "system:agreement-schedule"
EXPIRY_ACTOR = "system:agreement-expiry"
MAX_RETRIES = 30
MAX_RETRY_DAYS = 31


# ------------------------------------------------------------------ sign ----


def _text(value, name: str, *, max_length: int, required: bool = True) -> str:
    value = (value or "").strip() if isinstance(value, str) else value
    if value is None or value == "":
        if required:
            raise LedgerValidationError(f"{name} is required.", **{name: "required"})
        return ""
    if not isinstance(value, str) or len(value) > max_length:
        raise LedgerValidationError(f"{name} is text of at most {max_length} characters.", **{name: value})
    return value


def _whole(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LedgerValidationError(f"{name} is a whole number from {low} to {high}.", **{name: value})
    return value


def _schedule(frequency: str, schedule_day, scheduled_amount, currency: str) -> tuple[int | None, Decimal | None]:
    if frequency not in Frequency.values:
        raise LedgerValidationError(f"frequency is one of {', '.join(Frequency.values)}.", frequency=frequency)
    if frequency == Frequency.ON_DEMAND:
        if schedule_day is not None or scheduled_amount is not None:
            raise LedgerValidationError(
                "An on-demand agreement has no schedule_day or scheduled_amount.", frequency=frequency
            )
        return None, None
    high = 7 if frequency == Frequency.WEEKLY else 31
    day = _whole(schedule_day, "schedule_day", 1, high)
    if scheduled_amount is None:
        raise LedgerValidationError("A scheduled agreement needs scheduled_amount.", scheduled_amount="required")
    return day, to_amount(scheduled_amount, currency, field="scheduled_amount")


def _repay(purpose: str, repay) -> str:
    if purpose != CREDIT_REPAYMENT_PURPOSE:
        if repay not in (None, ""):
            raise LedgerValidationError(
                f"repay is for a {CREDIT_REPAYMENT_PURPOSE} agreement, not {purpose!r}.", repay=repay
            )
        return ""
    if repay in (None, ""):
        return Repay.FULL
    if repay not in Repay.values:
        raise LedgerValidationError(f"repay is one of {', '.join(Repay.values)}.", repay=repay)
    return repay


def agreement_sign(
    *,
    agreement_no: str,
    payer_account_no: str,
    payee_account_no: str,
    purpose: str,
    max_per_debit,
    max_per_period,
    request_no: str,
    actor: str,
    source_system: str = DEFAULT_SOURCE,
    limit_period: str = LimitPeriod.MONTH,
    frequency: str = Frequency.ON_DEMAND,
    schedule_day: int | None = None,
    scheduled_amount=None,
    allow_partial: bool = False,
    retry_every_days: int = 1,
    max_retries: int = 3,
    valid_from: date | None = None,
    valid_to: date | None = None,
    repay: str | None = None,
) -> Agreement:
    """Sign an agreement (签约): ``payee`` may debit the member's cash
    account ``payer`` for ``purpose`` within the limits, from ``valid_from``
    (default: the open accounting day) to ``valid_to`` (default: no end).
    ``agreement.replayed`` tells whether the request was made before.
    ``repay`` (purpose credit_repayment only, default full): what the debit
    on each bill's due date takes, the amount due or the minimum
    (postings.credit.services.bills_autorepay_due)."""
    agreement_no = _text(agreement_no, "agreement_no", max_length=64)
    purpose = _text(purpose, "purpose", max_length=64)
    repay = _repay(purpose, repay)
    if limit_period not in LimitPeriod.values:
        raise LedgerValidationError(
            f"limit_period is one of {', '.join(LimitPeriod.values)}.", limit_period=limit_period
        )
    if not isinstance(allow_partial, bool):
        raise LedgerValidationError("allow_partial is true or false.", allow_partial=allow_partial)
    retry_every_days = _whole(retry_every_days, "retry_every_days", 1, MAX_RETRY_DAYS)
    max_retries = _whole(max_retries, "max_retries", 0, MAX_RETRIES)
    fingerprint = request_fingerprint(
        op="agreement_sign",
        agreement_no=agreement_no,
        payer=payer_account_no,
        payee=payee_account_no,
        purpose=purpose,
        max_per_debit=canonical_amount(max_per_debit),
        max_per_period=canonical_amount(max_per_period),
        limit_period=limit_period,
        frequency=frequency,
        schedule_day=schedule_day,
        scheduled_amount=None if scheduled_amount is None else canonical_amount(scheduled_amount),
        allow_partial=allow_partial,
        retry_every_days=retry_every_days,
        max_retries=max_retries,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    if repay:
        # Only when set, so the fingerprints of agreements signed before the
        # choice existed still match their replays.
        fingerprint = request_fingerprint(base=fingerprint, repay=repay)
    check_request_no(request_no)
    existing = Agreement.objects.filter(source_system=source_system, request_no=request_no).first()
    if existing is not None:
        return replay(existing, fingerprint, "agreement")
    payer, payee = account_get(account_no=payer_account_no), account_get(account_no=payee_account_no)
    if payer.category != Category.LIABILITY or payer.member_id is None:
        raise LedgerValidationError(
            f"An agreement debits a member's cash account; {payer.account_no} is not one.",
            payer_account_no=payer.account_no,
        )
    if payer.pk == payee.pk:
        raise SameAccount("The payer and the payee of an agreement are two accounts.", account_no=payer.account_no)
    if (payee.entity_id, payee.currency) != (payer.entity_id, payer.currency):
        raise LedgerValidationError(
            f"The payee {payee.account_no} is in another entity or currency than the payer {payer.account_no}.",
            payee_account_no=payee.account_no,
        )
    currency = payer.currency
    per_debit = to_amount(max_per_debit, currency, field="max_per_debit")
    per_period = to_amount(max_per_period, currency, field="max_per_period")
    if per_period < per_debit:
        raise LedgerValidationError(
            "max_per_period cannot be less than max_per_debit.", max_per_period=per_period, max_per_debit=per_debit
        )
    day, amount = _schedule(frequency, schedule_day, scheduled_amount, currency)
    if amount is not None and amount > per_debit:
        raise LedgerValidationError(
            "scheduled_amount cannot be more than max_per_debit.", scheduled_amount=amount, max_per_debit=per_debit
        )
    today = current_accounting_date(entity=payer.entity)
    valid_from = valid_from or today
    if valid_to is not None and (valid_to < valid_from or valid_to < today):
        raise LedgerValidationError(
            f"valid_to ({valid_to}) is before valid_from ({valid_from}) or the open day ({today}).", valid_to=valid_to
        )

    def write() -> Agreement:
        agreement = Agreement.objects.create(
            agreement_no=agreement_no,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            entity=payer.entity,
            currency=currency,
            payer_account=payer,
            payee_account=payee,
            purpose=purpose,
            max_per_debit=per_debit,
            max_per_period=per_period,
            limit_period=limit_period,
            frequency=frequency,
            schedule_day=day,
            scheduled_amount=amount,
            allow_partial=allow_partial,
            repay=repay,
            retry_every_days=retry_every_days,
            max_retries=max_retries,
            valid_from=valid_from,
            valid_to=valid_to,
            status=AgreementStatus.ACTIVE,
            signed_by=actor,
        )
        AgreementEvent.objects.create(
            agreement=agreement,
            kind=AgreementEvent.Kind.SIGN,
            to_status=AgreementStatus.ACTIVE,
            source_system=source_system,
            actor=actor,
        )
        return agreement

    try:
        return run_once(
            Agreement,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            what="agreement",
            write=write,
        )
    except IntegrityError:
        if Agreement.objects.filter(source_system=source_system, agreement_no=agreement_no).exists():
            raise IdempotencyConflict(
                f"Agreement {agreement_no} of {source_system} was signed under another request number.",
                agreement_no=agreement_no,
            ) from None
        raise


# ---------------------------------------------------------------- steps ----


def _locked(agreement_id) -> Agreement:
    if isinstance(agreement_id, bool) or not isinstance(agreement_id, int):
        raise UnknownAgreement(f"No agreement {agreement_id}.", agreement_id=agreement_id)
    # of=self: the joined accounts are read, not locked; a debit locks them
    # afterwards in id order, as every posting does (_lock_parties).
    agreement = (
        Agreement.objects.select_for_update(no_key=True, of=("self",))
        .select_related("entity", "payer_account", "payee_account")
        .filter(pk=agreement_id)
        .first()
    )
    if agreement is None:
        raise UnknownAgreement(f"No agreement {agreement_id}.", agreement_id=agreement_id)
    return agreement


def _move(
    agreement: Agreement,
    kind: str,
    to_status: str,
    *,
    actor: str,
    source_system: str,
    request_no: str | None,
    fingerprint: str = "",
    reason: str = "",
    acting_user=None,
) -> AgreementEvent:
    """The status move and its history row, in the caller's transaction with
    the agreement locked; a revoked or expired agreement's open scheduled
    debits are cancelled with it."""
    AGREEMENT_TRANSITIONS.check(
        agreement.status, to_status, what=f"Agreement A{agreement.pk}", agreement_id=agreement.pk
    )
    event = AgreementEvent.objects.create(
        agreement=agreement,
        kind=kind,
        from_status=agreement.status,
        to_status=to_status,
        reason=reason,
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        actor=actor,
        acting_user=acting_user,
    )
    agreement.status, agreement.updated_at = to_status, timezone.now()
    Agreement.objects.filter(pk=agreement.pk).update(status=to_status, updated_at=agreement.updated_at)
    if to_status in AGREEMENT_TRANSITIONS.final:
        DebitInstruction.objects.filter(agreement=agreement, status=InstructionStatus.OPEN).update(
            status=InstructionStatus.CANCELLED, next_attempt_on=None, updated_at=timezone.now()
        )
    return event


def _step(
    kind: str,
    to_status: str,
    *,
    agreement_id: int,
    reason: str,
    request_no: str,
    actor: str,
    source_system: str,
    acting_user,
    needs_reason: bool,
) -> AgreementEvent:
    if acting_user is not None:
        require_permission(acting_user, PERM_CHANGE_STATUS, doing=f"{kind} an agreement")
    reason = (reason or "").strip()[:255]
    if needs_reason and not reason:
        raise LedgerValidationError(f"A {kind} needs a reason.", reason="required")
    if isinstance(agreement_id, bool) or not isinstance(agreement_id, int):
        raise UnknownAgreement(f"No agreement {agreement_id}.", agreement_id=agreement_id)
    fingerprint = request_fingerprint(op=f"agreement_{kind}", agreement_id=agreement_id, reason=reason)

    def write() -> AgreementEvent:
        agreement = _locked(agreement_id)
        return _move(
            agreement,
            kind,
            to_status,
            actor=actor,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            reason=reason,
            acting_user=acting_user,
        )

    return run_once(
        AgreementEvent,
        source_system=source_system,
        request_no=request_no,
        fingerprint=fingerprint,
        what="agreement step",
        write=write,
    )


def agreement_suspend(
    *,
    agreement_id: int,
    reason: str,
    request_no: str,
    actor: str,
    source_system: str = DEFAULT_SOURCE,
    acting_user=None,
) -> AgreementEvent:
    """Suspend (暂停) an active agreement, with a reason: nothing is debited
    under it until it is resumed. Staff need the status permission."""
    return _step(
        AgreementEvent.Kind.SUSPEND,
        AgreementStatus.SUSPENDED,
        agreement_id=agreement_id,
        reason=reason,
        request_no=request_no,
        actor=actor,
        source_system=source_system,
        acting_user=acting_user,
        needs_reason=True,
    )


def agreement_resume(
    *,
    agreement_id: int,
    request_no: str,
    actor: str,
    reason: str = "",
    source_system: str = DEFAULT_SOURCE,
    acting_user=None,
) -> AgreementEvent:
    """Lift a suspension (恢复): the agreement is active again."""
    return _step(
        AgreementEvent.Kind.RESUME,
        AgreementStatus.ACTIVE,
        agreement_id=agreement_id,
        reason=reason,
        request_no=request_no,
        actor=actor,
        source_system=source_system,
        acting_user=acting_user,
        needs_reason=False,
    )


def agreement_revoke(
    *,
    agreement_id: int,
    reason: str,
    request_no: str,
    actor: str,
    source_system: str = DEFAULT_SOURCE,
    acting_user=None,
) -> AgreementEvent:
    """Revoke (解约) an agreement for good, with a reason; its open scheduled
    debits are cancelled."""
    return _step(
        AgreementEvent.Kind.REVOKE,
        AgreementStatus.REVOKED,
        agreement_id=agreement_id,
        reason=reason,
        request_no=request_no,
        actor=actor,
        source_system=source_system,
        acting_user=acting_user,
        needs_reason=True,
    )


def agreements_expire_due(*, actor: str = EXPIRY_ACTOR) -> int:
    """Expire (到期) every active or suspended agreement whose last valid day
    is before its entity's open accounting day. Safe to run twice: an
    expired agreement is skipped under its lock."""
    expired = 0
    candidates = Agreement.objects.filter(
        status__in=[AgreementStatus.ACTIVE, AgreementStatus.SUSPENDED],
        valid_to__lt=timezone.localdate() + timedelta(days=1),
    ).select_related("entity")
    open_days: dict[int, date] = {}
    for agreement in candidates.iterator():
        if agreement.entity_id not in open_days:
            open_days[agreement.entity_id] = current_accounting_date(entity=agreement.entity)
        if agreement.valid_to >= open_days[agreement.entity_id]:
            continue
        with transaction.atomic():
            locked = _locked(agreement.pk)
            if locked.status not in (AgreementStatus.ACTIVE, AgreementStatus.SUSPENDED):
                continue
            _move(
                locked,
                AgreementEvent.Kind.EXPIRE,
                AgreementStatus.EXPIRED,
                actor=actor,
                source_system=DEFAULT_SOURCE,
                request_no=None,
                reason=f"valid to {locked.valid_to}",
            )
        expired += 1
    return expired


# --------------------------------------------------------------- debits ----


def _floor(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-currency_places(currency)), rounding=ROUND_FLOOR)


def _lock_parties(agreement: Agreement) -> Account:
    """The payer's and the payee's real-time rows, in id order (as every
    posting locks them: no deadlock with a posting of the same accounts).
    Answers the payer as locked."""
    ids = sorted({agreement.payer_account_id, agreement.payee_account_id})
    locked = {
        a.pk: a
        for a in Account.objects.select_for_update(no_key=True)
        .filter(pk__in=ids, posting_mode=PostingMode.REALTIME)
        .order_by("id")
    }
    return locked.get(agreement.payer_account_id) or Account.objects.get(pk=agreement.payer_account_id)


def _debit_fingerprint(*, agreement_id: int, amount, purpose: str, allow_partial: bool | None) -> str:
    return request_fingerprint(
        op="agreement_debit",
        agreement_id=agreement_id,
        amount=canonical_amount(amount),
        purpose=purpose,
        allow_partial=allow_partial,
    )


def _taking_attempt(source_system: str, request_no: str) -> DebitAttempt | None:
    return DebitAttempt.objects.filter(
        source_system=source_system, request_no=request_no, posting__isnull=False
    ).first()


def _take(
    *,
    agreement_id: int,
    amount,
    purpose: str,
    request_no: str,
    source_system: str,
    fingerprint: str,
    actor: str,
    allow_partial: bool | None,
    instruction_id: int | None = None,
    accounting_date: date | None = None,
) -> DebitAttempt:
    """One debit under the agreement, in one transaction (see the design
    overview): the attempt that took money, or the refusal raised."""
    with transaction.atomic():
        agreement = _locked(agreement_id)
        # Under the agreement's lock: a concurrent first request with the
        # same number committed before we got here, and is the answer.
        earlier = _taking_attempt(source_system, request_no)
        if earlier is not None:
            return replay(earlier, fingerprint, "agreement debit")
        currency = agreement.currency
        value = to_amount(amount, currency)
        name = f"Agreement A{agreement.pk} ({agreement.agreement_no})"
        if purpose != agreement.purpose:
            raise NoAgreement(
                f"{name} covers {agreement.purpose!r}, not {purpose!r}.", agreement_id=agreement.pk, purpose=purpose
            )
        on = accounting_date or current_accounting_date(entity=agreement.entity)
        refusal = covering_refusal(agreement, on=on, amount=value)
        if refusal is not None:
            raise refusal
        payer = _lock_parties(agreement)
        take = value
        available = payer.available
        if available < value:
            partial = agreement.allow_partial if allow_partial is None else allow_partial
            take = _floor(available, currency) if partial else Decimal(0)
            if take <= 0:
                raise InsufficientFunds(
                    f"Account {payer.account_no}: available balance is short by "
                    f"{agreement.money(value - max(available, 0))}; nothing was taken.",
                    account_no=payer.account_no,
                    available=available,
                )
        memo = f"agreement {agreement.agreement_no}: {purpose} (代扣)"
        # The hold is the ledger's own step of this debit: settled whole in
        # the same transaction, so no caller ever releases or settles it.
        hold = hold_place(
            account_no=payer.account_no,
            amount=take,
            reason=f"agreement debit A{agreement.pk} {request_no}"[:255],
            request_no=f"agreement-hold-{uuid.uuid4().hex}",
            actor=actor,
            source_system=DEFAULT_SOURCE,
        )
        posting = hold_settle(
            hold_id=hold.id,
            request_no=request_no,
            amount=take,
            business_type=BusinessType.AGREEMENT_DEBIT,
            actor=actor,
            counter_account_no=agreement.payee_account.account_no,
            source_system=source_system,
            memo=memo[:255],
            external_ref=agreement.agreement_no,
            accounting_date=accounting_date,
        )
        if posting.replayed:  # the number was a posting of the caller's before: not this debit
            raise IdempotencyConflict(
                f"Request {request_no} of {source_system} was already used for a posting.", request_no=request_no
            )
        attempt = DebitAttempt.objects.create(
            agreement=agreement,
            instruction_id=instruction_id,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            purpose=purpose,
            amount_asked=value,
            amount_taken=take,
            outcome=Outcome.TAKEN if take == value else Outcome.PARTIAL,
            code="" if take == value else InsufficientFunds.code,
            message="" if take == value else f"{available} available of {value} asked",
            hold=hold,
            posting=posting,
            accounting_date=posting.accounting_date,
            period_start=period_start(agreement.limit_period, posting.accounting_date),
            actor=actor,
        )
        if instruction_id is not None:
            _instruction_attempted(instruction_id, agreement, taken=take)
        attempt.replayed = False
        return attempt


def _refused(
    *,
    agreement_id: int,
    amount,
    purpose: str,
    request_no: str,
    source_system: str,
    fingerprint: str,
    actor: str,
    error: LedgerError,
    instruction_id: int | None = None,
) -> DebitAttempt | None:
    """Record a refused attempt and its code (nothing was taken), in a
    transaction of its own; None when there is no agreement to record it on."""
    with transaction.atomic():
        agreement = Agreement.objects.select_for_update(no_key=True).filter(pk=agreement_id).first()
        if agreement is None:
            return None
        try:
            asked = to_amount(amount, agreement.currency)
        except LedgerError:
            return None  # not an amount: nothing was attempted
        attempt = DebitAttempt.objects.create(
            agreement=agreement,
            instruction_id=instruction_id,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            purpose=purpose[:64],
            amount_asked=asked,
            amount_taken=Decimal(0),
            outcome=Outcome.REFUSED,
            code=error.code[:40],
            message=error.message[:255],
            actor=actor,
        )
        if instruction_id is not None:
            _instruction_attempted(instruction_id, agreement, taken=Decimal(0))
        return attempt


def agreement_debit(
    *,
    agreement_id: int,
    amount,
    purpose: str,
    request_no: str,
    actor: str,
    source_system: str = DEFAULT_SOURCE,
    allow_partial: bool | None = None,
    accounting_date: date | None = None,
) -> DebitAttempt:
    """Debit ``amount`` from the agreement's payer to its payee for
    ``purpose`` (代扣), hold -> settle, under ``(source_system, request_no)``.

    Answers the DebitAttempt: ``outcome`` taken, or partial (``amount_taken``
    less than asked, the rest not taken: only when partial debits are allowed,
    by ``allow_partial`` or else the agreement); its ``posting`` is the
    settlement (Dr payer / Cr payee, business type agreement_debit).
    ``attempt.replayed``: the number was answered before, nothing was taken
    now. Refused with no_agreement (unknown purpose, agreement not active, the
    day outside its validity), agreement_limit_exceeded (per debit or per
    period), insufficient_funds, account_blocked, ...; the refused attempt is
    recorded. UnknownAgreement (not_found) when there is no such agreement.
    ``accounting_date``: a back-dated debit (an import, the demo's history),
    on a day not yet cut; its validity and period are that day's."""
    purpose = _text(purpose, "purpose", max_length=64)
    if allow_partial is not None and not isinstance(allow_partial, bool):
        raise LedgerValidationError("allow_partial is true, false or left out.", allow_partial=allow_partial)
    if isinstance(agreement_id, bool) or not isinstance(agreement_id, int):
        raise UnknownAgreement(f"No agreement {agreement_id}.", agreement_id=agreement_id)
    check_request_no(request_no)
    fingerprint = _debit_fingerprint(
        agreement_id=agreement_id, amount=amount, purpose=purpose, allow_partial=allow_partial
    )
    if accounting_date is not None:
        fingerprint = request_fingerprint(base=fingerprint, accounting_date=accounting_date)
    earlier = _taking_attempt(source_system, request_no)
    if earlier is not None:
        return replay(earlier, fingerprint, "agreement debit")
    call = dict(
        agreement_id=agreement_id,
        amount=amount,
        purpose=purpose,
        request_no=request_no,
        source_system=source_system,
        fingerprint=fingerprint,
        actor=actor,
    )
    try:
        return _take(**call, allow_partial=allow_partial, accounting_date=accounting_date)
    except (UnknownAgreement, IdempotencyConflict):
        raise
    except IntegrityError:
        # Two first requests of one number on two agreements: the second
        # waited on the first's posting and is answered with it, or a conflict.
        earlier = _taking_attempt(source_system, request_no)
        if earlier is None:
            raise
        return replay(earlier, fingerprint, "agreement debit")
    except LedgerError as exc:
        _refused(**call, error=exc)
        raise


# ------------------------------------------------------ scheduled debits ----


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def due_date_on_or_before(agreement: Agreement, day: date) -> date:
    """The latest scheduled day of ``agreement`` on or before ``day``: its
    weekday (1 = Monday), or its day of the month (the month's last day
    when the month is shorter)."""
    if agreement.frequency == Frequency.WEEKLY:
        return day - timedelta(days=(day.isoweekday() - agreement.schedule_day) % 7)
    this_month = date(day.year, day.month, min(agreement.schedule_day, _last_day(day.year, day.month)))
    if this_month <= day:
        return this_month
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return date(year, month, min(agreement.schedule_day, _last_day(year, month)))


def instructions_make_due(*, on: date | None = None) -> int:
    """A debit instruction for each active scheduled agreement whose last
    scheduled day up to ``on`` (default today) has none yet, within its
    validity and not before it was signed (a missed run is caught up, a
    day before the signature is not debited). Safe to run twice."""
    on = on or timezone.localdate()
    made = 0
    scheduled = Agreement.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=F("valid_from")),
        status=AgreementStatus.ACTIVE,
        frequency__in=[Frequency.WEEKLY, Frequency.MONTHLY],
        valid_from__lte=on,
    )
    for agreement in scheduled.iterator():
        due = due_date_on_or_before(agreement, on)
        signed = timezone.localdate(agreement.created_at)
        if due < max(agreement.valid_from, signed) or (agreement.valid_to is not None and due > agreement.valid_to):
            continue
        _, created = DebitInstruction.objects.get_or_create(
            agreement=agreement,
            due_date=due,
            defaults={"amount": agreement.scheduled_amount, "next_attempt_on": due},
        )
        made += created
    return made


def _instruction_attempted(instruction_id: int, agreement: Agreement, *, taken: Decimal) -> None:
    """After an attempt on a scheduled debit: what it took, and when the rest
    is tried again (or that it is done, or given up after the retries)."""
    instruction = DebitInstruction.objects.select_for_update(no_key=True).get(pk=instruction_id)
    instruction.taken += taken
    instruction.attempts += 1
    today = timezone.localdate()
    if instruction.taken == instruction.amount:
        instruction.status, instruction.next_attempt_on = InstructionStatus.DONE, None
    elif instruction.attempts > agreement.max_retries:
        instruction.status, instruction.next_attempt_on = InstructionStatus.FAILED, None
    else:
        instruction.next_attempt_on = today + timedelta(days=agreement.retry_every_days)
    instruction.save(update_fields=["taken", "attempts", "status", "next_attempt_on", "updated_at"])


def debits_run_due(*, on: date | None = None, limit: int = 500) -> dict[str, int]:
    """The beat job: make the due instructions, then attempt each open one
    whose day has come, in a transaction of its own (one another run holds
    is skipped and seen by the next run). Answers counts of the outcomes."""
    on = on or timezone.localdate()
    instructions_make_due(on=on)
    due = list(
        DebitInstruction.objects.filter(status=InstructionStatus.OPEN, next_attempt_on__lte=on)
        .order_by("next_attempt_on", "id")
        .values_list("pk", flat=True)[:limit]
    )
    counts = {Outcome.TAKEN: 0, Outcome.PARTIAL: 0, Outcome.REFUSED: 0}
    for instruction_id in due:
        outcome = _run_instruction(instruction_id, on=on)
        if outcome is not None:
            counts[outcome] += 1
    return {str(k): v for k, v in counts.items()}


def _run_instruction(instruction_id: int, *, on: date) -> str | None:
    agreement_id = DebitInstruction.objects.filter(pk=instruction_id).values_list("agreement_id", flat=True).first()
    with transaction.atomic():
        # The agreement first, then the instruction: the order a revocation
        # takes them in (it cancels the open instructions).
        _locked(agreement_id)
        instruction = (
            DebitInstruction.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
            .select_related("agreement")
            .filter(pk=instruction_id, status=InstructionStatus.OPEN, next_attempt_on__lte=on)
            .first()
        )
        if instruction is None:
            return None
        agreement = instruction.agreement
        request_no = f"sched-I{instruction.pk}-{instruction.attempts + 1}"
        rest = instruction.rest
        call = dict(
            agreement_id=agreement.pk,
            amount=rest,
            purpose=agreement.purpose,
            request_no=request_no,
            source_system=SCHEDULE_SOURCE,
            fingerprint=_debit_fingerprint(
                agreement_id=agreement.pk, amount=rest, purpose=agreement.purpose, allow_partial=None
            ),
            actor=SCHEDULE_ACTOR,
            instruction_id=instruction.pk,
        )
        try:
            attempt = _take(**call, allow_partial=None)
        except LedgerError as exc:
            # The instruction stays locked: the refusal, its attempt count and
            # the next try are written in this transaction.
            _refused(**call, error=exc)
            log.info("Scheduled debit I%s of A%s refused: %s (%s)", instruction.pk, agreement.pk, exc.message, exc.code)
            return Outcome.REFUSED
        return attempt.outcome
