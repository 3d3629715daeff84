"""Guarantee orders (担保交易) through the services: the worked example, each
step's refusals, idempotency and the automatic confirmation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.kernel.errors import IdempotencyConflict, IllegalTransition, LedgerValidationError
from postings.exceptions import (
    OrderClosed,
    OrderDisputed,
    OrderRefundExceedsEscrow,
    RefundNotAllowed,
    ReversalNotAllowed,
)
from postings.models import GuaranteeOrder, OrderEvent, Posting
from postings.selectors import identity_totals
from postings.services import (
    order_confirm,
    order_dispute,
    order_refund,
    order_resolve,
    orders_confirm_due,
    posting_reverse,
    refund_create,
)

from .order_books import shop

pytestmark = pytest.mark.django_db
D = Decimal


def legs(posting: Posting) -> set[tuple[str, str, Decimal]]:
    return {(e.account.account_no, e.direction, e.amount) for e in posting.entries.select_related("account")}


def test_worked_example_paid_partly_refunded_confirmed_with_commission_and_coupon(ledger):
    """The buyer pays 99.99 for an order with a 3.00 commission and a 5.00
    platform coupon. 33.33 is refunded; the 66.66 left is confirmed: the
    commission and coupon are taken on what is confirmed, rounded down,
    3.00 x 66.66 / 99.99 = 2.00 and 5.00 x 66.66 / 99.99 = 3.333 -> 3.33,
    so the merchant gets 66.66 + 3.33 - 2.00 = 67.99, in one posting."""
    s = shop(ledger)
    order = s.open(amount="99.99", commission="3.00", coupon="5.00")
    assert (order.balance, order.status) == (D("99.99"), "paid")
    assert legs(order.pay_posting) == {(s.buyer.account_no, "D", D("99.99")), (s.escrow.account_no, "C", D("99.99"))}
    assert (ledger.balance(s.buyer), ledger.balance(s.escrow)) == (D("400.01"), D("99.99"))

    refund = order_refund(order_id=order.pk, amount="33.33", request_no="o-1-r1", actor="mall")
    assert refund.refund.original_id == order.pay_posting_id  # a refund of the payment, through the refund service
    assert legs(refund.posting) == {(s.escrow.account_no, "D", D("33.33")), (s.buyer.account_no, "C", D("33.33"))}
    assert GuaranteeOrder.objects.get(pk=order.pk).balance == D("66.66")
    assert (ledger.balance(s.buyer), ledger.balance(s.escrow)) == (D("433.34"), D("66.66"))

    confirm = order_confirm(order_id=order.pk, request_no="o-1-c", actor="mall")
    assert (confirm.amount, confirm.commission, confirm.coupon) == (D("66.66"), D("2.00"), D("3.33"))
    assert legs(confirm.posting) == {
        (s.escrow.account_no, "D", D("66.66")),
        (s.coupon.account_no, "D", D("3.33")),
        (s.merchant.account_no, "C", D("67.99")),
        (s.fee.account_no, "C", D("2.00")),
    }
    order = GuaranteeOrder.objects.get(pk=order.pk)
    assert (order.balance, order.status) == (D("0"), "confirmed")
    assert ledger.balance(s.escrow) == D("0")
    assert ledger.balance(s.merchant) == D("67.99")
    assert ledger.balance(s.fee) == D("2.00")
    assert ledger.balance(s.coupon) == D("-3.33")
    assert [e.kind for e in order.events.all()] == ["pay", "refund", "confirm"]
    assert all(t.holds for t in identity_totals())


def test_a_confirmation_of_an_order_never_refunded_takes_the_whole_commission_and_coupon(ledger):
    s = shop(ledger)
    order = s.open(amount="100.00", commission="5.00", coupon="10.00")
    event = order_confirm(order_id=order.pk, request_no="c", actor="mall")
    assert (event.commission, event.coupon) == (D("5.00"), D("10.00"))
    assert ledger.balance(s.merchant) == D("105.00")


def test_refunding_everything_closes_the_order_and_nothing_more_can_be_refunded_or_confirmed(ledger):
    s = shop(ledger)
    order = s.open(amount="80.00")
    with pytest.raises(OrderRefundExceedsEscrow):
        order_refund(order_id=order.pk, amount="80.01", request_no="r0", actor="mall")
    order_refund(order_id=order.pk, amount="30.00", request_no="r1", actor="mall")
    with pytest.raises(OrderRefundExceedsEscrow):
        order_refund(order_id=order.pk, amount="50.01", request_no="r2", actor="mall")
    last = order_refund(order_id=order.pk, amount="50.00", request_no="r3", actor="mall")
    assert last.to_status == "refunded"
    with pytest.raises(OrderClosed):
        order_refund(order_id=order.pk, amount="0.01", request_no="r4", actor="mall")
    with pytest.raises(OrderClosed):
        order_confirm(order_id=order.pk, request_no="c", actor="mall")
    assert ledger.balance(s.buyer) == D("500.00")
    assert ledger.balance(s.escrow) == D("0")
    assert ledger.balance(s.merchant) == D("0")


def test_every_step_answers_a_retry_with_its_first_result_and_refuses_other_content(ledger):
    s = shop(ledger)
    order = s.open(amount="100.00")
    assert s.open(amount="100.00").replayed and s.open(amount="100.00").pk == order.pk
    with pytest.raises(IdempotencyConflict):
        s.open(amount="100.01")
    with pytest.raises(IdempotencyConflict):  # the same order number under another request
        s.open("o-2", order_no=order.order_no)
    first = order_refund(order_id=order.pk, amount="10", request_no="r1", actor="mall")
    again = order_refund(order_id=order.pk, amount="10.00", request_no="r1", actor="mall")
    assert again.replayed and again.pk == first.pk
    with pytest.raises(IdempotencyConflict):
        order_refund(order_id=order.pk, amount="11", request_no="r1", actor="mall")
    confirmed = order_confirm(order_id=order.pk, request_no="c1", actor="mall")
    assert order_confirm(order_id=order.pk, request_no="c1", actor="mall").pk == confirmed.pk
    assert ledger.balance(s.buyer) == D("410.00")
    assert ledger.balance(s.merchant) == D("90.00")
    assert OrderEvent.objects.filter(order=order).count() == 3


def test_a_disputed_order_is_frozen_until_resolved_with_a_reason(ledger):
    s = shop(ledger)
    order = s.open(amount="100.00", confirm_within_days=1)
    with pytest.raises(LedgerValidationError):
        order_dispute(order_id=order.pk, reason="  ", request_no="d0", actor="mall")
    order_dispute(order_id=order.pk, reason="goods not received", request_no="d1", actor="mall")
    with pytest.raises(OrderDisputed):
        order_refund(order_id=order.pk, amount="1", request_no="r1", actor="mall")
    with pytest.raises(OrderDisputed):
        order_confirm(order_id=order.pk, request_no="c1", actor="mall")
    # The expiry passes it by: disputed orders are never confirmed automatically.
    assert orders_confirm_due(now=timezone.now() + timedelta(days=2)) == 0
    assert (ledger.balance(s.escrow), ledger.balance(s.merchant)) == (D("100.00"), D("0"))
    with pytest.raises(LedgerValidationError):
        order_resolve(order_id=order.pk, outcome="continue", reason="", request_no="v0", actor="mall")
    order_resolve(order_id=order.pk, outcome="refund", reason="buyer's claim upheld", request_no="v1", actor="mall")
    order = GuaranteeOrder.objects.get(pk=order.pk)
    assert (order.status, order.balance) == ("refunded", D("0"))
    assert [(e.kind, e.from_status, e.to_status) for e in order.events.all()] == [
        ("pay", "", "paid"),
        ("dispute", "paid", "disputed"),
        ("resolve", "disputed", "paid"),
        ("refund", "paid", "refunded"),
    ]
    assert ledger.balance(s.buyer) == D("500.00")


def test_a_resolution_may_confirm_at_once_or_let_the_order_go_on(ledger):
    s = shop(ledger)
    one, two = s.open("o-1", amount="40.00", commission="1.00"), s.open("o-2", amount="60.00")
    for order in (one, two):
        order_dispute(order_id=order.pk, reason="late delivery", request_no=f"d-{order.pk}", actor="mall")
    order_resolve(order_id=one.pk, outcome="confirm", reason="delivered after all", request_no="v1", actor="mall")
    order_resolve(order_id=two.pk, outcome="continue", reason="seller shipped again", request_no="v2", actor="mall")
    with pytest.raises(IllegalTransition):
        order_resolve(order_id=two.pk, outcome="continue", reason="again", request_no="v3", actor="mall")
    assert GuaranteeOrder.objects.get(pk=one.pk).status == "confirmed"
    assert GuaranteeOrder.objects.get(pk=two.pk).status == "paid"
    assert ledger.balance(s.merchant) == D("39.00")
    assert ledger.balance(s.escrow) == D("60.00")


def test_the_expiry_confirms_paid_orders_past_their_time_once(ledger):
    s = shop(ledger)
    due = s.open("o-1", amount="30.00", confirm_within_days=3, commission="0.30")
    later = s.open("o-2", amount="20.00", confirm_within_days=7)
    order_refund(order_id=due.pk, amount="10.00", request_no="r1", actor="mall")
    in_four_days = timezone.now() + timedelta(days=4)
    assert orders_confirm_due(now=in_four_days) == 1
    assert orders_confirm_due(now=in_four_days) == 0  # run twice: nothing more
    event = OrderEvent.objects.get(order=due, kind="auto_confirm")
    assert (event.amount, event.commission) == (D("20.00"), D("0.20"))
    assert GuaranteeOrder.objects.get(pk=later.pk).status == "paid"
    assert ledger.balance(s.merchant) == D("19.80")
    assert ledger.balance(s.escrow) == D("20.00")


def test_an_orders_postings_are_refunded_through_the_order_never_as_postings(ledger):
    s = shop(ledger)
    order = s.open(amount="50.00")
    with pytest.raises(RefundNotAllowed):
        refund_create(serial_no=order.pay_posting_id, request_no="x1", amount="10", requested_by="t")
    with pytest.raises(ReversalNotAllowed):
        posting_reverse(serial_no=order.pay_posting_id, request_no="x2", posted_by="t")
    assert ledger.balance(s.escrow) == D("50.00")


def test_bad_input_is_refused_and_changes_nothing(ledger):
    s = shop(ledger)
    with pytest.raises(LedgerValidationError):
        s.open(amount="10.00", commission="10.01")
    with pytest.raises(LedgerValidationError):
        s.open(amount="10.001")
    with pytest.raises(LedgerValidationError):
        s.open(amount="10.00", confirm_within_days=0)
    with pytest.raises(LedgerValidationError):
        order_open_from_escrow_itself(s)
    assert not GuaranteeOrder.objects.exists()
    assert ledger.balance(s.buyer) == D("500.00")


def order_open_from_escrow_itself(s):
    from postings.services import order_open

    return order_open(
        order_no="T1",
        buyer_account_no=s.escrow.account_no,
        merchant_account_no=s.merchant.account_no,
        amount="1",
        request_no="bad",
        created_by="mall",
    )


def test_an_order_the_ledger_refuses_to_confirm_does_not_hold_up_the_others(ledger):
    from accounts.services import account_change_status

    s = shop(ledger)
    blocked = s.open("o-1", "10.00", confirm_within_days=1)
    other_merchant = ledger.cash()
    fine = order_open_for(s, other_merchant, "o-2", "20.00")
    account_change_status(account=s.merchant, to_status="credit_blocked", reason="under review", actor="risk")
    assert orders_confirm_due(now=timezone.now() + timedelta(days=2)) == 1
    assert GuaranteeOrder.objects.get(pk=blocked.pk).status == "paid"  # tried again by the next run
    assert GuaranteeOrder.objects.get(pk=fine.pk).status == "confirmed"
    assert ledger.balance(other_merchant) == D("20.00")


def order_open_for(s, merchant, request_no, amount):
    from postings.services import order_open

    return order_open(
        order_no=f"T{request_no}",
        buyer_account_no=s.buyer.account_no,
        merchant_account_no=merchant.account_no,
        amount=amount,
        request_no=request_no,
        created_by="mall",
        confirm_within_days=1,
    )
