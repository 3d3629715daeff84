"""The worked examples of docs/domain.md, posted as an accountant would book them.

| business event            | entries                                 | asset | liability | internal |
| recharge 100 (充值)        | Dr channel 100 / Cr user cash 100       |   0   |   +100    |  -100    |
| withdraw 100 (提现)        | Dr user cash 100 / Cr channel 100       |   0   |   -100    |  +100    |
| transfer 100 (转账)        | Dr payer cash / Cr payee cash           |   0   |  +100-100 |    0     |
| credit purchase 100       | Dr user credit / Cr merchant cash       | +100  |   +100    |    0     |
| credit repayment 100 (还款)| Dr user cash / Cr user credit           | -100  |   -100    |    0     |
| fee 2 on a withdrawal     | Dr user cash 2 / Cr fee income 2        |   0   |    -2     |   +2     |

After each row the category totals move exactly as the table says, and
sum(asset) = sum(liability) + sum(internal) holds.
"""

import itertools
from decimal import Decimal

import pytest

from postings.selectors import identity_totals
from postings.services import Leg, posting_create, posting_create_by_rule

pytestmark = pytest.mark.django_db
_requests = itertools.count(1)


def totals():
    (row,) = identity_totals()
    assert row.holds, f"identity broken: {row}"
    return row.asset, row.liability, row.internal


def moved(before, after):
    return tuple(a - b for a, b in zip(after, before))


@pytest.fixture
def book(ledger):
    alice, bob, shop = ledger.cash(), ledger.cash(), ledger.cash()
    alice_credit = ledger.credit(alice.member, limit="1000")
    channel, fee_income = ledger.channel(), ledger.internal("FEE_INCOME")
    ledger.recharge(alice, "500")
    ledger.recharge(bob, "500")
    return dict(alice=alice, bob=bob, shop=shop, alice_credit=alice_credit, channel=channel, fee=fee_income)


def post(rule, **params):
    params = {k: (v.account_no if hasattr(v, "account_no") else v) for k, v in params.items()}
    return posting_create_by_rule(
        business_type=rule, request_no=f"{rule}-{next(_requests)}", params=params, posted_by="accountant"
    )


def test_recharge_100(book, ledger):
    before = totals()
    post("recharge", member_account=book["alice"], channel_account=book["channel"], amount="100")
    assert moved(before, totals()) == (0, 100, -100)
    assert ledger.balance(book["alice"]) == Decimal("600")
    assert ledger.balance(book["channel"]) == Decimal("-1100")  # clearing goes negative on every recharge


def test_withdraw_100(book, ledger):
    before = totals()
    posting_create(
        request_no="wd-1",
        business_type="withdrawal",
        posted_by="accountant",
        legs=[Leg.debit(book["alice"].account_no, "100"), Leg.credit(book["channel"].account_no, "100")],
    )
    assert moved(before, totals()) == (0, -100, 100)
    assert ledger.balance(book["alice"]) == Decimal("400")


def test_transfer_100(book, ledger):
    before = totals()
    post("transfer", payer_account=book["alice"], payee_account=book["bob"], amount="100")
    assert moved(before, totals()) == (0, 0, 0)
    assert (ledger.balance(book["alice"]), ledger.balance(book["bob"])) == (Decimal("400"), Decimal("600"))


def test_credit_purchase_100(book, ledger):
    before = totals()
    post("credit_purchase", credit_account=book["alice_credit"], merchant_account=book["shop"], amount="100")
    assert moved(before, totals()) == (100, 100, 0)
    credit = ledger.fresh(book["alice_credit"])
    assert (credit.balance, credit.available) == (Decimal("100"), Decimal("900"))
    assert ledger.balance(book["shop"]) == Decimal("100")


def test_credit_repayment_100(book, ledger):
    post("credit_purchase", credit_account=book["alice_credit"], merchant_account=book["shop"], amount="100")
    before = totals()
    post("credit_repayment", cash_account=book["alice"], credit_account=book["alice_credit"], amount="100")
    assert moved(before, totals()) == (-100, -100, 0)
    assert ledger.fresh(book["alice_credit"]).available == Decimal("1000")
    assert ledger.balance(book["alice"]) == Decimal("400")


def test_fee_2_on_a_withdrawal(book, ledger):
    before = totals()
    post("withdrawal", member_account=book["alice"], channel_account=book["channel"], amount="100", fee="2")
    # withdrawal 100 and fee 2 together: liability -102, internal +100 +2
    assert moved(before, totals()) == (0, -102, 102)
    assert ledger.balance(book["fee"]) == Decimal("2")
    assert ledger.balance(book["alice"]) == Decimal("398")


def test_fee_rule_alone(book, ledger):
    before = totals()
    post("fee", member_account=book["alice"], amount="2")
    assert moved(before, totals()) == (0, -2, 2)


def test_withdrawal_without_fee_leaves_out_the_zero_leg(book):
    posting = post("withdrawal", member_account=book["alice"], channel_account=book["channel"], amount="50", fee="0")
    assert posting.entries.count() == 2


def test_entries_record_balance_before_and_after(book):
    posting = post("transfer", payer_account=book["alice"], payee_account=book["bob"], amount="120.50")
    by_account = {e.account_id: e for e in posting.entries.all()}
    payer, payee = by_account[book["alice"].id], by_account[book["bob"].id]
    assert (payer.direction, payer.balance_before, payer.balance_after) == ("D", Decimal("500"), Decimal("379.50"))
    assert (payee.direction, payee.balance_before, payee.balance_after) == ("C", Decimal("500"), Decimal("620.50"))
    assert {payer.account_seq, payee.account_seq} == {2}
