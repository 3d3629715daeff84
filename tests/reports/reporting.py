"""Shared helpers of the report page and GL tests (fixtures are imported by
the test modules that use them).

``Books`` opens real accounts and posts real entries through the services on
the open accounting day, then writes that day's ``DailyBalance`` rows as an
accountant would from the entries (opening = first balance before, closing =
last balance after, turnover per side), independently of the end-of-day
code, so the pages can be tested before, and apart from, the end of day.
"""

from __future__ import annotations

import csv
import importlib
import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import reverse

from accounts.models import Account
from postings.models import Entry
from postings.selectors import current_accounting_date
from postings.services import posting_create_by_rule
from reports.eod.models import CheckResult, DailyBalance, SheetDay
from reports.vouchers.build import vouchers_build
from reports.vouchers.models import Voucher
from tests.withdrawals.conftest import ROLES, ensure_withdrawal_defaults

ALL_ROLES = [*ROLES, None]  # None: not logged in


def ensure_report_roles() -> None:
    """The staff roles with their withdrawal grants (migration
    withdrawals/0002) and report grants (reports/0002). A transactional test
    ends by emptying every table, the groups included; this puts them back."""
    ensure_withdrawal_defaults()
    grants = importlib.import_module("reports.migrations.0002_report_roles").GRANTS
    for group_name, perms in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for grant in perms:
            if grant.startswith("view:"):
                group.permissions.add(
                    *Permission.objects.filter(content_type__app_label=grant[5:], codename__startswith="view_")
                )
            else:
                app_label, codename = grant.split(".")
                group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    vouchers = importlib.import_module("reports.migrations.0018_voucher_guards_and_grants").GRANTS
    for group_name, codenames in vouchers.items():
        Group.objects.get(name=group_name).permissions.add(
            *Permission.objects.filter(content_type__app_label="reports", codename__in=codenames)
        )
    opening = importlib.import_module("reports.migrations.0021_opening_balance_imports").GRANTS
    periods = importlib.import_module("reports.migrations.0023_accounting_periods_and_close").GRANTS
    certificates = importlib.import_module("reports.migrations.0026_close_certificates").GRANTS
    for grants in (opening, periods, certificates):
        for group_name, codenames in grants.items():
            Group.objects.get(name=group_name).permissions.add(
                *Permission.objects.filter(content_type__app_label="reports", codename__in=codenames)
            )
    recon = importlib.import_module("reports.migrations.0006_sample_channels")
    proposals = importlib.import_module("reports.migrations.0008_recon_view_proposals").GRANTS
    for group_name, perms in recon.GRANTS.items():
        group = Group.objects.get(name=group_name)
        for grant in [*perms, *proposals.get(group_name, [])]:
            if grant == "view":
                group.permissions.add(
                    *Permission.objects.filter(
                        content_type__app_label="reports", codename__in=[f"view_{m}" for m in recon.MODELS]
                    )
                )
            else:
                app_label, codename = grant.split(".")
                group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def staff_user(username: str, role: str | None) -> User:
    user = User.objects.create_user(username, password="password", is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def balance_row(account: Account, day: date, opening, debit, credit, closing, count=0) -> DailyBalance:
    t = account.account_type
    SheetDay.objects.get_or_create(entity=account.entity, accounting_date=day)  # the pages read the days built
    return DailyBalance.objects.create(
        entity=account.entity,
        accounting_date=day,
        account=account,
        account_type_code=t.code,
        subject_code=t.subject_code,
        category=t.category,
        currency=account.currency,
        opening=Decimal(opening),
        debit=Decimal(debit),
        credit=Decimal(credit),
        closing=Decimal(closing),
        entry_count=count,
    )


@dataclass
class Books:
    """A day of real postings: Alice recharges 1,000.00, pays Bob 300.00."""

    ledger: object
    day: date
    alice: Account
    bob: Account
    channel: Account
    requests: dict[str, str] = field(default_factory=dict)

    def daily_balances_from_entries(self) -> None:
        """The day's DailyBalance rows, worked out from its entries."""
        DailyBalance.objects.filter(accounting_date=self.day).delete()
        for account in Account.objects.filter(entries__accounting_date=self.day).distinct():
            entries = list(Entry.objects.filter(account=account, accounting_date=self.day).order_by("account_seq"))
            debit = sum((e.amount for e in entries if e.direction == "D"), Decimal(0))
            credit = sum((e.amount for e in entries if e.direction == "C"), Decimal(0))
            balance_row(
                account, self.day, entries[0].balance_before, debit, credit, entries[-1].balance_after, len(entries)
            )

    def vouchers_from_entries(self) -> list[Voucher]:
        """The day's balanced vouchers (one per business type), built by the
        vouchers step itself (tests/reports/test_vouchers.py checks it against
        figures worked by hand)."""
        vouchers_build(entity=self.ledger.entity, accounting_date=self.day)
        return list(Voucher.objects.filter(entity=self.ledger.entity, accounting_date=self.day).order_by("number"))

    def check(self, name: str, passed: bool, details=(), summary: str = "") -> CheckResult:
        return CheckResult.objects.create(
            entity=self.ledger.entity,
            accounting_date=self.day,
            check_name=name,
            passed=passed,
            details=list(details),
            summary=summary,
            checked_rows=3,
        )


def make_books(ledger) -> Books:
    alice = ledger.cash(ledger.member("Alice Zhang"))
    bob = ledger.cash(ledger.member("Bob Li"))
    channel = ledger.channel()
    books = Books(
        ledger=ledger, day=current_accounting_date(entity=ledger.entity), alice=alice, bob=bob, channel=channel
    )
    books.requests["recharge"] = ledger.next_request("rc")
    ledger.recharge(alice, Decimal("1000.00"), request_no=books.requests["recharge"])
    books.requests["transfer"] = ledger.next_request("tf")
    posting_create_by_rule(
        business_type="transfer",
        request_no=books.requests["transfer"],
        params={"payer_account": alice.account_no, "payee_account": bob.account_no, "amount": "300.00"},
        posted_by="test",
    )
    books.daily_balances_from_entries()
    return books


@pytest.fixture
def books(ledger) -> Books:
    ensure_report_roles()
    return make_books(ledger)


@pytest.fixture
def as_role(db):
    """A test client logged in as a fresh user of ``role`` (None: anonymous)."""
    ensure_report_roles()
    made: dict[str, User] = {}

    def make(role: str | None) -> Client:
        client = Client()
        if role is not None:
            if role not in made:
                made[role] = staff_user(role.lower().replace(" ", "_"), role)
            client.force_login(made[role])
        return client

    return make


def expect(response, role: str | None, allowed: set[str], ok: int = 200):
    if role is None:
        assert response.status_code == 302, response.status_code
        assert response["Location"].startswith(reverse("admin:login") + "?next=")
    elif role in allowed:
        assert response.status_code == ok, (role, response.status_code)
    else:
        assert response.status_code == 403, (role, response.status_code)


def body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def csv_rows(response) -> list[dict]:
    text = body(response).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def xlsx_rows(response) -> list[dict]:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(body(response)), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
