"""GET /api/v1/postings/by-request/{source_system}/{request_no} (issue 23,
section 3): a caller finds what it booked by its own request number."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from .conftest import Caller, client_with_key, error_of, transfer_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(ledger):
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "100.00")
    _, key = client_with_key("trade", ["post"])
    trade = Caller(key, "trade")
    r = trade.post("postings", transfer_body(payer, payee, "10.00", request_no="order/2026/7 支付"))
    assert r.status_code == 201, r.content
    return trade, r.json()


def path(source_system: str, request_no: str) -> str:
    return f"postings/by-request/{source_system}/{quote(request_no, safe='')}"


def test_the_caller_finds_its_posting_by_its_request_number(booked):
    trade, posting = booked
    r = trade.get(path("trade", "order/2026/7 支付"))
    assert r.status_code == 200, r.content
    assert r.json() == posting


def test_a_reader_finds_any_source_systems_posting(booked):
    _, posting = booked
    _, key = client_with_key("warehouse", ["read"])
    assert Caller(key).get(path("trade", "order/2026/7 支付")).json() == posting


def test_another_caller_without_read_finds_nothing_of_others(booked):
    _, key = client_with_key("shop", ["post"])
    error_of(Caller(key).get(path("trade", "order/2026/7 支付")), 404, "not_found")


def test_an_unknown_request_number_is_404(booked):
    trade, _ = booked
    error = error_of(trade.get(path("trade", "order/2026/8")), 404, "not_found")
    assert "order/2026/8" in error["message"]


@pytest.mark.parametrize("scopes", [["hold"], ["withdraw"], ["admin"]])
def test_other_scopes_may_not_look(booked, scopes):
    _, key = client_with_key("desk", scopes)
    error_of(Caller(key).get(path("trade", "order/2026/7 支付")), 403, "forbidden")
