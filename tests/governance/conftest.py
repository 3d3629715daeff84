"""Control settings under maker-checker: two ledger admins, an auditor and
the other roles, over the default chart, rules, fee and review rules."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from tests.withdrawals.conftest import desk, ensure_withdrawal_defaults  # noqa: F401 (desk: a fixture)

ROLES = ["Finance staff", "Reviewer", "Cashier", "Auditor", "Ledger admin"]


def staff(username: str, *groups: str) -> User:
    user = User.objects.create_user(username, password="password", is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=groups))
    return user


@pytest.fixture
def people(ledger):
    ensure_withdrawal_defaults()
    users = {role: staff(role.lower().replace(" ", "_"), role) for role in ROLES}
    users["maker"] = staff("maker", "Ledger admin")
    users["checker"] = staff("checker", "Ledger admin")
    return users
