"""postings' answers to the questions ``accounts`` asks of the floors above
it (``accounts.kernel.hooks``); registered by ``PostingsConfig.ready``."""

from __future__ import annotations

from accounts import services as account_services


def internal_type_named_by_a_rule(account_type) -> bool:
    """An active posting rule finds its internal account by this type."""
    from .models import PostingRuleLeg

    return PostingRuleLeg.objects.filter(internal_account_type=account_type, rule__active=True).exists()


def active_holds_refuse_closing(account) -> str | None:
    """Money still held on the account: closing would strand it."""
    from .models import ACTIVE_HOLD_STATUSES, Hold

    if Hold.objects.filter(account=account, status__in=ACTIVE_HOLD_STATUSES).exists():
        return f"Account {account.account_no} has active holds."
    return None


def register() -> None:
    account_services.found_by_type.register(internal_type_named_by_a_rule)
    account_services.close_refusals.register(active_holds_refuse_closing)
