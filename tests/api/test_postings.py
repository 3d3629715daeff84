"""POST /postings, /postings/by-rule, /postings/{serial_no}/reversal and
GET /postings/{serial_no}: happy paths, replays, conflicts, and each
refusal with its code. A refused request writes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.models import Entity
from accounts.services import account_change_status, account_open
from postings.models import Entry, Posting
from postings.selectors import current_accounting_date

from .conftest import error_of, transfer_body

pytestmark = pytest.mark.django_db


def counts():
    return Posting.objects.count(), Entry.objects.count()


def test_a_posting_moves_both_balances_and_shows_its_entries(trade, book):
    r = trade.post("postings", transfer_body(book.alice, book.bob, "250.50", memo="rent", external_ref="TR-1"))
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["request_no"] == "t-1"
    assert body["business_type"] == "transfer"
    assert body["currency"] == "CNY"
    assert body["memo"] == "rent" and body["external_ref"] == "TR-1"
    assert body["reverses"] is None
    assert body["accounting_date"] == current_accounting_date(entity=book.alice.entity).isoformat()
    assert [
        (e["account_no"], e["direction"], e["amount"], e["balance_before"], e["balance_after"]) for e in body["entries"]
    ] == [
        (book.alice.account_no, "debit", "250.50", "1000.00", "749.50"),
        (book.bob.account_no, "credit", "250.50", "0.00", "250.50"),
    ]
    posting = Posting.objects.get(serial_no=body["serial_no"])
    assert posting.source_system == "trade"
    assert posting.posted_by.startswith("api:trade:lk_")
    assert trade.get(f"accounts/{book.alice.account_no}").json()["balance"] == "749.50"
    assert trade.get(f"accounts/{book.bob.account_no}").json()["available"] == "250.50"


def test_a_replay_answers_200_with_the_same_body_and_posts_nothing(trade, book):
    first = trade.post("postings", transfer_body(book.alice, book.bob, "10"))
    before = counts()
    again = trade.post("postings", transfer_body(book.alice, book.bob, "10.00"))  # "10" and "10.00" are one amount
    assert first.status_code == 201 and again.status_code == 200
    assert again.content == first.content
    assert counts() == before
    assert book.ledger.balance(book.alice) == Decimal("990.00")


def test_the_same_request_no_with_other_content_is_409(trade, book):
    trade.post("postings", transfer_body(book.alice, book.bob, "10"))
    before = counts()
    error = error_of(trade.post("postings", transfer_body(book.alice, book.bob, "11")), 409, "idempotency_conflict")
    assert error["fields"] == {"request_no": "t-1"}
    assert counts() == before


def test_request_numbers_belong_to_their_source_system(trade, callers, book):
    pay = callers("pay", ["post"])
    a = trade.post("postings", transfer_body(book.alice, book.bob, "1", request_no="same"))
    b = pay.post("postings", transfer_body(book.alice, book.bob, "1", request_no="same"))
    assert a.status_code == b.status_code == 201
    assert a.json()["serial_no"] != b.json()["serial_no"]
    assert sorted(Posting.objects.filter(request_no="same").values_list("source_system", flat=True)) == ["pay", "trade"]


def test_unknown_account_is_404(trade, book):
    before = counts()
    body = transfer_body(book.alice, book.bob)
    body["legs"][1]["account_no"] = "99999999999"
    error = error_of(trade.post("postings", body), 404, "not_found")
    assert error["fields"] == {"account_no": "99999999999"}
    assert counts() == before


def _usd_account(book):
    return book.ledger.cash(currency="USD")


def _closed_account(book):
    account = book.ledger.cash()
    account_change_status(account=account, to_status="closed", reason="customer left", actor="test")
    return account


def _blocked_account(book):
    account_change_status(account=book.alice, to_status="debit_blocked", reason="court order", actor="test")
    return book.alice


def _other_entity_account(book):
    entity = Entity.objects.create(code="HK", name="HK entity", base_currency="CNY")
    return account_open(
        entity=entity, account_type=book.ledger.types["USER_CASH"], member=book.ledger.member(), currency="CNY"
    )


@pytest.mark.parametrize(
    "case, code",
    [
        ("overdraw", "insufficient_funds"),
        ("unbalanced", "unbalanced_posting"),
        ("currency", "currency_mismatch"),
        ("blocked", "account_blocked"),
        ("closed", "account_closed"),
        ("entity", "cross_entity"),
    ],
)
def test_ledger_refusals_are_422_with_their_code_and_write_nothing(trade, book, case, code):
    if case == "overdraw":
        body = transfer_body(book.alice, book.bob, "1000.01")
    elif case == "unbalanced":
        body = transfer_body(book.alice, book.bob, "10")
        body["legs"][1]["amount"] = "9.99"
    elif case == "currency":
        body = transfer_body(book.alice, _usd_account(book), "1")
    elif case == "blocked":
        body = transfer_body(_blocked_account(book), book.bob, "1")
    elif case == "closed":
        body = transfer_body(book.alice, _closed_account(book), "1")
    else:
        body = transfer_body(book.alice, _other_entity_account(book), "1")
    before = counts()
    error_of(trade.post("postings", body), 422, code)
    assert counts() == before
    assert book.ledger.balance(book.alice) == Decimal("1000.00")


def test_more_decimals_than_the_currency_has_is_invalid_amount(trade, book):
    error = error_of(trade.post("postings", transfer_body(book.alice, book.bob, "1.001")), 400, "invalid_amount")
    assert "legs[0].amount" in error["fields"]


def test_accounting_date_must_be_the_open_day(trade, book):
    open_day = current_accounting_date(entity=book.alice.entity)
    ok = trade.post("postings", transfer_body(book.alice, book.bob, "1", accounting_date=open_day.isoformat()))
    assert ok.status_code == 201 and ok.json()["accounting_date"] == open_day.isoformat()
    before = counts()
    yesterday = (open_day - timedelta(days=1)).isoformat()
    error = error_of(
        trade.post("postings", transfer_body(book.alice, book.bob, "1", request_no="t-2", accounting_date=yesterday)),
        422,
        "day_closed",
    )
    assert error["fields"]["accounting_date"] == yesterday
    tomorrow = (open_day + timedelta(days=1)).isoformat()
    error_of(
        trade.post("postings", transfer_body(book.alice, book.bob, "1", request_no="t-3", accounting_date=tomorrow)),
        400,
        "validation_error",
    )
    assert counts() == before


def test_get_a_posting(trade, book):
    created = trade.post("postings", transfer_body(book.alice, book.bob, "5")).json()
    r = trade.get(f"postings/{created['serial_no']}")
    assert r.status_code == 200 and r.json() == created
    error_of(trade.get("postings/999999999"), 404, "not_found")
    error_of(trade.get("postings/99999999999999999999999"), 404, "not_found")


# ------------------------------------------------------------- by rule ----


def test_recharge_by_rule(trade, book):
    body = {
        "request_no": "rc-1",
        "business_type": "recharge",
        "params": {
            "member_account": book.bob.account_no,
            "channel_account": book.channel.account_no,
            "amount": "88.80",
            "channel_serial_no": "CH2024-0001",
        },
    }
    r = trade.post("postings/by-rule", body)
    assert r.status_code == 201, r.content
    posting = r.json()
    assert posting["external_ref"] == "CH2024-0001"
    assert [(e["account_no"], e["direction"], e["amount"]) for e in posting["entries"]] == [
        (book.channel.account_no, "debit", "88.80"),
        (book.bob.account_no, "credit", "88.80"),
    ]
    again = trade.post("postings/by-rule", body)
    assert again.status_code == 200 and again.content == r.content
    body["params"]["amount"] = "88.81"
    error_of(trade.post("postings/by-rule", body), 409, "idempotency_conflict")


def test_by_rule_refusals(trade, book):
    missing = {
        "request_no": "rc-2",
        "business_type": "recharge",
        "params": {"member_account": book.bob.account_no, "amount": "1"},
    }
    error = error_of(trade.post("postings/by-rule", missing), 400, "validation_error")
    assert error["fields"] == {"channel_account": "required"}
    no_rule = {"request_no": "rf-1", "business_type": "refund", "params": {"amount": "1"}}
    error_of(trade.post("postings/by-rule", no_rule), 422, "rule_not_configured")
    number = {
        "request_no": "rc-3",
        "business_type": "recharge",
        "params": {"member_account": book.bob.account_no, "channel_account": book.channel.account_no, "amount": 5},
    }
    error = error_of(trade.post("postings/by-rule", number), 400, "validation_error")
    assert "params.amount" in error["fields"]


# ------------------------------------------------------------ reversal ----


def test_reverse_a_posting(trade, book):
    original = trade.post("postings", transfer_body(book.alice, book.bob, "40")).json()
    r = trade.post(f"postings/{original['serial_no']}/reversal", {"request_no": "rv-1"})
    assert r.status_code == 201, r.content
    reversal = r.json()
    assert reversal["business_type"] == "reversal"
    assert reversal["reverses"] == original["serial_no"]
    assert [(e["account_no"], e["direction"]) for e in reversal["entries"]] == [
        (book.alice.account_no, "credit"),
        (book.bob.account_no, "debit"),
    ]
    assert book.ledger.balance(book.alice) == Decimal("1000.00")
    again = trade.post(f"postings/{original['serial_no']}/reversal", {"request_no": "rv-1"})
    assert again.status_code == 200 and again.content == r.content
    error_of(trade.post(f"postings/{original['serial_no']}/reversal", {"request_no": "rv-2"}), 422, "already_reversed")
    error_of(
        trade.post(f"postings/{reversal['serial_no']}/reversal", {"request_no": "rv-3"}), 422, "reversal_not_allowed"
    )
    error_of(trade.post("postings/987654321/reversal", {"request_no": "rv-4"}), 404, "not_found")


def test_a_reversal_that_would_overdraw_is_refused(trade, book):
    original = trade.post("postings", transfer_body(book.alice, book.bob, "40")).json()
    trade.post("postings", transfer_body(book.bob, book.alice, "40", request_no="t-2"))  # Bob spends it
    error_of(
        trade.post(f"postings/{original['serial_no']}/reversal", {"request_no": "rv-1"}), 422, "insufficient_funds"
    )


def test_only_the_source_system_may_reverse_its_posting(trade, callers, book):
    original = trade.post("postings", transfer_body(book.alice, book.bob, "40")).json()
    other = callers("pay", ["post"])
    before = counts()
    error = error_of(other.post(f"postings/{original['serial_no']}/reversal", {"request_no": "rv-1"}), 403, "forbidden")
    assert "trade" in error["message"]
    assert counts() == before
