"""POST /postings/{serial_no}/refunds (退款): a payment with a fee leg refunded
in parts over the API, replays and conflicts, each refusal with its stable
code, the 202 of a refund waiting for a second person, and who may call it.
A refused request writes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from postings.models import Posting, Refund, RefundPolicy

from .conftest import error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def payment(trade, book):
    """Alice pays Bob 50.00, of which 1.50 is the fee."""
    body = {
        "request_no": "pay-1",
        "business_type": "transfer",
        "legs": [
            {"account_no": book.alice.account_no, "direction": "debit", "amount": "50.00"},
            {"account_no": book.bob.account_no, "direction": "credit", "amount": "48.50"},
            {"account_no": book.fee_income.account_no, "direction": "credit", "amount": "1.50"},
        ],
    }
    r = trade.post("postings", body)
    assert r.status_code == 201, r.content
    return r.json()


def refunds_of(payment):
    return f"postings/{payment['serial_no']}/refunds"


def test_refund_in_two_parts_and_each_leg_says_what_it_gave_back(trade, book, payment):
    r = trade.post(refunds_of(payment), {"request_no": "rf-1", "amount": "20.00", "reason": "one item returned"})
    assert r.status_code == 201, r.content
    first = r.json()
    assert (first["status"], first["amount"], first["left_to_refund"]) == ("posted", "20.00", "30.00")
    assert first["original_serial_no"] == payment["serial_no"]
    assert [(leg["account_no"], leg["direction"], leg["amount"], leg["refunded_so_far"]) for leg in first["legs"]] == [
        (book.alice.account_no, "debit", "20.00", "20.00"),
        (book.bob.account_no, "credit", "19.40", "19.40"),
        (book.fee_income.account_no, "credit", "0.60", "0.60"),
    ]
    posting = trade.get(f"postings/{first['posting_serial_no']}").json()
    assert posting["business_type"] == "refund" and posting["request_no"] == "rf-1"

    again = trade.post(refunds_of(payment), {"request_no": "rf-1", "amount": "20.00", "reason": "one item returned"})
    assert again.status_code == 200 and again.json()["refund_id"] == first["refund_id"]
    error_of(trade.post(refunds_of(payment), {"request_no": "rf-1", "amount": "21.00"}), 409, "idempotency_conflict")

    rest = trade.post(refunds_of(payment), {"request_no": "rf-2", "amount": "30.00"}).json()
    assert [leg["refunded_so_far"] for leg in rest["legs"]] == ["50.00", "48.50", "1.50"]
    assert rest["left_to_refund"] == "0.00"
    assert book.ledger.balance(book.alice) == Decimal("1000.00")


def test_refusals_have_stable_codes_and_change_nothing(trade, book, payment, callers):
    before = Posting.objects.count()
    error_of(trade.post(refunds_of(payment), {"request_no": "x1", "amount": "50.01"}), 422, "refund_exceeds_original")
    error_of(trade.post(refunds_of(payment), {"request_no": "x2", "amount": "1.001"}), 400, "invalid_amount")
    error_of(trade.post(refunds_of(payment), {"request_no": "x3", "amount": "-1"}), 400, "validation_error")
    error_of(trade.post("postings/987654321/refunds", {"request_no": "x4", "amount": "1"}), 404, "not_found")
    other = callers("shop", ["post", "read"])
    error_of(other.post(refunds_of(payment), {"request_no": "x5", "amount": "1"}), 403, "forbidden")
    reader = callers("risk", ["read"])
    error_of(reader.post(refunds_of(payment), {"request_no": "x6", "amount": "1"}), 403, "forbidden")
    trade.post("postings", {**_spend(book), "request_no": "spend"})  # Bob spends what he was paid
    error_of(trade.post(refunds_of(payment), {"request_no": "x7", "amount": "10"}), 422, "insufficient_funds")
    assert Posting.objects.count() == before + 1 and not Refund.objects.exists()
    with time_machine.travel(timezone.now() + timedelta(days=400), tick=True):
        error_of(trade.post(refunds_of(payment), {"request_no": "x8", "amount": "1"}), 422, "refund_window_passed")
    refund = trade.post(refunds_of(payment), {"request_no": "x9", "amount": "0.10"}).json()
    error_of(
        trade.post(f"postings/{refund['posting_serial_no']}/refunds", {"request_no": "x10", "amount": "0.01"}),
        422,
        "refund_not_allowed",
    )


def _spend(book):
    return {
        "business_type": "transfer",
        "legs": [
            {"account_no": book.bob.account_no, "direction": "debit", "amount": "48.00"},
            {"account_no": book.alice.account_no, "direction": "credit", "amount": "48.00"},
        ],
    }


def test_a_large_refund_is_accepted_and_waits_for_a_second_person(trade, book, payment):
    RefundPolicy.objects.create(business_type="transfer", approval_above=Decimal("10.00"))
    r = trade.post(refunds_of(payment), {"request_no": "big", "amount": "25.00"})
    assert r.status_code == 202, r.content
    body = r.json()
    assert (body["status"], body["posting_serial_no"], body["needs_approval"]) == ("pending_approval", None, ["large"])
    assert book.ledger.balance(book.alice) == Decimal("950.00")
    assert trade.post(refunds_of(payment), {"request_no": "big", "amount": "25.00"}).status_code == 200
