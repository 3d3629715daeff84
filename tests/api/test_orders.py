"""The guarantee order endpoints (担保交易): open (the buyer pays into escrow),
read, refund, confirm, dispute and resolve over the API; replays and
conflicts; each refusal with its stable code; who may call them. A refused
request writes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from postings.models import GuaranteeOrder, OrderEvent

from .conftest import error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(trade, book):
    """Alice pays 100.00 into escrow for Bob's goods; commission 3.00."""
    book.ledger.internal("ESCROW")
    r = trade.post(
        "orders",
        {
            "request_no": "o-1",
            "order_no": "T-1001",
            "buyer_account_no": book.alice.account_no,
            "merchant_account_no": book.bob.account_no,
            "amount": "100.00",
            "commission": "3.00",
        },
    )
    assert r.status_code == 201, r.content
    return r.json()


def test_an_order_paid_partly_refunded_and_confirmed(trade, book, order):
    assert (order["status"], order["balance"], order["amount"]) == ("paid", "100.00", "100.00")
    assert [e["kind"] for e in order["events"]] == ["pay"]
    path = f"orders/{order['order_id']}"
    r = trade.post(f"{path}/refunds", {"request_no": "o-1-r", "amount": "40.00", "reason": "one item returned"})
    assert r.status_code == 201, r.content
    assert r.json()["balance"] == "60.00"
    again = trade.post(f"{path}/refunds", {"request_no": "o-1-r", "amount": "40", "reason": "one item returned"})
    assert again.status_code == 200 and again.json()["balance"] == "60.00"
    error_of(trade.post(f"{path}/refunds", {"request_no": "o-1-r", "amount": "41.00"}), 409, "idempotency_conflict")
    error_of(trade.post(f"{path}/refunds", {"request_no": "o-1-r2", "amount": "60.01"}), 422, "refund_exceeds_escrow")

    r = trade.post(f"{path}/confirm", {"request_no": "o-1-c"})
    assert r.status_code == 201, r.content
    confirmed = r.json()
    assert (confirmed["status"], confirmed["balance"]) == ("confirmed", "0.00")
    confirm = confirmed["events"][-1]
    assert (confirm["kind"], confirm["amount"], confirm["commission"]) == ("confirm", "60.00", "1.80")
    posting = trade.get(f"postings/{confirm['posting_serial_no']}").json()
    assert {(e["account_no"], e["direction"], e["amount"]) for e in posting["entries"]} == {
        (confirmed["escrow_account_no"], "debit", "60.00"),
        (book.bob.account_no, "credit", "58.20"),
        (book.fee_income.account_no, "credit", "1.80"),
    }
    assert trade.get(path).json() == confirmed
    error_of(trade.post(f"{path}/refunds", {"request_no": "o-1-r3", "amount": "1"}), 422, "order_closed")
    assert book.ledger.balance(book.alice) == Decimal("940.00")


def test_a_disputed_order_answers_409_until_resolved(trade, book, order):
    path = f"orders/{order['order_id']}"
    error_of(trade.post(f"{path}/dispute", {"request_no": "d0", "reason": "   "}), 400, "validation_error")
    r = trade.post(f"{path}/dispute", {"request_no": "d1", "reason": "not delivered"})
    assert r.status_code == 201 and r.json()["status"] == "disputed"
    error_of(trade.post(f"{path}/confirm", {"request_no": "c1"}), 409, "order_disputed")
    error_of(trade.post(f"{path}/refunds", {"request_no": "r1", "amount": "1"}), 409, "order_disputed")
    error_of(
        trade.post(f"{path}/resolve", {"request_no": "v0", "outcome": "pay_everyone", "reason": "x"}),
        400,
        "validation_error",
    )
    r = trade.post(f"{path}/resolve", {"request_no": "v1", "outcome": "refund", "reason": "buyer's claim upheld"})
    assert r.status_code == 201, r.content
    resolved = r.json()
    assert (resolved["status"], resolved["balance"]) == ("refunded", "0.00")
    assert [(e["kind"], e["to_status"]) for e in resolved["events"]] == [
        ("pay", "paid"),
        ("dispute", "disputed"),
        ("resolve", "paid"),
        ("refund", "refunded"),
    ]
    error_of(
        trade.post(f"{path}/resolve", {"request_no": "v2", "outcome": "continue", "reason": "again"}),
        422,
        "illegal_transition",
    )
    assert book.ledger.balance(book.alice) == Decimal("1000.00")


def test_refusals_of_an_open_write_nothing(trade, book):
    book.ledger.internal("ESCROW")
    body = {
        "request_no": "o-9",
        "order_no": "T-9",
        "buyer_account_no": book.alice.account_no,
        "merchant_account_no": book.bob.account_no,
        "amount": "2000.00",
    }
    error_of(trade.post("orders", body), 422, "insufficient_funds")
    error_of(trade.post("orders", {**body, "amount": "10.00", "commission": "10.01"}), 400, "validation_error")
    error_of(trade.post("orders", {**body, "amount": "10.001"}), 400, "invalid_amount")
    error_of(trade.post("orders", {**body, "amount": "10", "merchant_account_no": "nope"}), 404, "not_found")
    error_of(trade.get("orders/999999"), 404, "not_found")
    assert not GuaranteeOrder.objects.exists() and not OrderEvent.objects.exists()


def test_without_an_escrow_account_the_order_is_refused_with_its_code(trade, book):
    body = {
        "request_no": "o-9",
        "order_no": "T-9",
        "buyer_account_no": book.alice.account_no,
        "merchant_account_no": book.bob.account_no,
        "amount": "10.00",
    }
    error_of(trade.post("orders", body), 422, "escrow_not_configured")


def test_only_the_source_system_that_opened_an_order_moves_it(callers, order):
    path = f"orders/{order['order_id']}"
    reader, other = callers("risk", ["read"]), callers("shop2", ["post"])
    assert reader.get(path).status_code == 200
    error_of(reader.post(f"{path}/confirm", {"request_no": "c"}), 403, "forbidden")
    error_of(other.post(f"{path}/confirm", {"request_no": "c"}), 403, "forbidden")
    error_of(other.get(path), 404, "not_found")  # without read, only its own orders
    error_of(callers("holder", ["hold"]).post("orders", {}), 403, "forbidden")
    assert GuaranteeOrder.objects.get(pk=order["order_id"]).status == "paid"
