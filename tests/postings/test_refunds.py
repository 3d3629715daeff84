"""Refunds (退款) as finance books them: linked to the payment, pro rata over
its fee and revenue-share legs, never more than a leg moved, late and large
ones approved by a second person, a short merchant refused or paid from its
reserve.

The payment every test refunds, 100.00 from Alice to the shop:

| leg                          | Dr     | Cr    |
| Alice's wallet (payer)        | 100.00 |       |
| the shop's wallet (merchant)  |        | 97.00 |
| fee income (手续费)            |        |  2.00 |
| the partner's wallet (分润)    |        |  1.00 |
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.utils import timezone

from accounts.kernel.errors import IdempotencyConflict, IllegalTransition, LedgerValidationError, NotAllowed
from postings.exceptions import (
    RefundExceedsOriginal,
    RefundNotAllowed,
    RefundSamePerson,
    RefundWindowPassed,
    ReversalNotAllowed,
    UnknownPosting,
)
from postings.models import MerchantReserve, Posting, RefundLeg, RefundPolicy, RefundRounding, RefundStatus
from postings.selectors import identity_totals, refunded_legs
from postings.services import (
    Leg,
    posting_create,
    posting_reverse,
    refund_approve,
    refund_create,
    refund_reject,
)
from postings.services.refunds import refund_split

pytestmark = pytest.mark.django_db
_n = itertools.count(1)
D = Decimal


def req(prefix="rf"):
    return f"{prefix}-{next(_n)}"


@pytest.fixture
def shop(ledger):
    alice, merchant, partner = ledger.cash(), ledger.cash(), ledger.cash()
    fee = ledger.internal("FEE_INCOME")
    ledger.recharge(alice, "500")
    payment = posting_create(
        request_no=req("pay"),
        business_type="transfer",
        posted_by="trade",
        legs=[
            Leg.debit(alice.account_no, "100.00"),
            Leg.credit(merchant.account_no, "97.00"),
            Leg.credit(fee.account_no, "2.00"),
            Leg.credit(partner.account_no, "1.00"),
        ],
    )
    return dict(alice=alice, merchant=merchant, partner=partner, fee=fee, payment=payment)


def refund(shop, amount, **kw):
    kw.setdefault("request_no", req())
    kw.setdefault("requested_by", "trade")
    return refund_create(serial_no=shop["payment"].serial_no, amount=amount, **kw)


def legs_of(refund_row, shop):
    """(account role, direction, amount) of the refund posting's entries."""
    names = {shop[k].pk: k for k in ("alice", "merchant", "partner", "fee")}
    return sorted(
        (names.get(e.account_id, e.account_id), e.direction, e.amount) for e in refund_row.posting.entries.all()
    )


def refunded_so_far(shop):
    names = {shop[k].pk: k for k in ("alice", "merchant", "partner", "fee")}
    return {names[leg.entry.account_id]: leg.refunded for leg in refunded_legs(original=shop["payment"])}


def identity_holds():
    return all(t.holds for t in identity_totals())


def staff(name, *groups):
    user = User.objects.create_user(name, password="pw", is_staff=True)
    for group in groups:
        user.groups.add(Group.objects.get(name=group))
    return user


# ------------------------------------------------------ worked example ----


def test_a_payment_with_fee_and_revenue_share_refunded_in_three_parts_adds_back_to_the_cent(shop, ledger):
    first = refund(shop, "30.00")
    # 30 % of every leg: exact.
    assert legs_of(first, shop) == [
        ("alice", "C", D("30.00")),
        ("fee", "D", D("0.60")),
        ("merchant", "D", D("29.10")),
        ("partner", "D", D("0.30")),
    ]
    assert identity_holds()

    second = refund(shop, "33.33")
    # 33.33 of the 70.00 left: 32.3301 / 0.6666 / 0.3333 floored to 32.33 / 0.66 / 0.33 (33.32);
    # the cent left goes to the largest remainder, the fee's .0066.
    assert legs_of(second, shop) == [
        ("alice", "C", D("33.33")),
        ("fee", "D", D("0.67")),
        ("merchant", "D", D("32.33")),
        ("partner", "D", D("0.33")),
    ]
    assert identity_holds()

    last = refund(shop, "36.67")
    # The last refund takes exactly what is left of every leg.
    assert legs_of(last, shop) == [
        ("alice", "C", D("36.67")),
        ("fee", "D", D("0.73")),
        ("merchant", "D", D("35.57")),
        ("partner", "D", D("0.37")),
    ]
    assert refunded_so_far(shop) == {"alice": D("100"), "merchant": D("97"), "fee": D("2"), "partner": D("1")}
    assert ledger.balance(shop["alice"]) == D("500.00")
    assert (ledger.balance(shop["merchant"]), ledger.balance(shop["partner"]), ledger.balance(shop["fee"])) == (0, 0, 0)
    assert identity_holds()
    assert [r.original_id for r in (first, second, last)] == [shop["payment"].serial_no] * 3
    assert {r.posting.business_type for r in (first, second, last)} == {"refund"}

    with pytest.raises(RefundExceedsOriginal):
        refund(shop, "0.01")


