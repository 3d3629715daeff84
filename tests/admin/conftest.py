"""A small book to browse: Alice's wallet with a back-dated and a current
recharge, a reversed recharge, a partly settled hold, and a credit line with
a purchase on it. Built through the services, as production does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from django.urls import reverse

from accounts.models import Account
from postings.models import Hold, Posting
from postings.services import hold_place, hold_settle, posting_create_by_rule, posting_reverse

OLD_DATE = date(2024, 3, 1)


@dataclass
class Book:
    alice: Account
    alice_credit: Account
    shop: Account
    channel: Account
    old_recharge: Posting  # 100 on OLD_DATE
    recharge: Posting  # 250 today
    reversed_recharge: Posting  # 5 today, then reversed
    reversal: Posting
    hold: Hold  # 30 held, 10 settled
    settlement: Posting
    purchase: Posting  # 300 on Alice's credit line, paid to the shop


def post(rule: str, request_no: str, *, accounting_date=None, **accounts_and_amounts) -> Posting:
    params = {k: getattr(v, "account_no", v) for k, v in accounts_and_amounts.items()}
    return posting_create_by_rule(
        business_type=rule, request_no=request_no, params=params, posted_by="test", accounting_date=accounting_date
    )


@pytest.fixture
def book(ledger) -> Book:
    alice = ledger.cash(ledger.member("Alice"))
    shop = ledger.cash(ledger.member("Shop"))
    alice_credit = ledger.credit(alice.member, limit="1000")
    channel = ledger.channel()
    old = post(
        "recharge", "rc-old", member_account=alice, channel_account=channel, amount="100", accounting_date=OLD_DATE
    )
    recharge = post("recharge", "rc-today", member_account=alice, channel_account=channel, amount="250")
    small = post("recharge", "rc-small", member_account=alice, channel_account=channel, amount="5")
    reversal = posting_reverse(serial_no=small.serial_no, request_no="rv-small", posted_by="test")
    hold = hold_place(
        account_no=alice.account_no, amount="30", reason="withdrawal W1", request_no="hold-w1", actor="test"
    )
    settlement = hold_settle(
        hold_id=hold.id,
        request_no="settle-w1",
        amount="10",
        business_type="withdrawal",
        actor="test",
        counter_account_no=channel.account_no,
    )
    purchase = post("credit_purchase", "cp-1", credit_account=alice_credit, merchant_account=shop, amount="300")
    hold.refresh_from_db()
    return Book(
        alice=ledger.fresh(alice),
        alice_credit=ledger.fresh(alice_credit),
        shop=ledger.fresh(shop),
        channel=ledger.fresh(channel),
        old_recharge=old,
        recharge=recharge,
        reversed_recharge=small,
        reversal=reversal,
        hold=hold,
        settlement=settlement,
        purchase=purchase,
    )


def admin_url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def inline_management(response) -> dict[str, int]:
    """Management-form data for the inlines of a rendered change form, with
    no rows: the inlines on our forms are read-only history."""
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    return data


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]
