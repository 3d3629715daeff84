"""Reads the API needs beyond the apps' own selectors: key lookup, an
account's entries, a posting with its entries, a hold, a withdrawal's
history, and the references a request names (entity, type, member)."""

from __future__ import annotations

import hmac
from datetime import date

from django.db.models import Prefetch, QuerySet

from accounts.models import Account, AccountType, Entity, Member
from postings.exceptions import UnknownHold, UnknownOrder, UnknownPosting
from postings.models import Entry, GuaranteeOrder, Hold, Posting
from reports.eod.models import BalanceSheetRow
from reports.pages.selectors import balance_sheet
from withdrawals.models import Withdrawal, WithdrawalEvent

from .errors import NotFound
from .models import ApiKey
from .services import KEY_RE, key_digest

BIGINT_MAX = 2**63 - 1


def api_key_find(*, raw: str) -> ApiKey | None:
    """The key row whose hash matches ``raw`` (revoked or not), or None."""
    match = KEY_RE.match(raw or "")
    if match is None:
        return None
    key = ApiKey.objects.select_related("client").filter(prefix=match.group(1)).first()
    if key is None or not hmac.compare_digest(key.key_hash, key_digest(raw)):
        return None
    return key


def entity_get(*, code: str) -> Entity:
    entity = Entity.objects.filter(code=code).first()
    if entity is None:
        raise NotFound(f"No accounting entity {code}.", entity=code)
    return entity


def account_type_get(*, code: str) -> AccountType:
    account_type = AccountType.objects.filter(code=code).first()
    if account_type is None:
        raise NotFound(f"No account type {code}.", account_type=code)
    return account_type


def member_get(*, member_no: str) -> Member:
    member = Member.objects.select_related("customer").filter(member_no=member_no).first()
    if member is None:
        raise NotFound(f"No member {member_no}.", member_no=member_no)
    return member


def account_entries(
    *,
    account: Account,
    date_after: date | None = None,
    date_before: date | None = None,
    business_type: str | None = None,
) -> QuerySet[Entry]:
    """An account's entries, dates inclusive, in the order they were posted."""
    entries = Entry.objects.filter(account=account)
    if date_after is not None:
        entries = entries.filter(accounting_date__gte=date_after)
    if date_before is not None:
        entries = entries.filter(accounting_date__lte=date_before)
    if business_type:
        entries = entries.filter(business_type=business_type)
    return entries.order_by("account_seq")


def posting_get(*, serial_no: int) -> Posting:
    posting = Posting.objects.filter(serial_no=serial_no).first() if 0 < serial_no <= BIGINT_MAX else None
    if posting is None:
        raise UnknownPosting(f"No posting {serial_no}.", serial_no=serial_no)
    return posting


def posting_by_request(*, source_system: str, request_no: str) -> Posting:
    """The posting a caller booked under its request number: one lookup of
    the unique (source_system, request_no) index."""
    posting = Posting.objects.filter(source_system=source_system, request_no=request_no).first()
    if posting is None:
        raise UnknownPosting(
            f"No posting of source system {source_system!r} with request number {request_no!r}.",
            source_system=source_system,
            request_no=request_no,
        )
    return posting


def posting_entries(*, posting: Posting) -> list[Entry]:
    return list(posting.entries.select_related("account").order_by("serial_no"))


def order_get(*, order_id: int) -> GuaranteeOrder:
    order = None
    if 0 < order_id <= BIGINT_MAX:
        order = (
            GuaranteeOrder.objects.select_related("buyer_account", "merchant_account", "escrow_account")
            .filter(pk=order_id)
            .first()
        )
    if order is None:
        raise UnknownOrder(f"No guarantee order {order_id}.", order_id=order_id)
    return order


def hold_get(*, hold_id: int) -> Hold:
    hold = Hold.objects.select_related("account").filter(pk=hold_id).first() if 0 < hold_id <= BIGINT_MAX else None
    if hold is None:
        raise UnknownHold(f"No hold {hold_id}.", hold_id=hold_id)
    return hold


def withdrawal_get(*, withdrawal_id: int) -> Withdrawal:
    withdrawal = None
    if 0 < withdrawal_id <= BIGINT_MAX:
        withdrawal = Withdrawal.objects.select_related("account", "member").filter(pk=withdrawal_id).first()
    if withdrawal is None:
        raise NotFound(f"No withdrawal {withdrawal_id}.", withdrawal_id=withdrawal_id)
    return withdrawal


def withdrawal_history(*, withdrawal: Withdrawal) -> list[WithdrawalEvent]:
    return list(withdrawal.events.order_by("id"))


def postings_with_entries(*, serial_nos) -> dict[int, Posting]:
    """Postings by serial number, each with ``api_entries`` (its entries with
    their accounts, in order): one query for the postings, one for the entries."""
    entries = Entry.objects.select_related("account").order_by("serial_no")
    postings = Posting.objects.filter(serial_no__in=list(serial_nos)).prefetch_related(
        Prefetch("entries", queryset=entries, to_attr="api_entries")
    )
    return {p.serial_no: p for p in postings}


def member_find(*, member_no: str) -> Member | None:
    return Member.objects.select_related("customer").filter(member_no=member_no).first()


def balance_sheet_rows(*, day: date | None, entity: Entity | None, currency: str | None, group_by: str):
    """The end of day's balance sheet of ``day`` at a grouping (reports.selectors),
    optionally of one entity and currency; no rows when there is no day."""
    rows = BalanceSheetRow.objects.none()
    if day is not None:
        rows = BalanceSheetRow.objects.filter(accounting_date=day)
        if entity is not None:
            rows = rows.filter(entity=entity)
        if currency:
            rows = rows.filter(currency=currency)
    return balance_sheet(rows=rows, group_by=group_by, date_from=day, date_to=day)


def member_accounts(*, member: Member) -> list[Account]:
    return list(
        Account.objects.filter(member=member).select_related("entity", "account_type", "member").order_by("account_no")
    )
