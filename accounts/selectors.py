"""Reads for accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.exceptions import UnknownAccount

from .models import Account, AccountType, Category, Entity


def main_entity() -> Entity | None:
    """The entity pages open on: the main operating entity (accounts.chart's
    default, code MAIN), else the first by code."""
    from .chart import DEFAULT_ENTITY

    return Entity.objects.filter(code=DEFAULT_ENTITY["code"]).first() or Entity.objects.order_by("code").first()


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
