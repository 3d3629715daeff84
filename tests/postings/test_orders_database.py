"""What the database refuses about guarantee orders (postings/sql/orders.sql),
with real connections: confirmations racing refunds of the same orders in
threads, and forgeries committed as the runtime role. An order's escrow
balance is always what its events leave, never negative, zero once closed,
and a disputed order moves nothing."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import psycopg
import pytest

from postings.models import Entry, GuaranteeOrder, OrderEvent
from postings.selectors import account_chain_breaks, identity_totals
from postings.services import order_confirm, order_dispute, order_refund

from .order_books import shop
from .test_concurrency import run_parallel

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


def _outcome(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - counted by the test
        return getattr(exc, "code", repr(exc))
    return "done"


def test_confirmations_racing_refunds_of_the_same_orders_move_each_cent_once(ledger):
    """Four orders of 100.00 (commission 2.00), each confirmed by one thread
    while another refunds 30.00 of it, all eight at once. Each order ends
    confirmed: after the refund (merchant 68.60, commission 1.40) or before
    it (the refund refused, order_closed). Nothing over-refunded, nothing
    moved twice, escrow empty."""
    s = shop(ledger, buyer_funds="400.00")
    orders = [s.open(f"o-{i}", amount="100.00", commission="2.00") for i in range(4)]

    def work(i):
        order = orders[i // 2]
        if i % 2:
            return _outcome(lambda: order_refund(order_id=order.pk, amount="30.00", request_no=f"r{i}", actor="w"))
        return _outcome(lambda: order_confirm(order_id=order.pk, request_no=f"c{i}", actor="w"))

    results = run_parallel(8, work)
    assert Counter(results[0::2]) == Counter(done=4), results  # every confirmation went through
    refunded = results[1::2].count("done")
    assert Counter(results[1::2]) == Counter(done=refunded, order_closed=4 - refunded), results
    assert ledger.balance(s.escrow) == D("0")
    assert ledger.balance(s.buyer) == D("30.00") * refunded
    assert ledger.balance(s.merchant) == D("68.60") * refunded + D("98.00") * (4 - refunded)
    assert ledger.balance(s.fee) == D("1.40") * refunded + D("2.00") * (4 - refunded)
    for order in orders:
        order = GuaranteeOrder.objects.get(pk=order.pk)
        assert (order.status, order.balance) == ("confirmed", D("0"))
        out = sum(e.amount for e in order.events.exclude(kind="pay"))
        assert out == D("100.00")  # what went out is what was paid in, once
    assert all(t.holds for t in identity_totals())
    for account in (s.buyer, s.merchant, s.escrow, s.fee):
        assert account_chain_breaks(account=ledger.fresh(account)) == []


def test_a_whole_refund_racing_a_confirmation_leaves_one_winner(ledger):
    s = shop(ledger)
    order = s.open(amount="100.00")

    def work(i):
        if i:
            return _outcome(lambda: order_refund(order_id=order.pk, amount="100.00", request_no="r", actor="w"))
        return _outcome(lambda: order_confirm(order_id=order.pk, request_no="c", actor="w"))

    results = run_parallel(2, work)
    assert sorted(results) == ["done", "order_closed"], results
    assert ledger.balance(s.escrow) == D("0")
    assert ledger.balance(s.buyer) + ledger.balance(s.merchant) == D("500.00")
    assert GuaranteeOrder.objects.get(pk=order.pk).status in ("confirmed", "refunded")


# ------------------------------------------------ forgeries, by hand ----


def _refused(run, sql, params, words):
    with pytest.raises(psycopg.Error) as refused:
        run(sql, params)
    assert words in str(refused.value), refused.value


def _refused_together(run, statements, words):
    """Several statements committed as one transaction of the runtime role."""
    conn = run.connection
    with pytest.raises(psycopg.Error) as refused:
        with conn.transaction(), conn.cursor() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
    assert words in str(refused.value), refused.value


def test_an_orders_balance_never_changes_without_its_events(runtime_sql, ledger):
    s = shop(ledger)
    order = s.open(amount="100.00")
    update = "UPDATE postings_guaranteeorder SET balance = %s WHERE id = %s"
    _refused(runtime_sql, update, ["90.00", order.pk], "its events leave 100.00")
    _refused(runtime_sql, update, ["-1", order.pk], "order_balance_within_amount")
    _refused(
        runtime_sql,
        "UPDATE postings_guaranteeorder SET status = 'confirmed' WHERE id = %s",
        [order.pk],
        "order_closed_means_nothing_held",
    )
    _refused(
        runtime_sql,
        "UPDATE postings_guaranteeorder SET status = 'confirmed', balance = 0 WHERE id = %s",
        [order.pk],
        "its events leave 100.00",
    )
    _refused(runtime_sql, "DELETE FROM postings_guaranteeorder WHERE id = %s", [order.pk], "Cannot delete")
    _refused(
        runtime_sql,
        "UPDATE postings_guaranteeorder SET merchant_account_id = %s WHERE id = %s",
        [s.buyer.pk, order.pk],
        "is fixed",
    )
    assert GuaranteeOrder.objects.get(pk=order.pk).balance == D("100.00")


def _event(order, kind, amount, posting_id, from_status, to_status, reason=""):
    return (
        "INSERT INTO postings_orderevent (order_id, kind, amount, posting_id, commission, coupon, from_status,"
        " to_status, reason, source_system, fingerprint, actor, created_at)"
        " VALUES (%s, %s, %s, %s, 0, 0, %s, %s, %s, 'forger', '', 'forger', now())",
        [order.pk, kind, amount, posting_id, from_status, to_status, reason],
    )


def test_money_leaves_an_order_only_with_an_escrow_posting_and_never_while_disputed(runtime_sql, ledger):
    s = shop(ledger)
    order = s.open(amount="100.00")
    spare = ledger.recharge(ledger.cash(), "1").serial_no  # a posting with no escrow leg
    # A refund event and the balance to match, but no money left escrow.
    _refused_together(
        runtime_sql,
        [
            _event(order, "refund", "40.00", spare, "paid", "paid"),
            ("UPDATE postings_guaranteeorder SET balance = 60 WHERE id = %s", [order.pk]),
        ],
        "has no entry of that amount on escrow account",
    )
    order_dispute(order_id=order.pk, reason="not received", request_no="d1", actor="mall")
    sql, params = _event(order, "confirm", "100.00", spare, "disputed", "confirmed")
    _refused(runtime_sql, sql, params, "order_disputed")
    sql, params = _event(order, "resolve", "0", None, "disputed", "paid", "")
    _refused(runtime_sql, sql, params, "needs a reason")
    event = OrderEvent.objects.filter(order=order).last()
    _refused(runtime_sql, "UPDATE postings_orderevent SET reason = 'x' WHERE id = %s", [event.pk], "Cannot update")
    _refused(runtime_sql, "DELETE FROM postings_orderevent WHERE id = %s", [event.pk], "Cannot update or delete")
    assert ledger.balance(s.escrow) == D("100.00")


def test_a_refund_of_an_orders_payment_past_the_order_is_refused(runtime_sql, ledger):
    """The refund machinery by hand (a refund row and its leg on the escrow
    entry of the order's payment), without the order knowing: refused."""
    s = shop(ledger)
    order = s.open(amount="100.00")
    spare = ledger.recharge(ledger.cash(), "1").serial_no
    escrow_entry = Entry.objects.get(posting=order.pay_posting, account=s.escrow)
    _refused(
        runtime_sql,
        "WITH r AS (INSERT INTO postings_refund (original_id, posting_id, amount, currency, status, needs_approval,"
        " reason, source_system, request_no, fingerprint, requested_by, decision_note, created_at)"
        " VALUES (%s, %s, 10, 'CNY', 'posted', '', '', 'forger', 'forged-1', 'x', 'forger', '', now()) RETURNING id)"
        " INSERT INTO postings_refundleg (refund_id, original_entry_id, amount, from_reserve)"
        " SELECT r.id, %s, 10, 0 FROM r",
        [order.pay_posting_id, spare, escrow_entry.serial_no],
        "refunds of its postings take 10",
    )


def test_an_orders_posting_is_never_reversed_even_by_hand(runtime_sql, ledger):
    s = shop(ledger)
    order = s.open(amount="100.00")
    _refused(
        runtime_sql,
        "INSERT INTO postings_posting (source_system, request_no, fingerprint, business_type, entity_id, currency,"
        " accounting_date, memo, external_ref, posted_by, reverses_id, created_at)"
        " VALUES ('forger', 'rev-1', 'x', 'reversal', %s, 'CNY', CURRENT_DATE, '', '', 'forger', %s, now())",
        [s.escrow.entity_id, order.pay_posting_id],
        "refunded through the order, not reversed",
    )
