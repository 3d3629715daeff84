"""Withdrawal fixtures: staff users in each role, two paying banks, a funded
member wallet, and cards the sandbox bank answers predictably (see
withdrawals/gateways.py for the card-number table)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission, User

from accounts.models import Account
from withdrawals.models import FeeRule, PayingBank, ReviewRule, Withdrawal
from withdrawals.services import luhn_valid, withdrawal_request

ROLES = ["Finance staff", "Reviewer", "Cashier", "Auditor", "Ledger admin"]


def card(tail: str, prefix: str = "622202100000") -> str:
    """A Luhn-valid card number ending in ``tail`` (the sandbox's outcome key):
    the check digit is bought by the digit just before the tail."""
    for d in range(10):
        number = f"{prefix}{d}{tail}"
        if luhn_valid(number):
            return number
    raise AssertionError("unreachable")


CARD_OK = card("4242")
CARD_CLOSED = card("0000")
CARD_BUSY_ONCE = card("3333")
CARD_DOUBLE_CALLBACK = card("2222")
CARD_SILENT_PAID = card("9999")
CARD_SILENT_FAILED = card("8888")
CARD_STUCK = card("7777")


def ensure_withdrawal_defaults() -> None:
    """The fee rules, review rules and roles migration 0002 seeds. A
    transactional test ends with a flush that empties every table (the
    permissions come back through post_migrate, these rows do not), so a
    later transactional test puts them back the way the migration did."""
    seed = importlib.import_module("withdrawals.migrations.0002_defaults_and_roles")
    for name, currency, fixed, rate, minimum, maximum in seed.FEE_RULES:
        FeeRule.objects.get_or_create(
            name=name,
            currency=currency,
            defaults=dict(
                fixed=Decimal(fixed), rate_percent=Decimal(rate), minimum=Decimal(minimum), maximum=Decimal(maximum)
            ),
        )
    for code, kind, name, currency, amount, count, days in seed.REVIEW_RULES:
        ReviewRule.objects.get_or_create(
            code=code,
            defaults=dict(
                kind=kind, name=name, currency=currency, amount=amount and Decimal(amount), count=count, days=days
            ),
        )
    for group_name, grants in seed.ROLES.items():
        group, created = Group.objects.get_or_create(name=group_name)
        if not created:
            continue
        perms = []
        for grant in grants:
            if grant.startswith("view:"):
                perms += Permission.objects.filter(content_type__app_label=grant[5:], codename__startswith="view_")
            else:
                app_label, codename = grant.split(".")
                perms.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.add(*perms)
    resolve = importlib.import_module("withdrawals.migrations.0004_payout_flag_resolution")
    for group_name, codenames in resolve.GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="withdrawals", codename__in=codenames))


def staff(username: str, *groups: str) -> User:
    user = User.objects.create_user(username, password="password", is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=groups))
    return user


@dataclass
class Desk:
    ledger: object
    member_account: Account
    bank_a: PayingBank
    bank_b: PayingBank
    fee_income: Account
    users: dict[str, User] = field(default_factory=dict)
    _n: int = 0

    def user(self, role: str, name: str | None = None) -> User:
        key = name or role
        if key not in self.users:
            self.users[key] = staff(key.lower().replace(" ", "_"), role)
        return self.users[key]

    def request(
        self,
        amount="100.00",
        *,
        card_number=CARD_OK,
        account: Account | None = None,
        created_by: User | None = None,
        request_no: str | None = None,
    ) -> Withdrawal:
        self._n += 1
        return withdrawal_request(
            account_no=(account or self.member_account).account_no,
            amount=amount,
            card_holder="Alice Zhang",
            card_bank="ICBC",
            card_number=card_number,
            request_no=request_no or f"app-{self._n}",
            created_by=created_by,
        )

    def fresh(self, withdrawal: Withdrawal) -> Withdrawal:
        return Withdrawal.objects.get(pk=withdrawal.pk)


@pytest.fixture
def desk(ledger) -> Desk:
    from accounts.services import account_open

    ensure_withdrawal_defaults()
    # Opened a month ago, so the young-account rule stays quiet unless a test wants it.
    member_account = account_open(
        entity=ledger.entity,
        account_type=ledger.types["USER_CASH"],
        member=ledger.member("Alice"),
        opened_on=date.today() - timedelta(days=30),
    )
    ledger.recharge(member_account, Decimal("100000.00"))
    bank_a = PayingBank.objects.create(code="icbc", name="ICBC payouts", clearing_account=ledger.channel())

    bank_b = PayingBank.objects.create(
        code="cmb",
        name="CMB payouts",
        clearing_account=account_open(
            entity=ledger.entity, account_type=ledger.types["CHANNEL_CLEARING"], currency="CNY", name="CMB clearing"
        ),
    )
    return Desk(
        ledger=ledger,
        member_account=member_account,
        bank_a=bank_a,
        bank_b=bank_b,
        fee_income=ledger.internal("FEE_INCOME"),
    )
