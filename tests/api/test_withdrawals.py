"""POST /withdrawals and GET /withdrawals/{id}: amount + fee frozen, the
status and history readable, replays and refusals."""

from __future__ import annotations

import pytest

from postings.models import Hold
from withdrawals.models import Withdrawal
from withdrawals.services import withdrawal_approve, withdrawal_auto_review

from ..withdrawals.conftest import CARD_OK, ensure_withdrawal_defaults, staff
from .conftest import error_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def withdrawal_defaults(db):
    ensure_withdrawal_defaults()


def request_body(book, amount="100.00", request_no="w-1", number=CARD_OK):
    return {
        "request_no": request_no,
        "account_no": book.alice.account_no,
        "amount": amount,
        "bank_card": {"holder": "Alice Zhang", "bank": "ICBC", "number": number},
    }


def test_a_withdrawal_freezes_amount_and_fee(trade, book):
    r = trade.post("withdrawals", request_body(book))
    assert r.status_code == 201, r.content
    w = r.json()
    assert (w["amount"], w["fee"], w["currency"]) == ("100.00", "2.00", "CNY")
    assert w["status"] == "requested"
    assert w["account_no"] == book.alice.account_no and w["member_no"] == book.alice.member.member_no
    assert w["bank_card"] == {"holder": "Alice Zhang", "bank": "ICBC", "number_masked": f"6222 **** {CARD_OK[-4:]}"}
    assert CARD_OK not in r.content.decode()
    assert [(h["from_status"], h["to_status"]) for h in w["history"]] == [("", "requested")]
    assert Withdrawal.objects.get(pk=w["withdrawal_id"]).source_system == "trade"
    account = trade.get(f"accounts/{book.alice.account_no}").json()
    assert (account["frozen"], account["available"]) == ("102.00", "898.00")
    again = trade.post("withdrawals", request_body(book))
    assert again.status_code == 200 and again.json() == w
    assert Hold.objects.count() == 1
    error_of(trade.post("withdrawals", request_body(book, amount="100.01")), 409, "idempotency_conflict")


def test_withdrawal_history_follows_the_review(trade, book):
    w = trade.post("withdrawals", request_body(book)).json()
    withdrawal = Withdrawal.objects.get(pk=w["withdrawal_id"])
    # A card never paid to before: the review rules send it to a reviewer.
    assert withdrawal_auto_review(withdrawal_id=withdrawal.pk).status == "in_review"
    withdrawal_approve(withdrawal_id=withdrawal.pk, user=staff("rev", "Reviewer"), reason="ok")
    now = trade.get(f"withdrawals/{w['withdrawal_id']}").json()
    assert now["status"] == "approved"
    assert [h["to_status"] for h in now["history"]] == ["requested", "in_review", "approved"]


@pytest.mark.parametrize(
    "body_change, status, code",
    [
        ({"amount": "1000.00"}, 422, "insufficient_funds"),  # 1000 + fee 2
        ({"number": "6222021000000001"}, 400, "invalid_card_number"),
        ({"amount": "0.001"}, 400, "invalid_amount"),
    ],
)
def test_withdrawal_refusals(trade, book, body_change, status, code):
    body = request_body(book, amount=body_change.get("amount", "100.00"), number=body_change.get("number", CARD_OK))
    error_of(trade.post("withdrawals", body), status, code)
    assert not Withdrawal.objects.exists() and not Hold.objects.exists()


def test_withdrawals_come_from_a_member_cash_account(trade, book):
    body = request_body(book)
    body["account_no"] = book.carol_credit.account_no
    error_of(trade.post("withdrawals", body), 400, "validation_error")
    body["account_no"] = "123123123"
    error_of(trade.post("withdrawals", body), 404, "not_found")


def test_a_client_without_read_sees_only_its_own_withdrawals(trade, callers, book):
    app = callers("member-app", ["withdraw"])
    mine = app.post("withdrawals", request_body(book, request_no="app-1")).json()
    theirs = trade.post("withdrawals", request_body(book, request_no="trade-1")).json()
    assert app.get(f"withdrawals/{mine['withdrawal_id']}").status_code == 200
    error_of(app.get(f"withdrawals/{theirs['withdrawal_id']}"), 404, "not_found")
    assert trade.get(f"withdrawals/{mine['withdrawal_id']}").status_code == 200
    error_of(trade.get("withdrawals/77777777"), 404, "not_found")
