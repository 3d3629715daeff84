"""The credit product's API: a member's line now (amount owed, minimum due,
due date), its bills and a bill's detail, a repayment with its allocation
(idempotent), and the limit raised and lowered by a calling system."""

from __future__ import annotations

from datetime import date

import pytest

from accounts.models import CreditLimitChange
from tests.api.conftest import Caller, client_with_key, error_of

from .books import D, bills_of, buy, member, open_on, product, run_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(db) -> Caller:
    _, key = client_with_key("member-app", ["read", "post", "admin"])
    return Caller(key, "member-app")


@pytest.fixture
def overdue(ledger):
    """Billed 1,000.00 on 1 Feb, due 10 Feb, nothing paid by the 13th."""
    open_on(ledger.entity, date(2026, 1, 1))
    product(ledger)
    m = member(ledger)
    buy(m, "1000.00")
    run_until(ledger.entity, date(2026, 2, 13))
    return m


def test_the_line_now_says_what_is_owed_the_minimum_and_the_due_date(app, overdue):
    body = app.get(f"accounts/{overdue.credit.account_no}/credit").json()
    assert body["owed"] == {
        "currency": "CNY",
        "principal": "1000.00",
        "interest": "1.50",  # 11-13 February, 0.50 a day
        "penalty": "0.09",  # 0.03 a day on the unpaid minimum of 100.00
        "total": "1001.59",
    }
    assert (body["amount_due"], body["minimum_due"], body["due_date"], body["days_overdue"]) == (
        "1000.00",
        "100.00",
        "2026-02-10",
        3,
    )
    assert (body["credit_limit"], body["used"], body["available"], body["over_limit"]) == (
        "5000.00",
        "1001.59",
        "3998.41",
        False,
    )
    assert body["bill"]["status"] == "overdue" and body["as_of"] == "2026-02-13"


def test_a_line_before_its_first_bill(app, ledger):
    product(ledger)
    m = member(ledger)
    buy(m, "12.34")
    body = app.get(f"accounts/{m.credit.account_no}/credit").json()
    assert (body["owed"]["total"], body["bill"], body["amount_due"], body["minimum_due"], body["due_date"]) == (
        "12.34",
        None,
        "0.00",
        "0.00",
        None,
    )
    assert app.get(f"accounts/{m.credit.account_no}/bills").json() == {"results": []}


def test_bills_and_a_bills_detail(app, overdue):
    run_until(overdue.credit.entity, date(2026, 3, 1))
    bills = app.get(f"accounts/{overdue.credit.account_no}/bills").json()["results"]
    assert [(b["billing_date"], b["amount_due"], b["status"]) for b in bills] == [
        ("2026-03-01", "1009.54", "not_due"),
        ("2026-02-01", "1000.00", "overdue"),
    ]
    march = bills[0]
    # The accruals dated 11-28 February, 18 days: 18 x 0.50 interest, 18 x 0.03 penalty.
    assert (march["interest"], march["penalties"]) == ("9.00", "0.54")
    detail = app.get(f"bills/{march['bill_id']}").json()
    assert [(m["business_type"], m["direction"], m["amount"]) for m in detail["movements"]][:2] == [
        ("credit_interest", "debit", "0.50"),
        ("credit_penalty", "debit", "0.03"),
    ]
    assert len(detail["accruals"]) == 36
    first = detail["accruals"][0]
    assert (first["accrual_date"], first["kind"], first["base"], first["rate"], first["amount"]) == (
        "2026-02-11",
        "interest",
        "1000.00",
        "0.0005",
        "0.50",
    )
    error_of(app.get("bills/999999"), 404, "not_found")


def test_a_repayment_is_allocated_and_a_replay_answers_the_same(app, overdue):
    body = {"request_no": "rp-1", "cash_account_no": overdue.cash.account_no, "amount": "100.00"}
    first = app.post(f"accounts/{overdue.credit.account_no}/repayments", body)
    assert first.status_code == 201, first.content
    allocation = first.json()["allocation"]
    assert (allocation["penalty"], allocation["interest"], allocation["principal"], allocation["amount"]) == (
        "0.09",
        "1.50",
        "98.41",
        "100.00",
    )
    assert allocation["allocation_order"] == "penalty,interest,principal"
    again = app.post(f"accounts/{overdue.credit.account_no}/repayments", body)
    assert again.status_code == 200 and again.json() == first.json()
    error_of(
        app.post(f"accounts/{overdue.credit.account_no}/repayments", {**body, "amount": "99.00"}),
        409,
        "idempotency_conflict",
    )
    error_of(
        app.post(f"accounts/{overdue.credit.account_no}/repayments", {**body, "request_no": "rp-2", "amount": "5000"}),
        422,
        "insufficient_funds",
    )
    error_of(
        app.post(f"accounts/{overdue.cash.account_no}/repayments", {**body, "request_no": "rp-3"}),
        404,
        "no_credit_product",
    )


def test_the_limit_lowered_below_what_is_used_through_the_api(app, ledger, overdue):
    url = f"accounts/{overdue.credit.account_no}/credit-limit"
    answer = app.post(url, {"credit_limit": "800", "reason": "risk review"})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["credit_limit"], body["used"], body["available"], body["over_limit"]) == (
        "800.00",
        "1001.59",
        "-201.59",
        True,
    )
    assert (body["change"]["old_limit"], body["change"]["new_limit"], body["change"]["used"]) == (
        "5000.00",
        "800.00",
        "1001.59",
    )
    assert body["change"]["changed_by"].startswith("api:member-app:")
    assert app.post(url, {"credit_limit": "800.00", "reason": "again"}).json()["change"] is None
    assert CreditLimitChange.objects.filter(account=overdue.credit).count() == 1
    refused = app.post(
        "postings/by-rule",
        {
            "request_no": "buy-over",
            "business_type": "credit_purchase",
            "params": {
                "credit_account": overdue.credit.account_no,
                "merchant_account": overdue.shop.account_no,
                "amount": "1.00",
            },
        },
    )
    error_of(refused, 422, "insufficient_funds")
    error_of(app.post(url, {"credit_limit": "-1", "reason": "x"}), 400, "validation_error")
    error_of(
        app.post(f"accounts/{overdue.cash.account_no}/credit-limit", {"credit_limit": "1", "reason": "x"}),
        400,
        "validation_error",
    )


def test_scopes(db, overdue):
    _, key = client_with_key("reader", ["read"])
    reader = Caller(key, "reader")
    assert reader.get(f"accounts/{overdue.credit.account_no}/credit").status_code == 200
    error_of(
        reader.post(f"accounts/{overdue.credit.account_no}/credit-limit", {"credit_limit": "1", "reason": "x"}),
        403,
        "forbidden",
    )
    error_of(
        reader.post(
            f"accounts/{overdue.credit.account_no}/repayments",
            {"request_no": "r", "cash_account_no": overdue.cash.account_no, "amount": "1"},
        ),
        403,
        "forbidden",
    )


def test_the_api_may_not_post_an_accrual(app, overdue):
    refused = app.post(
        "postings/by-rule",
        {
            "request_no": "fake-interest",
            "business_type": "credit_interest",
            "params": {"credit_account": overdue.credit.account_no, "amount": "1.00"},
        },
    )
    error_of(refused, 400, "validation_error")
    assert len(bills_of(overdue.credit)) == 1 and D("1") > 0
