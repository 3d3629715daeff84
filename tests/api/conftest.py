"""API fixtures: calling systems with keys of each scope, a JSON client,
and a small funded book to call against. Everything is built through the
services, as production does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from django.test import Client

from accounts.models import Account
from config.api.models import ApiClient
from config.api.services import api_client_create

ALL_SCOPES = ["read", "post", "hold", "withdraw", "admin"]


def client_with_key(name: str, scopes, source_system: str | None = None, **kw) -> tuple[ApiClient, str]:
    return api_client_create(name=name, source_system=source_system or name, scopes=scopes, actor="test", **kw)


class Caller:
    """One calling system: its key on every request, JSON in and out."""

    def __init__(self, key: str | None, source_system: str = ""):
        self.key = key
        self.source_system = source_system
        self.http = Client()

    def headers(self, key=None, extra=None) -> dict:
        key = self.key if key is None else key
        headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"} if key else {}
        return {**headers, **(extra or {})}

    def post(
        self,
        path: str,
        body=None,
        *,
        key=None,
        raw: str | bytes | None = None,
        content_type: str = "application/json",
        **extra,
    ):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.http.post(f"/api/v1/{path}", data=data, content_type=content_type, **self.headers(key, extra))

    def get(self, path: str, params=None, *, key=None, **extra):
        return self.http.get(f"/api/v1/{path}", data=params or {}, **self.headers(key, extra))

    def call(self, method: str, url: str, body=None, *, key=None, **extra):
        data = json.dumps(body) if body is not None else ""
        return self.http.generic(method, url, data=data, content_type="application/json", **self.headers(key, extra))


def error_of(response, status: int, code: str) -> dict:
    """Assert the one error shape, with ``status`` and ``code``; return the error."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict) and all(isinstance(v, str) for v in error["fields"].values())
    return error


@dataclass
class Book:
    """Alice's wallet with 1,000.00, Bob's empty wallet, Carol's 500.00 credit
    line, the CNY channel clearing and fee income accounts."""

    ledger: object
    alice: Account
    bob: Account
    carol_credit: Account
    channel: Account
    fee_income: Account
    extra: dict = field(default_factory=dict)


@pytest.fixture
def book(ledger) -> Book:
    alice = ledger.cash(ledger.member("Alice"))
    bob = ledger.cash(ledger.member("Bob"))
    carol_credit = ledger.credit(ledger.member("Carol"), limit="500")
    ledger.recharge(alice, "1000.00")
    return Book(
        ledger=ledger,
        alice=ledger.fresh(alice),
        bob=ledger.fresh(bob),
        carol_credit=carol_credit,
        channel=ledger.channel(),
        fee_income=ledger.internal("FEE_INCOME"),
    )


@pytest.fixture
def trade(db) -> Caller:
    """The trade system: every scope."""
    _, key = client_with_key("trade", ALL_SCOPES)
    return Caller(key, "trade")


@pytest.fixture
def callers(db):
    """A factory of calling systems: callers("risk", ["read"])."""

    def make(name: str, scopes) -> Caller:
        _, key = client_with_key(name, scopes)
        return Caller(key, name)

    return make


def transfer_body(payer: Account, payee: Account, amount: str = "10.00", request_no: str = "t-1", **extra) -> dict:
    return {
        "request_no": request_no,
        "business_type": "transfer",
        "legs": [
            {"account_no": payer.account_no, "direction": "debit", "amount": amount},
            {"account_no": payee.account_no, "direction": "credit", "amount": amount},
        ],
        **extra,
    }
