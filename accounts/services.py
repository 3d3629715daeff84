"""Writes for customers, members and accounts. Balances are not written here:
only ``postings.services`` moves money."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.exceptions import AccountClosed, ChartLocked, CustomerMismatch
from accounts.kernel.errors import IllegalTransition, LedgerValidationError
from accounts.kernel.money import format_money, to_amount
from accounts.kernel.permissions import require_permission
from accounts.kernel.transitions import Transitions, transition

from .kernel.errors import IdempotencyConflict
from .kernel.hooks import Hook
from .kernel.idempotency import canonical_amount, request_fingerprint, run_once
from .models import (
    Account,
    AccountOpenRequest,
    AccountStatus,
    AccountStatusChange,
    AccountType,
    Category,
    CreditLimitChange,
    Customer,
    Entity,
    Member,
)


def luhn_check_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def account_number(*, subject_code: str, entity_id: int, account_id: int) -> str:
    """Subject code, entity, sequence and a Luhn check digit: 2241 001 000000042 7.

    Finance staff read the subject from the first digits; the check digit
    catches a mistyped number before it reaches the ledger.
    """
    digits = f"{subject_code}{entity_id:03d}{account_id:09d}"
    return digits + luhn_check_digit(digits)


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def customer_create(*, kind: str, name: str, id_type: str, id_no: str) -> Customer:
    """The customer with this ID document: created on first use, the same one
    after (KYC identifies a person or company once). The document under
    another name or kind is refused: a mistyped number or another party,
    either way not to be attached silently to someone else's customer. The
    existing name is not echoed back (the caller may be probing numbers)."""
    customer, created = Customer.objects.get_or_create(
        id_type=id_type, id_no=id_no, defaults={"kind": kind, "name": name}
    )
    if not created and (customer.kind != kind or not _same_name(customer.name, name)):
        raise CustomerMismatch(
            f"ID document {id_type} {id_no} is registered to a customer with another name or kind than "
            f"{kind} {name!r}.",
            id_type=id_type,
            id_no=id_no,
        )
    return customer


def member_create(*, member_no: str, customer: Customer, name: str, platform: str = "wallet") -> Member:
    if Member.objects.filter(member_no=member_no).exists():
        raise LedgerValidationError(f"Member {member_no} already exists.", member_no=member_no)
    return Member.objects.create(member_no=member_no, customer=customer, name=name, platform=platform)


DEFAULT_ID_TYPES = {"person": "resident_id", "company": "business_license"}


def member_register(
    *,
    member_no: str,
    name: str,
    customer_kind: str,
    customer_name: str,
    id_no: str,
    id_type: str = "",
    platform: str = "wallet",
) -> Member:
    """Register a member (会员) of a customer (客户), the customer identified by
    its ID document and created on first use (``customer_create``), both or
    neither.

    ``member_no`` is the idempotency key: the same member again answers the
    first one (``replayed``), the number with other details is
    IdempotencyConflict. Without ``id_type``, a person's document is their
    resident ID and a company's its business licence.
    """
    id_type = id_type or DEFAULT_ID_TYPES.get(customer_kind, "business_license")
    details = (name, platform, id_type, id_no)

    def replay(member: Member) -> Member:
        if (member.name, member.platform, member.customer.id_type, member.customer.id_no) != details:
            raise IdempotencyConflict(f"Member {member.member_no} exists with other details.", member_no=member_no)
        member.replayed = True
        return member

    def earlier() -> Member | None:
        return Member.objects.select_related("customer").filter(member_no=member_no).first()

    existing = earlier()
    if existing is not None:
        return replay(existing)
    try:
        with transaction.atomic(durable=True):
            customer = customer_create(kind=customer_kind, name=customer_name, id_type=id_type, id_no=id_no)
            member = member_create(member_no=member_no, customer=customer, name=name, platform=platform)
    except (IntegrityError, LedgerValidationError):
        existing = earlier()
        if existing is None:
            raise
        return replay(existing)  # a concurrent call registered it first
    member.replayed = False
    return member


# Internal account types that code finds by type (one per entity and
# currency), besides those the posting rules name: the withdrawal fee income
# (withdrawals.services) and reconciliation's suspense account
# (reports.channel.work), and the opening-balance account (reports.opening).
FOUND_BY_TYPE = {"FEE_INCOME", "SUSPENSE", "OPENING_BALANCE"}


# The floors above answer these (accounts imports nothing above it);
# postings registers its answers in PostingsConfig.ready().
found_by_type = Hook("Does code above find internal accounts of this type by type? (account_type) -> bool")
close_refusals = Hook(
    "Why may this locked account not close? (account) -> a message, or None; e.g. postings: its active holds"
)


def _found_by_type(account_type: AccountType) -> bool:
    return account_type.code in FOUND_BY_TYPE or any(found_by_type.answers(account_type))


def _refuse_a_second_found_by_type(*, entity: Entity, account_type: AccountType, currency: str) -> None:
    """A second open account of a type the ledger finds by type would leave
    every rule that needs it refusing (rule_not_configured), so it is refused
    here instead. The type's row is locked, so two concurrent opens of the
    type cannot both see none."""
    if not _found_by_type(account_type):
        return
    AccountType.objects.select_for_update().filter(pk=account_type.pk).exists()
    existing = (
        Account.objects.filter(entity=entity, account_type=account_type, currency=currency)
        .exclude(status=AccountStatus.CLOSED)
        .values_list("account_no", flat=True)
        .first()
    )
    if existing is not None:
        raise LedgerValidationError(
            f"{entity.code} already has an open {account_type.code} account in {currency} ({existing}). The ledger "
            f"finds {account_type.code} by type, so a second one would leave it unable to choose; close the first "
            "one before opening another.",
            account_type=account_type.code,
            account_no=existing,
        )


def account_open(
    *,
    entity: Entity,
    account_type: AccountType,
    currency: str | None = None,
    member: Member | None = None,
    name: str = "",
    credit_limit: Decimal | str = "0",
    opened_on=None,
) -> Account:
    currency = currency or entity.base_currency
    is_internal = account_type.category == Category.INTERNAL
    if is_internal and member is not None:
        raise LedgerValidationError("Internal accounts (内部户) belong to no member.", member=member.member_no)
    if not is_internal and member is None:
        raise LedgerValidationError("A customer account needs a member.", account_type=account_type.code)
    limit = to_amount(credit_limit, currency, field="credit_limit", allow_zero=True)
    if limit and account_type.category != Category.ASSET:
        raise LedgerValidationError("Only asset (credit) accounts have a credit limit.", credit_limit=limit)
    with transaction.atomic():
        if is_internal:
            _refuse_a_second_found_by_type(entity=entity, account_type=account_type, currency=currency)
        account = Account.objects.create(
            account_no=f"tmp-{uuid.uuid4().hex[:24]}",
            name=name or (member.name if member else account_type.name),
            member=member,
            entity=entity,
            account_type=account_type,
            category=account_type.category,
            allow_negative=account_type.allow_negative,
            posting_mode=account_type.posting_mode,
            currency=currency,
            credit_limit=limit,
            opened_on=opened_on or timezone.localdate(),
        )
        account.account_no = account_number(
            subject_code=account_type.subject_code, entity_id=entity.id, account_id=account.id
        )
        Account.objects.filter(id=account.id).update(account_no=account.account_no)
    return account


def account_open_once(
    *,
    source_system: str,
    request_no: str,
    entity: Entity,
    account_type: AccountType,
    currency: str | None = None,
    member: Member | None = None,
    name: str = "",
    credit_limit: Decimal | str = "0",
) -> Account:
    """``account_open`` under a caller's request number: a retry answers the
    account opened the first time (``replayed``), the number with other
    details is IdempotencyConflict. The number is kept in AccountOpenRequest,
    in the transaction that opens the account."""
    currency = currency or entity.base_currency
    fingerprint = request_fingerprint(
        op="account",
        entity=entity.code,
        account_type=account_type.code,
        currency=currency,
        member_no=member.member_no if member else None,
        credit_limit=canonical_amount(credit_limit),
        name=name,
    )

    def write() -> AccountOpenRequest:
        account = account_open(
            entity=entity,
            account_type=account_type,
            currency=currency,
            member=member,
            name=name,
            credit_limit=credit_limit,
        )
        return AccountOpenRequest.objects.create(
            source_system=source_system, request_no=request_no, fingerprint=fingerprint, account=account
        )

    with transaction.atomic(durable=True):
        opened = run_once(
            AccountOpenRequest,
            source_system=source_system,
            request_no=request_no,
            fingerprint=fingerprint,
            what="account",
            write=write,
        )
    account = opened.account
    account.replayed = opened.replayed
    return account


def _account_refusal(what: str, from_status: str, to_status: str, **fields) -> IllegalTransition:
    return IllegalTransition(
        f"{what} cannot go from {from_status} to {to_status}.", **fields, from_status=from_status, to_status=to_status
    )


# status -> statuses it may move to. Closing is final.
STATUS_TRANSITIONS = Transitions(
    {
        AccountStatus.ACTIVE: {
            AccountStatus.DEBIT_BLOCKED,
            AccountStatus.CREDIT_BLOCKED,
            AccountStatus.BLOCKED,
            AccountStatus.CLOSED,
        },
        AccountStatus.DEBIT_BLOCKED: {
            AccountStatus.ACTIVE,
            AccountStatus.BLOCKED,
            AccountStatus.CREDIT_BLOCKED,
            AccountStatus.CLOSED,
        },
        AccountStatus.CREDIT_BLOCKED: {
            AccountStatus.ACTIVE,
            AccountStatus.BLOCKED,
            AccountStatus.DEBIT_BLOCKED,
            AccountStatus.CLOSED,
        },
        AccountStatus.BLOCKED: {
            AccountStatus.ACTIVE,
            AccountStatus.DEBIT_BLOCKED,
            AccountStatus.CREDIT_BLOCKED,
            AccountStatus.CLOSED,
        },
        AccountStatus.CLOSED: set(),
    },
    refuse=_account_refusal,
)


def account_change_status(*, account: Account, to_status: str, reason: str, actor: str) -> Account:
    """Block (止付/止收/冻结), unblock or close an account, with the reason on record.

    Closing needs a zero balance and no active holds, so no money is ever
    stranded in a closed account.
    """
    if not reason.strip():
        raise LedgerValidationError("A reason is required for a status change.", reason=reason)
    to_status = AccountStatus(to_status)
    with transaction.atomic():
        locked = Account.objects.select_for_update(no_key=True).get(pk=account.pk)
        current = AccountStatus(locked.status)
        if current == AccountStatus.CLOSED:
            raise AccountClosed(f"Account {locked.account_no} is closed.", account_no=locked.account_no)
        what = f"Account {locked.account_no}"
        STATUS_TRANSITIONS.check(current.value, to_status.value, what=what)
        changes = {}
        if to_status == AccountStatus.CLOSED:
            if locked.balance != 0 or locked.frozen != 0:
                raise IllegalTransition(
                    f"Account {locked.account_no} still has a balance of {format_money(locked.balance, locked.currency)} "
                    f"and {format_money(locked.frozen, locked.currency)} frozen; it can be closed only at zero.",
                    account_no=locked.account_no,
                )
            for refusal in close_refusals.answers(locked):
                if refusal:
                    raise IllegalTransition(refusal, account_no=locked.account_no)
            changes["closed_on"] = timezone.localdate()
        transition(
            locked,
            to_status.value,
            table=STATUS_TRANSITIONS,
            what=what,
            changes=changes,
            history=lambda from_status, to_status: AccountStatusChange.objects.create(
                account=locked, from_status=from_status, to_status=to_status, reason=reason, changed_by=actor
            ),
        )
    account.refresh_from_db()
    return account


def account_set_credit_limit(
    *, account: Account, credit_limit, reason: str, actor: str, acting_user=None
) -> CreditLimitChange | None:
    """Raise or lower a credit line's limit, with a history row (old, new,
    what was used then, who, why) in the same transaction. Lowering it below
    what is used and frozen is allowed: the line then takes no new purchase
    or hold (the sign rule, postings/sql/posting_rules.sql) until repayments
    bring the use under it, while repayments and accrued interest go on.
    ``acting_user``: a staff user, who needs accounts.set_credit_limit (the
    API and the admin check their own scopes). Returns the history row, or
    None when the limit already is ``credit_limit``."""
    if acting_user is not None:
        require_permission(acting_user, "accounts.set_credit_limit", doing="change a credit limit")
    if not (reason or "").strip():
        raise LedgerValidationError("A reason is required for a credit limit change.", reason="required")
    with transaction.atomic():
        locked = Account.objects.select_for_update(no_key=True).get(pk=account.pk)
        if locked.category != Category.ASSET:
            raise LedgerValidationError(
                "Only asset (credit) accounts have a credit limit.", account_no=locked.account_no
            )
        if locked.status == AccountStatus.CLOSED:
            raise AccountClosed(f"Account {locked.account_no} is closed.", account_no=locked.account_no)
        limit = to_amount(credit_limit, locked.currency, field="credit_limit", allow_zero=True)
        if limit == locked.credit_limit:
            return None
        Account.objects.filter(pk=locked.pk).update(credit_limit=limit, updated_at=timezone.now())
        change = CreditLimitChange.objects.create(
            account=locked,
            old_limit=locked.credit_limit,
            new_limit=limit,
            used=locked.balance + locked.frozen,
            reason=reason.strip()[:255],
            changed_by=actor,
        )
    account.refresh_from_db()
    return change


LOCKED_TYPE_FIELDS = ("code", "category", "allow_negative")


def account_type_check(*, account_type: AccountType) -> None:
    """Refuse (``ChartLocked``) a change of code, category or sign rule of a
    type accounts already use.

    Accounts copy category and sign rule when they open, and the GL mapping
    hangs on the code: changing them under live accounts would silently change
    what their balances mean.
    """
    if account_type.pk:
        original = AccountType.objects.get(pk=account_type.pk)
        changed = [f for f in LOCKED_TYPE_FIELDS if getattr(original, f) != getattr(account_type, f)]
        if changed and Account.objects.filter(account_type=original).exists():
            raise ChartLocked(
                f"Account type {original.code} is used by accounts; {', '.join(changed)} cannot change.",
                fields=",".join(changed),
            )


def account_type_save(*, account_type: AccountType) -> AccountType:
    """Save a chart line; code, category and sign rule are fixed once accounts use it."""
    account_type_check(account_type=account_type)
    account_type.save()
    return account_type
