"""Control settings under maker-checker: two ledger admins, an auditor and
the other roles, over the default chart, rules, fee and review rules."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Group, Permission, User

from tests.withdrawals.conftest import desk, ensure_withdrawal_defaults  # noqa: F401 (desk: a fixture)

ROLES = ["Finance staff", "Reviewer", "Cashier", "Auditor", "Ledger admin"]


def staff(username: str, *groups: str) -> User:
    user = User.objects.create_user(username, password="password", is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=groups))
    return user


def ensure_governance_roles() -> None:
    """The roles with their grants (withdrawals/0002, kernel/0004 and 0005): a
    transactional test ends by emptying every table, the groups included."""
    ensure_withdrawal_defaults()
    grants = [
        importlib.import_module(f"accounts.kernel.migrations.{name}").GRANTS
        for name in (
            "0004_setting_change_history_guard_and_roles",
            "0005_setting_change_effective_from_and_finance_reads",
        )
    ]
    for name, codenames in (item for grant in grants for item in grant.items()):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="kernel", codename__in=codenames))


@pytest.fixture
def people(ledger):
    ensure_governance_roles()
    users = {role: staff(role.lower().replace(" ", "_"), role) for role in ROLES}
    users["maker"] = staff("maker", "Ledger admin")
    users["checker"] = staff("checker", "Ledger admin")
    return users
