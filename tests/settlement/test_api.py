"""GET /api/v1/accounts/{account_no}/settlement: a T+N merchant's available
and pending settlement shown apart, with when the pending falls due."""

from datetime import date

import pytest

from tests.api.conftest import ALL_SCOPES, client_with_key

from .books import on_day, pay, t_plus

pytestmark = pytest.mark.django_db


def _get(client, key, account_no):
    return client.get(f"/api/v1/accounts/{account_no}/settlement", HTTP_AUTHORIZATION=f"Api-Key {key}")


def test_available_and_pending_apart(ledger, client):
    _, key = client_with_key("trade", ALL_SCOPES)
    term, available, pending = t_plus(ledger, 1)
    buyer = ledger.cash()
    ledger.recharge(buyer, "100")
    on_day(ledger.entity, date(2026, 11, 6))  # a Friday: due Monday
    pay(ledger, buyer, pending, "60.00")
    pay(ledger, pending, available, "5.00")  # some already available (a manual move)
    r = _get(client, key, available.account_no)
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["available"], body["pending"], body["due_now"], body["days"]) == ("5.00", "55.00", "0.00", 1)
    assert body["pending_account_no"] == pending.account_no
    assert body["schedule"] == [
        {"accounting_date": "2026-11-06", "due_on": "2026-11-09", "amount": "60.00", "currency": "CNY"}
    ]


def test_errors(ledger, client):
    _, key = client_with_key("trade", ALL_SCOPES)
    plain = ledger.cash()
    r = _get(client, key, plain.account_no)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "no_settlement_term")
    r = _get(client, key, "NOSUCH")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")
    _, no_read = client_with_key("writer", ["post"])
    assert _get(client, no_read, plain.account_no).status_code == 403
    assert client.get(f"/api/v1/accounts/{plain.account_no}/settlement").status_code == 401
