"""The agreement endpoints (代扣协议): sign (idempotent by request number),
read, suspend, resume and revoke at the member's request, and debit under
it; each refusal with its stable code (no_agreement,
agreement_limit_exceeded, insufficient_funds); an agreement debit asked of
the posting endpoints is refused; other systems may not touch an agreement
that is not theirs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from postings.agreements.models import DebitAttempt
from postings.models import Posting

from .conftest import error_of, transfer_body

pytestmark = pytest.mark.django_db


def sign_body(book, **extra) -> dict:
    return {
        "request_no": "sg-1",
        "agreement_no": "LOAN-77",
        "payer_account_no": book.alice.account_no,
        "payee_account_no": book.bob.account_no,
        "purpose": "credit_repayment",
        "max_per_debit": "200.00",
        "max_per_period": "300.00",
        **extra,
    }


@pytest.fixture
def agreement(trade, book):
    r = trade.post("agreements", sign_body(book))
    assert r.status_code == 201, r.content
    return r.json()


def debit(trade, agreement, amount, request_no, **extra):
    body = {"request_no": request_no, "amount": amount, "purpose": "credit_repayment", **extra}
    return trade.post(f"agreements/{agreement['agreement_id']}/debits", body)


def test_sign_read_and_replay(trade, book, agreement):
    assert (agreement["status"], agreement["max_per_debit"], agreement["limit_period"]) == ("active", "200.00", "month")
    assert [(h["kind"], h["to_status"]) for h in agreement["history"]] == [("sign", "active")]
    again = trade.post("agreements", sign_body(book))
    assert again.status_code == 200 and again.json() == agreement
    error_of(trade.post("agreements", sign_body(book, max_per_debit="10.00")), 409, "idempotency_conflict")
    error_of(trade.post("agreements", sign_body(book, request_no="sg-2")), 409, "idempotency_conflict")
    assert trade.get(f"agreements/{agreement['agreement_id']}").json() == agreement
    error_of(trade.get("agreements/999999"), 404, "not_found")


def test_debits_within_the_limits_and_the_refusals(trade, book, agreement):
    r = debit(trade, agreement, "150.00", "d-1")
    assert r.status_code == 201, r.content
    taken = r.json()
    assert (taken["outcome"], taken["amount_taken"], taken["request_no"]) == ("taken", "150.00", "d-1")
    posting = trade.get(f"postings/{taken['posting_serial_no']}").json()
    assert posting["business_type"] == "agreement_debit"
    assert debit(trade, agreement, "150.00", "d-1").json() == taken  # replay: 200, nothing taken
    error_of(debit(trade, agreement, "200.01", "d-2"), 422, "agreement_limit_exceeded")
    error_of(debit(trade, agreement, "150.01", "d-3"), 422, "agreement_limit_exceeded")  # 150.00 left this month
    error_of(debit(trade, agreement, "10.00", "d-4", purpose="insurance"), 422, "no_agreement")
    assert book.ledger.balance(book.alice) == Decimal("850.00")
    assert list(DebitAttempt.objects.order_by("id").values_list("request_no", "outcome")) == [
        ("d-1", "taken"),
        ("d-2", "refused"),
        ("d-3", "refused"),
        ("d-4", "refused"),
    ]


def test_partial_and_insufficient(trade, book, ledger):
    poor = ledger.cash()
    ledger.recharge(poor, "30.00")
    a = trade.post("agreements", sign_body(book, request_no="sg-p", agreement_no="P", payer_account_no=poor.account_no))
    a = a.json()
    error_of(debit(trade, a, "50.00", "p-1"), 422, "insufficient_funds")
    r = debit(trade, a, "50.00", "p-2", allow_partial=True)
    assert r.status_code == 201 and (r.json()["outcome"], r.json()["amount_taken"]) == ("partial", "30.00")


def test_suspend_resume_revoke(trade, book, agreement):
    pk = agreement["agreement_id"]
    error_of(trade.post(f"agreements/{pk}/suspend", {"request_no": "s-0"}), 400, "validation_error")
    r = trade.post(f"agreements/{pk}/suspend", {"request_no": "s-1", "reason": "member paused repayments"})
    assert r.status_code == 201 and r.json()["status"] == "suspended"
    assert (
        trade.post(f"agreements/{pk}/suspend", {"request_no": "s-1", "reason": "member paused repayments"}).status_code
        == 200
    )
    error_of(debit(trade, agreement, "10.00", "while-suspended"), 422, "no_agreement")
    r = trade.post(f"agreements/{pk}/resume", {"request_no": "r-1"})
    assert r.json()["status"] == "active"
    r = trade.post(f"agreements/{pk}/revoke", {"request_no": "v-1", "reason": "loan closed"})
    assert [h["kind"] for h in r.json()["history"]] == ["sign", "suspend", "resume", "revoke"]
    error_of(trade.post(f"agreements/{pk}/resume", {"request_no": "r-2"}), 422, "illegal_transition")
    error_of(debit(trade, agreement, "10.00", "after-revoke"), 422, "no_agreement")


def test_an_agreement_debit_is_not_posted_through_the_posting_endpoints(trade, book, agreement):
    body = transfer_body(book.alice, book.bob, "10.00", business_type="agreement_debit")
    error_of(trade.post("postings", body), 422, "no_agreement")
    hold = trade.post(
        "holds", {"request_no": "h-1", "account_no": book.alice.account_no, "amount": "10.00", "reason": "x"}
    ).json()
    settle = {"request_no": "st-1", "amount": "10.00", "counter_account_no": book.ledger.cash().account_no}
    error_of(
        trade.post(f"holds/{hold['hold_id']}/settle", {**settle, "business_type": "agreement_debit"}),
        422,
        "no_agreement",
    )
    assert not Posting.objects.filter(business_type="agreement_debit").exists()


def test_only_its_own_system_changes_or_debits_an_agreement(trade, book, agreement, callers):
    other = callers("shop", ["post"])
    pk = agreement["agreement_id"]
    error_of(other.post(f"agreements/{pk}/revoke", {"request_no": "v", "reason": "x"}), 403, "forbidden")
    error_of(debit(other, agreement, "10.00", "x"), 403, "forbidden")
    error_of(other.get(f"agreements/{pk}"), 404, "not_found")
    error_of(callers("reader", ["read"]).post("agreements", sign_body(book, request_no="z")), 403, "forbidden")
