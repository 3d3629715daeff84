"""Helpers of the credit tests: a product, a member with a wallet and a
credit line, and days that end as the end of day ends them (the cut, the
credit step, the close), read back as a test compares them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from accounts.models import Account
from postings.credit.models import Bill, CreditAccrual, CreditProduct
from postings.credit.services import bills_issue_due, credit_day_end
from postings.models import AccountingCalendar, AccountingDay
from postings.services import posting_create_by_rule
from postings.services.calendar import calendar_for, day_close, day_cut

D = Decimal
_n = itertools.count(1)


def product(ledger, **overrides) -> CreditProduct:
    values = dict(
        entity=ledger.entity,
        currency="CNY",
        billing_day=1,
        due_days=9,
        daily_interest_rate=D("0.0005"),
        daily_penalty_rate=D("0.0003"),
        minimum_percent=D("0.10"),
        minimum_floor=D("50"),
        grace_days=0,
        grace_amount=D("0"),
    )
    values.update(overrides)
    ledger.internal("INTEREST_INCOME")
    ledger.internal("PENALTY_INCOME")
    return CreditProduct.objects.create(**values)


def open_on(entity, day: date) -> None:
    """Start the entity's calendar on ``day`` (test setup; the day cut moves it in production)."""
    calendar_for(entity=entity)
    AccountingCalendar.objects.filter(entity=entity).update(open_date=day)
    AccountingDay.objects.get_or_create(entity=entity, date=day)


def today(entity) -> date:
    return calendar_for(entity=entity).open_date


def end_day(entity) -> date:
    """End the open day as the end of day does for credit: cut it, allocate
    its credits and book the next day's accruals, close it; then the bills'
    beat job. Returns the new open day."""
    day = today(entity)
    day_cut(entity=entity, day=day)
    credit_day_end(entity=entity, day=day)
    day_close(entity=entity, day=day)
    bills_issue_due()
    return day + timedelta(days=1)


def run_until(entity, day: date) -> None:
    """End days until ``day`` is the open day."""
    while today(entity) < day:
        end_day(entity)


@dataclass
class Member:
    cash: Account
    credit: Account
    shop: Account


def member(ledger, *, limit="5000", cash="100000") -> Member:
    person = ledger.member()
    wallet, credit = ledger.cash(person), ledger.credit(person, limit=limit)
    ledger.recharge(wallet, cash)
    return Member(wallet, credit, ledger.cash())


def buy(m: Member, amount, request_no: str | None = None):
    return posting_create_by_rule(
        business_type="credit_purchase",
        request_no=request_no or f"buy-{next(_n)}",
        params={"credit_account": m.credit.account_no, "merchant_account": m.shop.account_no, "amount": str(amount)},
        posted_by="shop",
    )


def bills_of(account: Account) -> list[Bill]:
    return list(Bill.objects.filter(account=account).order_by("period_end"))


def accruals_of(account: Account, kind: str | None = None) -> list[CreditAccrual]:
    qs = CreditAccrual.objects.filter(account=account).order_by("accrual_date", "kind")
    return list(qs.filter(kind=kind) if kind else qs)


def owed(account: Account) -> Decimal:
    return Account.objects.get(pk=account.pk).balance


def statement(bill: Bill) -> dict:
    """A bill's figures as strings with cents, the way a test states them."""
    names = ("opening", "purchases", "repayments", "refunds", "interest", "penalties", "closing", "minimum_due")
    return {
        "period": f"{bill.period_start}..{bill.period_end}",
        "due": str(bill.due_date),
        **{n: f"{getattr(bill, n):.2f}" for n in names},
    }


def ensure_credit_roles() -> None:
    """The roles' credit grants as the migrations leave them (a transactional test empties them)."""
    import importlib

    from django.contrib.auth.models import Group, Permission

    for role in ("Finance staff", "Auditor", "Ledger admin", "Reviewer", "Cashier"):
        Group.objects.get_or_create(name=role)
    for migration, app_label in (
        ("accounts.migrations.0011_credit_limit_history_and_interest_income", "accounts"),
        ("postings.migrations.0030_credit_product_bills_accruals", "postings"),
    ):
        for group_name, codenames in importlib.import_module(migration).GRANTS.items():
            group, _ = Group.objects.get_or_create(name=group_name)
            group.permissions.add(*Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
