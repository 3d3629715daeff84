"""A small book over September, October and November 2026 for the monthly
statement tests: who should get October's statement and with what figures.

- Alice: 100.00 in September; in October pays Bob 30.00 and gets 20.50;
  1.00 more in November (not October's). Statement: 100.00 → 90.50.
- Bob: receives 30.00 in October. Statement: 0.00 → 30.00.
- Carol: 50.00 in September, 10.00 from Dave the same day, nothing in
  October: a balance, so a statement with no entries, 60.00 → 60.00.
- Dave: 10.00 in and out in September: nothing in October, nothing left,
  no statement. The channel is an internal account: no statement.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.contrib.auth.models import Group, Permission

from accounts.models import Account
from postings.services import Leg, posting_create
from postings.services.calendar import day_cut
from tests.reports.eod_books import open_books_on
from tests.withdrawals.conftest import ensure_withdrawal_defaults

OCTOBER = date(2026, 10, 1)


@dataclass
class Books:
    alice: Account
    bob: Account
    carol: Account
    dave: Account
    channel: Account

    expected = {
        # name: (opening, debit total, credit total, closing, entries)
        "alice": (Decimal("100.00"), Decimal("30.00"), Decimal("20.50"), Decimal("90.50"), 2),
        "bob": (Decimal("0.00"), Decimal("0.00"), Decimal("30.00"), Decimal("30.00"), 1),
        "carol": (Decimal("60.00"), Decimal("0.00"), Decimal("0.00"), Decimal("60.00"), 0),
    }


def _transfer(payer, payee, amount, request_no):
    posting_create(
        business_type="transfer",
        request_no=request_no,
        legs=[Leg(payer.account_no, "D", amount), Leg(payee.account_no, "C", amount)],
        posted_by="test",
    )


def october_books(ledger, *, cut_october: bool = True) -> Books:
    entity = ledger.entity
    alice, bob = ledger.cash(ledger.member("Alice 张三")), ledger.cash(ledger.member("Bob 李四"))
    carol, dave = ledger.cash(ledger.member("Carol")), ledger.cash(ledger.member("Dave"))
    open_books_on(entity, date(2026, 9, 30))
    ledger.recharge(alice, "100.00")
    ledger.recharge(carol, "50.00")
    ledger.recharge(dave, "10.00")
    _transfer(dave, carol, "10.00", "sb-dave")
    open_books_on(entity, date(2026, 10, 15))
    _transfer(alice, bob, "30.00", "sb-alice-bob")
    open_books_on(entity, date(2026, 10, 31))
    ledger.recharge(alice, "20.50")
    if cut_october:
        day_cut(entity=entity, day=date(2026, 10, 31))
        ledger.recharge(alice, "1.00")  # dated 2026-11-01
    return Books(alice, bob, carol, dave, ledger.channel())


def ensure_statement_roles() -> None:
    """The roles with their grants (a transactional test's flush empties them)."""
    ensure_withdrawal_defaults()
    grants = importlib.import_module("postings.migrations.0026_monthly_statements").GRANTS
    for group_name, codenames in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="postings", codename__in=codenames))