def test_fees_rounded_down_by_policy_the_merchant_takes_the_cent(shop):
    RefundPolicy.objects.create(business_type="transfer", rounding=RefundRounding.FEES_DOWN)
    refund(shop, "30.00")
    second = refund(shop, "33.33")
    assert legs_of(second, shop) == [
        ("alice", "C", D("33.33")),
        ("fee", "D", D("0.66")),
        ("merchant", "D", D("32.34")),
        ("partner", "D", D("0.33")),
    ]


def test_three_refunds_of_the_whole_payment_only_the_first_is_taken(ledger):
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "10")
    payment = posting_create(
        request_no=req("pay"),
        business_type="transfer",
        posted_by="trade",
        legs=[Leg.debit(payer.account_no, "10.00"), Leg.credit(payee.account_no, "10.00")],
    )
    refund_create(serial_no=payment.serial_no, request_no=req(), amount="10.00", requested_by="trade")
    for _ in range(2):
        with pytest.raises(RefundExceedsOriginal) as refused:
            refund_create(serial_no=payment.serial_no, request_no=req(), amount="10.00", requested_by="trade")
        assert refused.value.fields["left_to_refund"] == 0
    assert (ledger.balance(payer), ledger.balance(payee)) == (D("10.00"), D("0.00"))


def test_split_is_lossless_and_never_above_a_leg():
    assert refund_split(remaining=[D("0.01")] * 3, amount=D("0.02"), places=2, rounding="fees_down") == [
        D("0.01"),
        D("0.01"),
        D("0.00"),
    ]
    assert refund_split(
        remaining=[D("97"), D("2"), D("1")], amount=D("0.01"), places=2, rounding="largest_remainder"
    ) == [D("0.01"), D("0"), D("0")]


# --------------------------------------------------------- idempotency ----


def test_same_request_answers_the_same_refund_other_content_is_a_conflict(shop, ledger):
    first = refund(shop, "10.00", request_no="rf-same")
    again = refund(shop, "10.00", request_no="rf-same")
    assert (again.pk, again.replayed, first.replayed) == (first.pk, True, False)
    assert ledger.balance(shop["alice"]) == D("410.00")
    with pytest.raises(IdempotencyConflict):
        refund(shop, "11.00", request_no="rf-same")
    assert Posting.objects.filter(business_type="refund").count() == 1


def test_a_request_number_a_posting_used_is_a_conflict_and_nothing_moves(shop, ledger):
    used = shop["payment"].request_no
    with pytest.raises(IdempotencyConflict):
        refund(shop, "10.00", request_no=used, source_system="ledger")
    assert ledger.balance(shop["alice"]) == D("400.00")
    assert not RefundLeg.objects.exists()


# ---------------------------------------------------- what is refused ----


def test_reversals_refunds_and_reversed_postings_are_not_refunded(shop):
    first = refund(shop, "5.00")
    with pytest.raises(RefundNotAllowed):
        refund_create(serial_no=first.posting.serial_no, request_no=req(), amount="1", requested_by="t")
    with pytest.raises(ReversalNotAllowed):  # partly refunded: refund the rest instead
        posting_reverse(serial_no=shop["payment"].serial_no, request_no=req(), posted_by="t")
    with pytest.raises(UnknownPosting):
        refund_create(serial_no=999_999_999, request_no=req(), amount="1", requested_by="t")


def test_a_reversed_payment_is_not_refunded(ledger):
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "10")
    payment = posting_create(
        request_no=req("pay"),
        business_type="transfer",
        posted_by="trade",
        legs=[Leg.debit(payer.account_no, "10.00"), Leg.credit(payee.account_no, "10.00")],
    )
    reversal = posting_reverse(serial_no=payment.serial_no, request_no=req(), posted_by="t")
    with pytest.raises(RefundNotAllowed):
        refund_create(serial_no=payment.serial_no, request_no=req(), amount="1", requested_by="t")
    with pytest.raises(RefundNotAllowed):
        refund_create(serial_no=reversal.serial_no, request_no=req(), amount="1", requested_by="t")


