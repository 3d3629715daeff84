"""The chart of account types as a governed setting
(``accounts.kernel.governance``). The posting mode is not part of it: it
changes through the admin actions that move the type's accounts with it."""

from __future__ import annotations

from accounts.kernel.governance import GovernedSetting, register

from .models import AccountType
from .services import account_type_check, account_type_save


class AccountTypeSetting(GovernedSetting):
    model = AccountType
    fields = ("code", "name", "category", "subject_code", "allow_negative", "description")

    def check(self, instance, values):
        super().check(instance, values)
        account_type_check(account_type=instance)

    def save(self, instance, values):
        account_type_save(account_type=instance)


def register_settings() -> None:
    register(AccountTypeSetting())
