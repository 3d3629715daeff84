"""Reads for accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.exceptions import UnknownAccount

from .models import Account, AccountType, Category, Entity


def account_get(*, account_no: str) -> Account:
    try:
        return Account.objects.select_related("entity", "account_type", "member").get(account_no=account_no)
    except Account.DoesNotExist:
        raise UnknownAccount(f"No account {account_no}.", account_no=account_no) from None


def internal_account_for(*, entity: Entity, account_type: AccountType, currency: str) -> Account | None:
    """The entity's one internal account of a type in a currency, or None if
    there is none or more than one (a rule must never guess between two)."""
    candidates = list(
        Account.objects.filter(
            entity=entity, account_type=account_type, currency=currency, category=Category.INTERNAL
        ).exclude(status="closed")[:2]
    )
    return candidates[0] if len(candidates) == 1 else None


def accounts_for_member(*, member_no: str) -> QuerySet[Account]:
    return Account.objects.filter(member__member_no=member_no).select_related("account_type", "entity")
