"""POST /postings/batch: one result per item in the order sent; each item
created, replayed or refused on its own. A malformed batch is a 400 and
posts nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings

from postings.models import Posting

from .conftest import error_of, transfer_body

pytestmark = pytest.mark.django_db


def test_each_item_gets_its_own_result_in_order(trade, book):
    earlier = trade.post("postings", transfer_body(book.alice, book.bob, "1", request_no="b-0")).json()
    items = [
        transfer_body(book.alice, book.bob, "100", request_no="b-1"),
        transfer_body(book.alice, book.bob, "1", request_no="b-0"),  # posted before: replayed
        transfer_body(book.bob, book.alice, "5000", request_no="b-2"),  # Bob has 101: refused
        transfer_body(book.alice, book.bob, "2", request_no="b-0"),  # b-0 with other content: conflict
        transfer_body(book.bob, book.alice, "50", request_no="b-3"),  # sees b-1's 100 already
    ]
    unknown = transfer_body(book.alice, book.bob, "1", request_no="b-4")
    unknown["legs"][1]["account_no"] = "404404404"
    items.append(unknown)
    r = trade.post("postings/batch", {"postings": items})
    assert r.status_code == 200, r.content
    results = r.json()["results"]
    assert [(x["request_no"], x["status"]) for x in results] == [
        ("b-1", "created"),
        ("b-0", "replayed"),
        ("b-2", "error"),
        ("b-0", "error"),
        ("b-3", "created"),
        ("b-4", "error"),
    ]
    assert results[1]["posting"] == earlier
    assert results[2]["error"]["code"] == "insufficient_funds" and results[2]["posting"] is None
    assert results[3]["error"]["code"] == "idempotency_conflict"
    assert results[5]["error"]["code"] == "not_found"
    assert results[0]["error"] is None
    assert [e["balance_after"] for e in results[4]["posting"]["entries"]] == ["51.00", "949.00"]
    assert book.ledger.balance(book.alice) == Decimal("949.00")
    assert book.ledger.balance(book.bob) == Decimal("51.00")
    # Each created item answers like a single posting would, replayed one by one.
    single = trade.post("postings", items[0])
    assert single.status_code == 200 and single.json() == results[0]["posting"]


def test_the_whole_batch_replays(trade, book):
    body = {"postings": [transfer_body(book.alice, book.bob, "1", request_no=f"r-{i}") for i in range(3)]}
    first = trade.post("postings/batch", body).json()["results"]
    count = Posting.objects.count()
    again = trade.post("postings/batch", body).json()["results"]
    assert [x["status"] for x in again] == ["replayed"] * 3
    assert [x["posting"] for x in again] == [x["posting"] for x in first]
    assert Posting.objects.count() == count


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "postings"),
        ({"postings": []}, "postings"),
        ({"postings": "x"}, "postings"),
        ({"postings": [{"request_no": "x"}]}, "postings[0].business_type"),
    ],
)
def test_a_malformed_batch_is_refused_whole(trade, book, body, field):
    good = transfer_body(book.alice, book.bob, "1", request_no="ok-1")
    if body.get("postings") and isinstance(body["postings"], list):
        body = {"postings": [good, *body["postings"]]}
        field = field.replace("[0]", "[1]")
    count = Posting.objects.count()
    error = error_of(trade.post("postings/batch", body), 400, "validation_error")
    assert field in error["fields"], error
    assert Posting.objects.count() == count


def test_a_batch_larger_than_the_limit_is_refused(trade, book):
    with override_settings(POSTING_BATCH_MAX=3):
        body = {"postings": [transfer_body(book.alice, book.bob, "1", request_no=f"m-{i}") for i in range(4)]}
        error_of(trade.post("postings/batch", body), 400, "validation_error")
    assert not Posting.objects.filter(request_no__startswith="m-").exists()


def test_batch_needs_the_post_scope(callers, book):
    reader = callers("reader", ["read"])
    error_of(reader.post("postings/batch", {"postings": [transfer_body(book.alice, book.bob)]}), 403, "forbidden")
