"""The credit product as a governed setting (``accounts.kernel.governance``):
its rates, days and allocation order decide what members owe, so a change is
proposed by one person and approved by another, and raises its version."""

from __future__ import annotations

from accounts.kernel.governance import GovernedSetting, register

from .models import CreditProduct


class CreditProductSetting(GovernedSetting):
    model = CreditProduct
    fields = (
        "entity",
        "currency",
        "name",
        "active",
        "billing_day",
        "due_days",
        "daily_interest_rate",
        "daily_penalty_rate",
        "minimum_percent",
        "minimum_floor",
        "grace_days",
        "grace_amount",
        "allocation_order",
    )


def register_settings() -> None:
    register(CreditProductSetting())