@pytest.mark.parametrize("amount", ["0", "-1", "1.001", "abc"])
def test_bad_amounts_are_refused_and_nothing_changes(shop, amount):
    with pytest.raises(LedgerValidationError):
        refund(shop, amount)
    assert not shop["payment"].refunds.exists()


# ------------------------------------------------- insufficient funds ----


def test_merchant_short_is_refused_with_insufficient_funds(shop, ledger):
    spend = ledger.cash()
    posting_create(
        request_no=req("spend"),
        business_type="transfer",
        posted_by="t",
        legs=[Leg.debit(shop["merchant"].account_no, "90"), Leg.credit(spend.account_no, "90")],
    )
    with pytest.raises(Exception) as refused:
        refund(shop, "50.00")
    assert refused.value.code == "insufficient_funds"
    assert ledger.balance(shop["merchant"]) == D("7.00")
    assert not shop["payment"].refunds.exists()


def test_merchant_with_a_reserve_pays_the_shortfall_from_it(shop, ledger):
    reserve = ledger.cash(shop["merchant"].member)
    ledger.recharge(reserve, "100")
    MerchantReserve.objects.create(account=shop["merchant"], reserve_account=reserve)
    spend = ledger.cash()
    posting_create(
        request_no=req("spend"),
        business_type="transfer",
        posted_by="t",
        legs=[Leg.debit(shop["merchant"].account_no, "90"), Leg.credit(spend.account_no, "90")],
    )
    done = refund(shop, "50.00")
    # The merchant's share is 48.50; it has 7.00: the reserve pays 41.50.
    leg = done.legs.get(original_entry__account=shop["merchant"])
    assert (leg.amount, leg.from_reserve) == (D("48.50"), D("41.50"))
    assert ledger.balance(shop["merchant"]) == D("0.00")
    assert ledger.balance(reserve) == D("58.50")
    assert ledger.balance(shop["alice"]) == D("450.00")
    assert identity_holds()


# ------------------------------------------ late and large: two people ----


def test_a_late_payment_is_refused_to_a_business_system_and_approved_by_a_second_person(shop, ledger):
    maker, checker = staff("maker", "Finance staff"), staff("checker", "Finance staff")
    with time_machine.travel(timezone.now() + timedelta(days=366), tick=True):
        with pytest.raises(RefundWindowPassed):
            refund(shop, "10.00")
        with pytest.raises(LedgerValidationError):  # staff must say why
            refund(shop, "10.00", acting_user=maker)
        pending = refund(shop, "10.00", acting_user=maker, reason="customer complaint #88")
        assert (pending.status, pending.needs_approval, pending.posting) == (RefundStatus.PENDING, "late", None)
        assert ledger.balance(shop["alice"]) == D("400.00")
        with pytest.raises(RefundSamePerson):
            refund_approve(refund_id=pending.pk, acting_user=maker)
        done = refund_approve(refund_id=pending.pk, acting_user=checker, note="checked the complaint")
    assert (done.status, done.decided_by, done.proposed_by) == (RefundStatus.POSTED, checker, maker)
    assert ledger.balance(shop["alice"]) == D("410.00")
    assert refund_approve(refund_id=pending.pk, acting_user=checker).replayed  # posted once


def test_a_large_refund_waits_for_a_second_person_and_a_rejection_moves_nothing(shop, ledger):
    RefundPolicy.objects.create(business_type="transfer", approval_above=D("50.00"))
    checker = staff("checker", "Finance staff")
    small = refund(shop, "40.00")
    assert small.status == RefundStatus.POSTED
    large = refund(shop, "50.01")
    assert (large.status, large.needs_approval) == (RefundStatus.PENDING, "large")
    assert ledger.balance(shop["alice"]) == D("440.00")
    with pytest.raises(LedgerValidationError):
        refund_reject(refund_id=large.pk, acting_user=checker, note=" ")
    rejected = refund_reject(refund_id=large.pk, acting_user=checker, note="duplicate of a chargeback")
    assert rejected.status == RefundStatus.REJECTED
    with pytest.raises(IllegalTransition):
        refund_approve(refund_id=large.pk, acting_user=checker)
    assert ledger.balance(shop["alice"]) == D("440.00")


def test_who_may_refund_and_approve(shop):
    reviewer, auditor = staff("rev", "Reviewer"), staff("aud", "Auditor")
    with pytest.raises(NotAllowed):
        refund(shop, "1.00", acting_user=reviewer)
    RefundPolicy.objects.create(business_type="transfer", approval_above=D("1.00"))
    pending = refund(shop, "2.00")
    with pytest.raises(NotAllowed):
        refund_approve(refund_id=pending.pk, acting_user=auditor)
