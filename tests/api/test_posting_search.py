"""Trade numbers and metadata through the API, and finding postings by the
caller's references (issue 23 §3): GET /api/v1/postings with each filter,
scoped to what the client may see, paged by a cursor that new postings do
not disturb; GET /api/v1/members/{no} and its accounts."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlparse

import pytest

from postings.models import Posting

from .conftest import ALL_SCOPES, Caller, client_with_key, error_of, transfer_body

pytestmark = pytest.mark.django_db

ORDER = {"order_id": "SO-42", "channel": "app"}


@pytest.fixture
def shop(db) -> Caller:
    _, key = client_with_key("shop", ["post"])
    return Caller(key, "shop")


@pytest.fixture
def reader(db) -> Caller:
    _, key = client_with_key("warehouse", ["read"])
    return Caller(key, "warehouse")


def post_transfer(caller, book, request_no, amount="1.00", **extra):
    r = caller.post("postings", transfer_body(book.alice, book.bob, amount, request_no=request_no, **extra))
    assert r.status_code == 201, r.content
    return r.json()


def found(caller, **params) -> list[str]:
    r = caller.get("postings", params)
    assert r.status_code == 200, r.content
    return [p["request_no"] for p in r.json()["results"]]


# ------------------------------------------------------------ the writes ----


def test_a_posting_answers_and_keeps_its_references(trade, book):
    r = trade.post("postings", transfer_body(book.alice, book.bob, request_no="p-1", trade_no="T-1", metadata=ORDER))
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["trade_no"], body["metadata"]) == ("T-1", ORDER)
    assert trade.get(f"postings/{body['serial_no']}").json() == body
    again = trade.post(
        "postings",
        transfer_body(book.alice, book.bob, request_no="p-1", trade_no="T-1", metadata=dict(reversed(ORDER.items()))),
    )
    assert again.status_code == 200 and again.json() == body
    plain = trade.post("postings", transfer_body(book.alice, book.bob, request_no="p-2")).json()
    assert (plain["trade_no"], plain["metadata"]) == (None, {})


@pytest.mark.parametrize(
    "change", [{"trade_no": "T-2", "metadata": ORDER}, {"trade_no": "T-1", "metadata": {"order_id": "SO-43"}}, {}]
)
def test_a_retry_with_other_references_is_409(trade, book, change):
    first = transfer_body(book.alice, book.bob, request_no="p-1", trade_no="T-1", metadata=ORDER)
    assert trade.post("postings", first).status_code == 201
    error_of(
        trade.post("postings", transfer_body(book.alice, book.bob, request_no="p-1", **change)),
        409,
        "idempotency_conflict",
    )


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ([1, 2], "metadata"),
        ({"bad key": "x"}, "metadata"),
        ({"amount": 100}, "metadata.amount"),
        ({"long": "x" * 501}, "metadata.long"),
        ({f"k{i}": "v" for i in range(51)}, "metadata"),
        ({f"k{i}": "x" * 300 for i in range(14)}, "metadata"),
    ],
)
def test_malformed_metadata_is_400_invalid_metadata_naming_the_key(trade, book, metadata, field):
    r = trade.post("postings", transfer_body(book.alice, book.bob, request_no="bad", metadata=metadata))
    assert set(error_of(r, 400, "invalid_metadata")["fields"]) == {field}
    assert not Posting.objects.filter(request_no="bad").exists()


@pytest.mark.parametrize("trade_no", ["", "t" * 65, 7])
def test_a_malformed_trade_number_is_400(trade, book, trade_no):
    r = trade.post("postings", transfer_body(book.alice, book.bob, request_no="bad", trade_no=trade_no))
    assert "trade_no" in error_of(r, 400, "validation_error")["fields"]


def test_a_batch_keeps_each_items_references_and_one_bad_metadata_refuses_it_whole(trade, book):
    items = [
        transfer_body(book.alice, book.bob, request_no="b-1", trade_no="T-b", metadata={"line": "1"}),
        transfer_body(book.alice, book.bob, request_no="b-2"),
    ]
    results = trade.post("postings/batch", {"postings": items}).json()["results"]
    assert [r["status"] for r in results] == ["created", "created"]
    refs = [(r["posting"]["trade_no"], r["posting"]["metadata"]) for r in results]
    assert refs == [("T-b", {"line": "1"}), (None, {})]
    # A malformed batch is refused whole (docs/api.md), with the item's key named.
    items += [transfer_body(book.alice, book.bob, request_no="b-3", metadata={"line": 3})]
    error = error_of(trade.post("postings/batch", {"postings": items}), 400, "invalid_metadata")
    assert error["fields"] == {
        "postings[2].metadata.line": "metadata 'line' must be a string, not int (send \"100\", not 100)."
    }
    assert not Posting.objects.filter(request_no="b-3").exists()


def test_by_rule_hold_settlement_and_withdrawal_take_them(trade, book):
    rule = trade.post(
        "postings/by-rule",
        {
            "request_no": "rc-1",
            "business_type": "recharge",
            "params": {
                "member_account": book.bob.account_no,
                "channel_account": book.channel.account_no,
                "amount": "5",
            },
            "trade_no": "T-rc",
            "metadata": {"campaign": "spring"},
        },
    ).json()
    assert (rule["trade_no"], rule["metadata"]) == ("T-rc", {"campaign": "spring"})
    hold = trade.post(
        "holds",
        {
            "request_no": "h-1",
            "account_no": book.alice.account_no,
            "amount": "30",
            "reason": "order",
            "trade_no": "T-h",
            "metadata": ORDER,
        },
    )
    assert hold.status_code == 201, hold.content
    assert (hold.json()["trade_no"], hold.json()["metadata"]) == ("T-h", ORDER)
    hold_id = hold.json()["hold_id"]
    settle = {"amount": "10", "counter_account_no": book.bob.account_no}
    inherited = trade.post(f"holds/{hold_id}/settle", {"request_no": "s-1", **settle}).json()
    assert (inherited["trade_no"], inherited["metadata"]) == ("T-h", ORDER)
    own = trade.post(f"holds/{hold_id}/settle", {"request_no": "s-2", "trade_no": "T-own", **settle}).json()
    assert (own["trade_no"], own["metadata"]) == ("T-own", ORDER)
    assert found(trade, trade_no="T-h") == ["s-1"]


# ------------------------------------------------------------ the search ----


@pytest.fixture
def booked(trade, shop, book):
    """trade: t-1 (T-1, SO-1 app), t-2 (T-1, SO-2 web), t-3 (T-2); shop: s-1 (T-1, SO-1 app)."""
    rows = [
        (trade, "t-1", {"trade_no": "T-1", "metadata": {"order_id": "SO-1", "channel": "app"}, "external_ref": "X1"}),
        (trade, "t-2", {"trade_no": "T-1", "metadata": {"order_id": "SO-2", "channel": "web"}}),
        (trade, "t-3", {"trade_no": "T-2", "business_type": "fee"}),
        (shop, "s-1", {"trade_no": "T-1", "metadata": {"order_id": "SO-1", "channel": "app"}}),
    ]
    for caller, request_no, extra in rows:
        body = transfer_body(book.alice, book.bob, request_no=request_no)
        body.update(extra)
        r = caller.post("postings", body)
        assert r.status_code == 201, r.content
    return rows


def test_each_filter_finds_exactly_its_postings_newest_first(reader, booked):
    assert found(reader, trade_no="T-1") == ["s-1", "t-2", "t-1"]
    assert found(reader, request_no="t-2") == ["t-2"]
    assert found(reader, request_no="s-1", source_system="shop") == ["s-1"]
    assert found(reader, external_ref="X1") == ["t-1"]
    assert found(reader, **{"metadata[order_id]": "SO-1"}) == ["s-1", "t-1"]
    assert found(reader, **{"metadata[channel]": "web"}) == ["t-2"]
    assert found(reader, **{"metadata[order_id]": "SO-1", "metadata[channel]": "web"}) == []
    assert found(reader, **{"metadata[order_id]": "SO-1", "metadata[channel]": "app"}) == ["s-1", "t-1"]
    assert found(reader, trade_no="T-1", source_system="trade") == ["t-2", "t-1"]
    assert found(reader, business_type="fee") == ["t-3"]
    assert found(reader, trade_no="T-1", entity="MAIN")[:1] == ["s-1"]
    assert found(reader, trade_no="nothing") == []


@pytest.mark.django_db(transaction=True)  # each posting its own transaction, so its own created_at
def test_a_time_range_from_inclusive_to_exclusive(reader, booked):
    t1 = Posting.objects.get(request_no="t-1").created_at
    t3 = Posting.objects.get(request_no="t-3").created_at
    window = found(reader, **{"from": t1.isoformat(), "to": t3.isoformat()})
    assert window == ["t-2", "t-1"]
    assert found(reader, **{"from": t3.isoformat()}) == ["s-1", "t-3"]
    error_of(reader.get("postings", {"from": t3.isoformat(), "to": t1.isoformat()}), 400, "validation_error")


def test_bad_searches_are_refused(reader, booked):
    assert "metadata" in error_of(reader.get("postings", {"metadata[bad key]": "x"}), 400, "invalid_metadata")["fields"]
    error_of(reader.get("postings", {"metadata[k]": "x" * 501}), 400, "invalid_metadata")
    error_of(reader.get("postings", {"metadata": "x"}), 400, "validation_error")  # not metadata[key]
    error_of(reader.get("postings", {"trade": "T-1"}), 400, "validation_error")  # a mistyped filter
    error_of(reader.get("postings", {"entity": "NOPE"}), 404, "not_found")
    error_of(reader.get("postings?metadata[k]=a&metadata[k]=b"), 400, "validation_error")
    error_of(reader.get("postings", {"cursor": "!!"}), 404, "not_found")


def test_a_client_without_read_finds_only_its_own(shop, trade, booked):
    assert found(shop, trade_no="T-1") == ["s-1"]
    assert found(shop) == ["s-1"]
    assert found(shop, trade_no="T-1", source_system="trade") == []
    assert found(shop, **{"metadata[order_id]": "SO-1"}) == ["s-1"]
    # trade has every scope, read among them: it sees the shop's too.
    assert found(trade, trade_no="T-1") == ["s-1", "t-2", "t-1"]


@pytest.mark.parametrize("scopes", [["hold"], ["withdraw"], ["admin"]])
def test_other_scopes_may_not_search(booked, scopes):
    _, key = client_with_key("desk", scopes)
    error_of(Caller(key).get("postings", {"trade_no": "T-1"}), 403, "forbidden")


def test_the_cursor_pages_through_without_repeats_or_gaps_while_postings_arrive(trade, book):
    for i in range(7):
        post_transfer(trade, book, f"c-{i}", trade_no="T-c")
    seen, pages = [], 0
    params = {"trade_no": "T-c", "page_size": "3"}
    while True:
        r = trade.get("postings", params)
        assert r.status_code == 200, r.content
        page = r.json()
        seen += [p["request_no"] for p in page["results"]]
        pages += 1
        # Two more postings of the trade arrive between every two pages.
        post_transfer(trade, book, f"late-{pages}-a", trade_no="T-c")
        post_transfer(trade, book, f"late-{pages}-b", trade_no="T-c")
        if page["next"] is None:
            break
        cursor = parse_qs(urlparse(page["next"]).query)["cursor"][0]
        params = {"trade_no": "T-c", "page_size": "3", "cursor": cursor}
    assert pages == 3
    assert seen == [f"c-{i}" for i in reversed(range(7))]  # each once, newest first, none of the late ones
    # The late ones are above the first page: a fresh search starts with them.
    assert found(trade, trade_no="T-c", page_size="2") == ["late-3-b", "late-3-a"]
    # The previous link of a later page goes back to the page before it.
    second = trade.get("postings", params | {"page_size": "3"}).json()
    assert second["previous"] is not None


# ----------------------------------------------------------------- members ----


def test_a_member_and_its_accounts(reader, book):
    member = book.alice.member
    r = reader.get(f"members/{quote(member.member_no, safe='')}")
    assert r.status_code == 200, r.content
    assert (r.json()["member_no"], r.json()["name"], r.json()["customer"]["name"]) == (
        member.member_no,
        member.name,
        member.customer.name,
    )
    second = book.ledger.cash(member, currency="USD")
    accounts = reader.get(f"members/{member.member_no}/accounts").json()
    assert accounts["member_no"] == member.member_no
    assert [(a["account_no"], a["currency"], a["balance"]) for a in accounts["accounts"]] == sorted(
        [(book.alice.account_no, "CNY", "1000.00"), (second.account_no, "USD", "0.00")]
    )
    error_of(reader.get("members/NOBODY"), 404, "not_found")
    error_of(reader.get("members/NOBODY/accounts"), 404, "not_found")


def test_a_member_number_with_a_slash(trade, reader):
    body = {
        "member_no": "shop/7",
        "name": "Shop Seven",
        "customer": {"kind": "company", "id_no": "91310000MA7", "name": "Shop Seven"},
    }
    assert trade.post("members", body).status_code == 201
    assert reader.get(f"members/{quote('shop/7', safe='')}").json()["member_no"] == "shop/7"
    assert reader.get(f"members/{quote('shop/7', safe='')}/accounts").json() == {"member_no": "shop/7", "accounts": []}


@pytest.mark.parametrize("scopes", [["post"], ["hold"], ["withdraw"], ["admin"]])
def test_members_need_the_read_scope(book, scopes):
    _, key = client_with_key("desk", scopes)
    error_of(Caller(key).get(f"members/{book.alice.member.member_no}"), 403, "forbidden")
    error_of(Caller(key).get(f"members/{book.alice.member.member_no}/accounts"), 403, "forbidden")


def test_every_scope_together_reads_members(book):
    _, key = client_with_key("all", ALL_SCOPES)
    assert Caller(key).get(f"members/{book.alice.member.member_no}").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_paging_while_another_thread_keeps_posting_the_same_trade(trade, book):
    """A real second writer: while a caller walks the trade's pages, a thread
    books more postings of it. The walk sees each posting that was there
    when it started exactly once, newest first, and nothing it did not ask for."""
    import threading

    from django.db import connection

    from postings.services import Leg, posting_create

    for i in range(12):
        post_transfer(trade, book, f"w-{i}", trade_no="T-w")
    stop, written = threading.Event(), []

    def writer():
        try:
            n = 0
            while not stop.is_set() and n < 200:
                posting = posting_create(
                    request_no=f"bg-{n}",
                    business_type="transfer",
                    legs=[Leg.debit(book.alice.account_no, "0.01"), Leg.credit(book.bob.account_no, "0.01")],
                    posted_by="bg",
                    source_system="trade",
                    trade_no="T-w",
                )
                written.append(posting.serial_no)
                n += 1
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen, params = [], {"trade_no": "T-w", "page_size": "2"}
        while True:
            page = trade.get("postings", params).json()
            seen += [p["serial_no"] for p in page["results"]]
            if page["next"] is None:
                break
            params = {**params, "cursor": parse_qs(urlparse(page["next"]).query)["cursor"][0]}
    finally:
        stop.set()
        thread.join()
    assert written, "the writer booked while the caller paged"
    assert seen == sorted(set(seen), reverse=True)  # no repeats, newest first
    there = Posting.objects.filter(trade_no="T-w", serial_no__lte=seen[0]).order_by("-serial_no")
    assert seen == list(there.values_list("serial_no", flat=True))
