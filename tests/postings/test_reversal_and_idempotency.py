"""Reversals (冲正) and request-number idempotency of postings."""

from decimal import Decimal

import pytest

from accounts.exceptions import InsufficientFunds
from accounts.kernel.errors import IdempotencyConflict
from postings.exceptions import AlreadyReversed, ReversalNotAllowed
from postings.models import Posting
from postings.selectors import account_chain_breaks, identity_totals
from postings.services import Leg, posting_create, posting_reverse

pytestmark = pytest.mark.django_db


def test_reversal_swaps_every_leg_and_links_the_original(ledger):
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "100")
    original = posting_create(
        request_no="t1",
        business_type="transfer",
        posted_by="t",
        legs=[Leg.debit(payer.account_no, "40"), Leg.credit(payee.account_no, "40")],
    )
    reversal = posting_reverse(serial_no=original.serial_no, request_no="t1-rev", posted_by="ops")
    assert reversal.reverses_id == original.serial_no
    assert reversal.business_type == "reversal"
    swapped = sorted((e.account_id, e.direction, e.amount) for e in reversal.entries.all())
    assert swapped == sorted([(payer.id, "C", Decimal("40")), (payee.id, "D", Decimal("40"))])
    assert (ledger.balance(payer), ledger.balance(payee)) == (Decimal("100"), Decimal("0"))
    # The original entries are still there, untouched: we never edit.
    assert original.entries.count() == 2
    assert account_chain_breaks(account=ledger.fresh(payer)) == []
    assert all(t.holds for t in identity_totals())


def test_a_posting_is_reversed_once_and_a_reversal_never(ledger):
    a = ledger.cash()
    recharge = ledger.recharge(a, "10")
    reversal = posting_reverse(serial_no=recharge.serial_no, request_no="r1", posted_by="ops")
    with pytest.raises(AlreadyReversed):
        posting_reverse(serial_no=recharge.serial_no, request_no="r2", posted_by="ops")
    with pytest.raises(ReversalNotAllowed):
        posting_reverse(serial_no=reversal.serial_no, request_no="r3", posted_by="ops")
    again = posting_reverse(serial_no=recharge.serial_no, request_no="r1", posted_by="ops")
    assert (again.serial_no, again.replayed) == (reversal.serial_no, True)
    assert ledger.balance(a) == 0


def test_reversing_money_already_spent_is_refused(ledger):
    a, b = ledger.cash(), ledger.cash()
    recharge = ledger.recharge(a, "10")
    posting_create(
        request_no="spend",
        business_type="transfer",
        posted_by="t",
        legs=[Leg.debit(a.account_no, "8"), Leg.credit(b.account_no, "8")],
    )
    with pytest.raises(InsufficientFunds):
        posting_reverse(serial_no=recharge.serial_no, request_no="rev", posted_by="ops")
    assert not Posting.objects.filter(business_type="reversal").exists()


def test_replay_returns_the_original_and_posts_nothing(ledger):
    a, b = ledger.cash(), ledger.cash()
    ledger.recharge(a, "100")
    legs = [Leg.debit(a.account_no, "25"), Leg.credit(b.account_no, "25")]
    first = posting_create(request_no="pay-1", business_type="transfer", legs=legs, posted_by="trade")
    second = posting_create(
        request_no="pay-1",
        business_type="transfer",
        posted_by="trade",
        legs=[Leg.credit(b.account_no, "25.00"), Leg.debit(a.account_no, Decimal("25"))],
    )
    assert (first.replayed, second.replayed, second.serial_no) == (False, True, first.serial_no)
    assert ledger.balance(a) == Decimal("75")


def test_same_request_no_other_content_is_a_conflict(ledger):
    a, b = ledger.cash(), ledger.cash()
    ledger.recharge(a, "100")
    posting_create(
        request_no="pay-2",
        business_type="transfer",
        posted_by="trade",
        legs=[Leg.debit(a.account_no, "25"), Leg.credit(b.account_no, "25")],
    )
    with pytest.raises(IdempotencyConflict) as err:
        posting_create(
            request_no="pay-2",
            business_type="transfer",
            posted_by="trade",
            legs=[Leg.debit(a.account_no, "26"), Leg.credit(b.account_no, "26")],
        )
    assert err.value.code == "idempotency_conflict" and err.value.http_status == 409
    assert ledger.balance(a) == Decimal("75")


def test_request_numbers_are_unique_per_source_system(ledger):
    a, b = ledger.cash(), ledger.cash()
    ledger.recharge(a, "100")
    legs = [Leg.debit(a.account_no, "1"), Leg.credit(b.account_no, "1")]
    p1 = posting_create(request_no="n-1", business_type="transfer", legs=legs, posted_by="x", source_system="trade")
    p2 = posting_create(request_no="n-1", business_type="transfer", legs=legs, posted_by="x", source_system="credit")
    assert p1.serial_no != p2.serial_no
    assert ledger.balance(b) == Decimal("2")


def test_a_reversal_replayed_with_another_memo_or_day_is_a_conflict(ledger):
    a = ledger.cash()
    recharge = ledger.recharge(a, "10")
    first = posting_reverse(serial_no=recharge.serial_no, request_no="r1", posted_by="ops", memo="typo")
    again = posting_reverse(serial_no=recharge.serial_no, request_no="r1", posted_by="ops", memo="typo")
    assert (again.serial_no, again.replayed) == (first.serial_no, True)
    with pytest.raises(IdempotencyConflict):
        posting_reverse(serial_no=recharge.serial_no, request_no="r1", posted_by="ops", memo="other")
    with pytest.raises(IdempotencyConflict):
        posting_reverse(serial_no=recharge.serial_no, request_no="r1", posted_by="ops")
    assert Posting.objects.filter(business_type="reversal").count() == 1
