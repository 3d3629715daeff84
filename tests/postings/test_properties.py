"""Property test: random sequences of postings, holds, settlements, releases
and reversals never break the books.

After every step: the identity sum(asset) = sum(liability) + sum(internal)
holds; no customer account is below what it may use; each account's frozen
amount is the sum of its active holds' remainders. At the end of a sequence:
each balance equals the signed sum of the account's entries, and every entry's
balance before is the previous entry's balance after. Refusals (insufficient
funds, ended holds, double reversals) are fine; any other error is a bug.
"""

from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.kernel.errors import LedgerError
from accounts.models import Account, Category
from postings.models import ACTIVE_HOLD_STATUSES, Hold, Posting
from postings.selectors import account_chain_breaks, account_signed_turnover, identity_totals
from postings.services import (
    hold_place,
    hold_release,
    hold_settle,
    posting_create_by_rule,
    posting_reverse,
)
from tests.conftest import Ledger

MEMBERS = 4
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("400"), places=2)
member = st.integers(0, MEMBERS - 1)
pick = st.integers(0, 10_000)

operations = st.one_of(
    st.tuples(st.just("recharge"), member, amounts),
    st.tuples(st.just("transfer"), member, member, amounts),
    st.tuples(st.just("credit_purchase"), member, member, amounts),
    st.tuples(st.just("repay"), member, amounts),
    st.tuples(st.just("withdraw_with_fee"), member, amounts, st.sampled_from([Decimal("0"), Decimal("2")])),
    st.tuples(st.just("hold"), member, amounts, st.booleans()),
    st.tuples(st.just("settle"), pick, amounts),
    st.tuples(st.just("release"), pick, st.one_of(st.none(), amounts)),
    st.tuples(st.just("reverse"), pick),
)


class Rollback(Exception):
    pass


class Book:
    def __init__(self):
        self.ledger = Ledger()
        self.cash = [self.ledger.cash() for _ in range(MEMBERS)]
        self.credit = [self.ledger.credit(self.cash[i].member, limit="300") for i in range(MEMBERS)]
        self.channel = self.ledger.channel()
        self.fee = self.ledger.internal("FEE_INCOME")
        self.escrow = self.ledger.internal("ESCROW")
        self.n = 0

    def req(self):
        self.n += 1
        return f"op-{self.n}"

    def apply(self, op):
        kind, *args = op
        rule = lambda bt, **p: posting_create_by_rule(  # noqa: E731
            business_type=bt,
            request_no=self.req(),
            posted_by="prop",
            params={k: getattr(v, "account_no", v) for k, v in p.items()},
        )
        if kind == "recharge":
            rule("recharge", member_account=self.cash[args[0]], channel_account=self.channel, amount=args[1])
        elif kind == "transfer":
            rule("transfer", payer_account=self.cash[args[0]], payee_account=self.cash[args[1]], amount=args[2])
        elif kind == "credit_purchase":
            rule(
                "credit_purchase",
                credit_account=self.credit[args[0]],
                merchant_account=self.cash[args[1]],
                amount=args[2],
            )
        elif kind == "repay":
            rule(
                "credit_repayment", cash_account=self.cash[args[0]], credit_account=self.credit[args[0]], amount=args[1]
            )
        elif kind == "withdraw_with_fee":
            rule(
                "withdrawal",
                member_account=self.cash[args[0]],
                channel_account=self.channel,
                amount=args[1],
                fee=args[2],
            )
        elif kind == "hold":
            account = (self.credit if args[2] else self.cash)[args[0]]
            hold_place(
                account_no=account.account_no, amount=args[1], reason="prop", request_no=self.req(), actor="prop"
            )
        elif kind in ("settle", "release"):
            holds = list(Hold.objects.order_by("id").values_list("id", flat=True))
            if not holds:
                return
            hold_id = holds[args[0] % len(holds)]
            if kind == "settle":
                hold_settle(
                    hold_id=hold_id,
                    request_no=self.req(),
                    amount=args[1],
                    business_type="guarantee_settlement",
                    actor="prop",
                    counter_account_no=self.escrow.account_no,
                )
            else:
                hold_release(hold_id=hold_id, request_no=self.req(), amount=args[1], actor="prop")
        elif kind == "reverse":
            serials = list(Posting.objects.order_by("serial_no").values_list("serial_no", flat=True))
            posting_reverse(serial_no=serials[args[0] % len(serials)], request_no=self.req(), posted_by="prop")

    def check_step(self):
        for totals in identity_totals():
            assert totals.holds, totals
        for account in Account.objects.all():
            held = account.holds.filter(status__in=ACTIVE_HOLD_STATUSES).aggregate(s=Sum("remaining"))["s"] or 0
            assert account.frozen == held, account
            if account.category != Category.INTERNAL:
                assert account.available >= 0, account
                assert account.balance >= 0, account

    def check_end(self):
        for account in Account.objects.all():
            assert account.balance == account_signed_turnover(account=account), account
            assert account_chain_breaks(account=account) == [], account


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(ops=st.lists(operations, min_size=1, max_size=25))
def test_random_sequences_keep_the_books(ops):
    try:
        with transaction.atomic():
            book = Book()
            # Seed some money so that more operations succeed than are refused.
            for i in range(MEMBERS):
                book.ledger.recharge(book.cash[i], "300")
            for op in ops:
                try:
                    book.apply(op)
                except LedgerError as refusal:
                    assert refusal.code in {
                        "insufficient_funds",
                        "hold_exceeded",
                        "hold_not_active",
                        "already_reversed",
                        "reversal_not_allowed",
                        "same_account",  # a transfer drawn from a member to itself
                    }, refusal
                book.check_step()
            book.check_end()
            raise Rollback
    except Rollback:
        pass
