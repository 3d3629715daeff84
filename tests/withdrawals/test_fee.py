"""The withdrawal fee (手续费): fixed + rate% of the amount, rounded UP to the
cent (the company never under-charges by a fraction of a cent), then kept
between the rule's minimum and maximum. The default CNY rule: 1.00 + 0.1%,
at least 2.00, at most 25.00. What is frozen is amount + fee."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from withdrawals.models import FeeRule
from withdrawals.selectors import fee_for

pytestmark = pytest.mark.django_db

D = Decimal


def standard_rules_made_earlier():
    """The migration's rules bear the time the test database was made, which
    a test's clock (pytest --clock) may precede: date them a day back, so a
    rule the test makes is the newest whatever the clock says."""
    FeeRule.objects.update(created_at=timezone.now() - timedelta(days=1))


@pytest.mark.parametrize(
    "amount, fee",
    [
        ("1234.56", "2.24"),  # 1.00 + 1.23456 = 2.23456 -> up to 2.24 (never down to 2.23)
        ("1500.01", "2.51"),  # 1.00 + 1.50001 = 2.50001 -> 2.51: even 0.00001 rounds up
        ("2000.00", "3.00"),  # exactly 3.00 stays 3.00
        ("1000.00", "2.00"),  # 1.00 + 1.00 = 2.00, the minimum exactly
        ("100.00", "2.00"),  # 1.10 is below the minimum: 2.00
        ("0.01", "2.00"),  # the smallest withdrawal still pays the minimum
        ("23999.99", "25.00"),  # 1.00 + 23.99999 = 24.99999 -> up to 25.00, just within the cap
        ("24000.00", "25.00"),  # 1.00 + 24.00 = 25.00, the maximum exactly
        ("30000.00", "25.00"),  # 31.00 capped at 25.00
        ("1000000.00", "25.00"),
    ],
)
def test_default_cny_fee(desk, amount, fee):
    value, rule = fee_for(amount=D(amount), currency="CNY")
    assert value == D(fee)
    assert rule.name == "Standard CNY withdrawal fee"


def test_the_frozen_amount_is_amount_plus_fee(desk):
    w = desk.request("1234.56")
    assert (w.amount, w.fee, w.total) == (D("1234.56"), D("2.24"), D("1236.80"))
    assert (w.hold.amount, w.hold.remaining) == (D("1236.80"), D("1236.80"))
    account = desk.ledger.fresh(desk.member_account)
    assert (account.balance, account.frozen, account.available) == (D("100000.00"), D("1236.80"), D("98763.20"))
    assert w.fee_rule.name == "Standard CNY withdrawal fee"


def test_minimum_and_maximum_are_frozen_too(desk):
    small, large = desk.request("10.00"), desk.request("40000.00")
    assert (small.fee, large.fee) == (D("2.00"), D("25.00"))
    assert desk.ledger.fresh(desk.member_account).frozen == D("12.00") + D("40025.00")


def test_no_rule_means_no_fee(desk):
    FeeRule.objects.filter(currency="CNY").update(active=False)
    assert fee_for(amount=D("1234.56"), currency="CNY") == (D("0"), None)
    w = desk.request("1234.56")
    assert (w.fee, w.fee_rule, w.hold.amount) == (D("0"), None, D("1234.56"))
    assert desk.ledger.fresh(desk.member_account).frozen == D("1234.56")


def test_a_currency_without_a_rule_pays_no_fee(desk):
    assert fee_for(amount=D("500.00"), currency="USD") == (D("0"), None)


def test_the_newest_active_rule_wins(desk):
    standard_rules_made_earlier()
    FeeRule.objects.create(
        name="Promotion", currency="CNY", fixed=D("0.50"), rate_percent=D("0.05"), minimum=D("1.00"), maximum=D("10.00")
    )
    # 0.50 + 0.61728 = 1.11728 -> 1.12
    value, rule = fee_for(amount=D("1234.56"), currency="CNY")
    assert (value, rule.name) == (D("1.12"), "Promotion")
    assert desk.request("1234.56").fee == D("1.12")

    # An even newer rule that is switched off changes nothing.
    FeeRule.objects.create(name="Draft", currency="CNY", fixed=D("9.00"), minimum=D("9.00"), active=False)
    assert fee_for(amount=D("1234.56"), currency="CNY")[1].name == "Promotion"

    # Switching the promotion off brings the standard rule back.
    FeeRule.objects.filter(name="Promotion").update(active=False)
    assert fee_for(amount=D("1234.56"), currency="CNY") == (
        D("2.24"),
        FeeRule.objects.get(name="Standard CNY withdrawal fee"),
    )


def test_a_rule_without_maximum_is_uncapped(desk):
    standard_rules_made_earlier()
    FeeRule.objects.create(name="Uncapped", currency="CNY", fixed=D("0"), rate_percent=D("0.1"), minimum=D("0"))
    assert fee_for(amount=D("100000.00"), currency="CNY")[0] == D("100.00")
    # 0.1% of 0.01 is 0.00001: rounded up, the company still charges a cent.
    assert fee_for(amount=D("0.01"), currency="CNY")[0] == D("0.01")


def test_rounding_is_to_the_currency_unit(desk):
    """JPY has no minor unit: the fee rounds up to a whole yen."""
    FeeRule.objects.create(name="JPY", currency="JPY", fixed=D("10"), rate_percent=D("0.1"), minimum=D("0"))
    assert fee_for(amount=D("12345"), currency="JPY")[0] == D("23")  # 10 + 12.345 -> 23
