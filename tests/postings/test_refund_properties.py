"""Property test: any sequence of partial refunds of a payment carrying fee
and revenue-share legs never takes a leg beyond what it moved, each refund
adds back to its amount to the cent on both sides, and the identity
sum(asset) = sum(liability) + sum(internal) holds after each. A final refund
of what is left takes every leg to exactly its amount."""

from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postings.models import RefundPolicy, RefundRounding
from postings.selectors import identity_totals, refunded_legs
from postings.services import Leg, posting_create, refund_create
from tests.conftest import Ledger

cents = st.integers(min_value=1, max_value=100_000).map(lambda n: Decimal(n).scaleb(-2))


class Rollback(Exception):
    pass


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    principal=cents,
    fee=st.one_of(st.just(Decimal(0)), cents),
    share=st.one_of(st.just(Decimal(0)), cents),
    refunds=st.lists(cents, min_size=1, max_size=8),
    rounding=st.sampled_from(RefundRounding.values),
)
def test_partial_refunds_never_exceed_a_leg_and_keep_the_books(principal, fee, share, refunds, rounding):
    try:
        with transaction.atomic():
            ledger = Ledger()
            payer, merchant, partner = ledger.cash(), ledger.cash(), ledger.cash()
            fee_income = ledger.internal("FEE_INCOME")
            total = principal + fee + share
            ledger.recharge(payer, total)
            RefundPolicy.objects.update_or_create(business_type="transfer", defaults={"rounding": rounding})
            legs = [Leg.debit(payer.account_no, total), Leg.credit(merchant.account_no, principal)]
            legs += [Leg.credit(fee_income.account_no, fee)] if fee else []
            legs += [Leg.credit(partner.account_no, share)] if share else []
            payment = posting_create(request_no="pay", business_type="transfer", posted_by="prop", legs=legs)
            refunded = Decimal(0)
            for n, amount in enumerate([*refunds, None]):
                left = total - refunded
                if amount is None:  # the last refund: what is left, if anything
                    if not left:
                        break
                    amount = left
                try:
                    done = refund_create(
                        serial_no=payment.serial_no, request_no=f"r{n}", amount=amount, requested_by="prop"
                    )
                except Exception as refusal:  # noqa: BLE001 - only an over-refund may be refused
                    assert getattr(refusal, "code", None) == "refund_exceeds_original" and amount > left, refusal
                else:
                    refunded += amount
                    moved = {"D": Decimal(0), "C": Decimal(0)}
                    for entry in done.posting.entries.all():
                        moved[entry.direction] += entry.amount
                    assert moved == {"D": amount, "C": amount}
                    assert sum(leg.amount for leg in done.legs.all()) == 2 * amount
                for leg in refunded_legs(original=payment):
                    assert 0 <= leg.refunded <= leg.entry.amount, leg
                assert all(t.holds for t in identity_totals())
            assert all(leg.refunded == leg.entry.amount for leg in refunded_legs(original=payment))
            assert ledger.balance(payer) == total
            raise Rollback
    except Rollback:
        pass
