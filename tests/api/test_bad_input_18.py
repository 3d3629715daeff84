"""Issue 18 §5: inputs that were a 500 or were booked are a 4xx in the error
shape and write nothing: bodies nested too deep, an unknown charset, one
account on both sides, a reversal replayed with another memo."""

from __future__ import annotations

import json

import pytest

from config.api.parsers import MAX_DEPTH, nesting_depth

from .conftest import error_of, transfer_body
from .test_bad_input import snapshot

pytestmark = pytest.mark.django_db

POST_PATHS = [
    "members",
    "accounts",
    "accounts/{account}/status",
    "postings",
    "postings/by-rule",
    "postings/batch",
    "postings/1/reversal",
    "holds",
    "holds/{hold}/settle",
    "holds/{hold}/release",
    "withdrawals",
]


@pytest.fixture
def hold_id(trade, book):
    return trade.post(
        "holds", {"request_no": "h-0", "account_no": book.alice.account_no, "amount": "10", "reason": "r"}
    ).json()["hold_id"]


@pytest.mark.parametrize("path", POST_PATHS)
def test_a_body_nested_1000_deep_is_400_on_every_post_endpoint(trade, book, hold_id, path):
    url = path.format(account=book.alice.account_no, hold=hold_id)
    before = snapshot()
    raw = '{"request_no": "deep", "x": ' + "[" * 1000 + "]" * 1000 + "}"
    error = error_of(trade.post(url, raw=raw), 400, "validation_error")
    assert str(MAX_DEPTH) in error["message"]
    assert snapshot() == before


def test_nesting_just_under_the_limit_is_parsed_and_brackets_in_strings_do_not_count(trade, book):
    body = transfer_body(book.alice, book.bob, memo="[[[{{{" * 100)
    inner: list = []
    for _ in range(MAX_DEPTH - 2):  # the body object itself is one level
        inner = [inner]
    body["x"] = inner
    raw = json.dumps(body)
    assert nesting_depth(raw.encode()) == MAX_DEPTH
    # Parsed (not refused as too deep): the unknown field is what is refused, or ignored.
    r = trade.post("postings", raw=raw)
    assert r.status_code in (201, 400), r.content
    if r.status_code == 400:
        assert "deeper" not in r.json()["error"]["message"]


def test_nesting_depth_skips_strings_and_escapes():
    assert nesting_depth(b'{"a": "[[[\\"[[", "b": [1, {"c": []}]}') == 4
    assert nesting_depth(b"[]") == 1
    assert nesting_depth(b"") == 0


@pytest.mark.parametrize("charset", ["foo", "utf-99", '"x"'])
def test_an_unknown_charset_is_415(trade, book, charset):
    before = snapshot()
    # generic(): post() would encode the body in the unknown charset itself.
    r = trade.http.generic(
        "POST",
        "/api/v1/postings",
        data=json.dumps(transfer_body(book.alice, book.bob)).encode(),
        content_type=f"application/json; charset={charset}",
        **trade.headers(),
    )
    error_of(r, 415, "unsupported_media_type")
    assert snapshot() == before


def test_a_known_charset_is_still_accepted(trade, book):
    r = trade.post(
        "postings", raw=json.dumps(transfer_body(book.alice, book.bob)), content_type="application/json; charset=UTF-8"
    )
    assert r.status_code == 201, r.content


def test_one_account_on_both_sides_is_400_same_account(trade, book):
    a, b = book.alice, book.bob
    before = snapshot()
    body = transfer_body(a, a)
    error = error_of(trade.post("postings", body), 400, "same_account")
    assert error["fields"] == {"account_no": a.account_no}
    three = transfer_body(a, b, amount="10")
    three["legs"] = [
        {"account_no": a.account_no, "direction": "debit", "amount": "20"},
        {"account_no": b.account_no, "direction": "credit", "amount": "10"},
        {"account_no": a.account_no, "direction": "credit", "amount": "10"},
    ]
    error_of(trade.post("postings", three), 400, "same_account")
    batch = trade.post("postings/batch", {"postings": [transfer_body(a, a, request_no="b-1")]})
    assert batch.status_code in (200, 201, 207, 400, 422), batch.content
    assert "same_account" in batch.content.decode()
    assert snapshot() == before


def test_a_hold_settled_to_its_own_account_is_400_same_account(trade, book, hold_id):
    before = snapshot()
    r = trade.post(
        f"holds/{hold_id}/settle", {"request_no": "s-self", "amount": "5", "counter_account_no": book.alice.account_no}
    )
    error_of(r, 400, "same_account")
    assert snapshot() == before


def test_a_reversal_replayed_with_another_memo_is_409(trade, book):
    original = trade.post("postings", transfer_body(book.alice, book.bob)).json()
    url = f"postings/{original['serial_no']}/reversal"
    first = trade.post(url, {"request_no": "rv-1", "memo": "wrong amount"})
    assert first.status_code == 201, first.content
    again = trade.post(url, {"request_no": "rv-1", "memo": "wrong amount"})
    assert again.status_code == 200 and again.json() == first.json()
    before = snapshot()
    error_of(trade.post(url, {"request_no": "rv-1", "memo": "another reason"}), 409, "idempotency_conflict")
    error_of(trade.post(url, {"request_no": "rv-1"}), 409, "idempotency_conflict")
    assert snapshot() == before
