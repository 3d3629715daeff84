"""Bad input is a 4xx in the error shape, never a 500, and writes nothing:
malformed JSON, wrong types, floats, negative and huge amounts, unknown
accounts, NUL bytes, ids past bigint, the wrong content type."""

from __future__ import annotations

import json

import pytest

from accounts.models import Account, Customer, Member
from postings.models import Entry, Hold, HoldEvent, Posting
from withdrawals.models import Withdrawal

from .conftest import error_of, transfer_body

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        Posting.objects.count(),
        Entry.objects.count(),
        Hold.objects.count(),
        HoldEvent.objects.count(),
        Withdrawal.objects.count(),
        Account.objects.count(),
        Member.objects.count(),
        Customer.objects.count(),
        sorted(Account.objects.values_list("id", "balance", "frozen")),
    )


@pytest.fixture
def hold_id(trade, book):
    return trade.post(
        "holds", {"request_no": "h-0", "account_no": book.alice.account_no, "amount": "10", "reason": "r"}
    ).json()["hold_id"]


def bodies(book):
    """(endpoint, body) pairs that must all be refused with a 400."""
    a, b = book.alice, book.bob

    def leg_amount(value):
        body = transfer_body(a, b)
        body["legs"][0]["amount"] = body["legs"][1]["amount"] = value
        return body

    def with_(**changes):
        return {**transfer_body(a, b), **changes}

    postings = [
        leg_amount(1.5),
        leg_amount(10),
        leg_amount(None),
        leg_amount(True),
        leg_amount("-5"),
        leg_amount("0"),
        leg_amount("0.00"),
        leg_amount("1e30"),
        leg_amount("1E2"),
        leg_amount("NaN"),
        leg_amount("Infinity"),
        leg_amount("99999999999999999999"),
        leg_amount("12345678901234567"),
        leg_amount("1.23456"),
        leg_amount(" 10"),
        leg_amount("10 "),
        leg_amount("1,000.00"),
        leg_amount("１０"),
        leg_amount("٣"),
        leg_amount(""),
        leg_amount([]),
        leg_amount({"amount": "1"}),
        leg_amount("10\n"),
        with_(request_no=""),
        with_(request_no=123),
        with_(request_no="x" * 65),
        with_(request_no=None),
        with_(business_type="reversal"),
        with_(business_type="lottery"),
        with_(business_type=None),
        with_(legs="debit alice"),
        with_(legs=[]),
        with_(legs=[transfer_body(a, b)["legs"][0]]),
        with_(legs=transfer_body(a, b)["legs"] * 51),
        with_(legs=[None, None]),
        with_(legs=[1, 2]),
        with_(memo="m\x00emo"),
        with_(memo="x" * 256),
        with_(memo=5),
        with_(external_ref="r" * 65),
        with_(currency="XXX"),
        with_(currency=156),
        with_(accounting_date="yesterday"),
        with_(accounting_date="2024-02-30"),
        with_(accounting_date=20240101),
        {**transfer_body(a, b), "legs": [{**leg, "direction": "left"} for leg in transfer_body(a, b)["legs"]]},
        {**transfer_body(a, b), "legs": [{**leg, "account_no": 42} for leg in transfer_body(a, b)["legs"]]},
        {**transfer_body(a, b), "legs": [{**leg, "account_no": "x" * 33} for leg in transfer_body(a, b)["legs"]]},
        {**transfer_body(a, b), "legs": [{**leg, "account_no": "a\x00b"} for leg in transfer_body(a, b)["legs"]]},
        [],
        "postings",
        42,
        None,
        {},
    ]
    return (
        [("postings", body) for body in postings]
        + [
            ("postings/by-rule", body)
            for body in [
                {"request_no": "r", "business_type": "recharge", "params": {"amount": 1.5}},
                {"request_no": "r", "business_type": "recharge", "params": "amount=1"},
                {"request_no": "r", "business_type": "recharge", "params": {f"p{i}": "1" for i in range(33)}},
                {"request_no": "r", "business_type": "recharge", "params": {"amount": "x" * 65}},
                {"request_no": "r", "business_type": "recharge", "params": {"amount": None}},
                {
                    "request_no": "r",
                    "business_type": "recharge",
                    "params": {
                        "member_account": b.account_no,
                        "channel_account": book.channel.account_no,
                        "amount": "-1",
                    },
                },
                {
                    "request_no": "r",
                    "business_type": "recharge",
                    "params": {
                        "member_account": b.account_no,
                        "channel_account": book.channel.account_no,
                        "amount": "abc",
                    },
                },
            ]
        ]
        + [
            ("postings/batch", body)
            for body in [
                {"postings": [leg_amount(1.5)]},
                {"postings": [None]},
                {"postings": {}},
                {"postings": [[]]},
            ]
        ]
        + [
            ("holds", body)
            for body in [
                {"request_no": "h", "account_no": a.account_no, "amount": 10, "reason": "r"},
                {"request_no": "h", "account_no": a.account_no, "amount": "10", "reason": ""},
                {"request_no": "h", "account_no": a.account_no, "amount": "10", "reason": "r", "expires_at": "soon"},
                {
                    "request_no": "h",
                    "account_no": a.account_no,
                    "amount": "10",
                    "reason": "r",
                    "expires_at": "2001-01-01T00:00:00Z",
                },
                {
                    "request_no": "h",
                    "account_no": a.account_no,
                    "amount": "10",
                    "reason": "r",
                    "expires_at": "9999-12-31T23:59:59-12:00",
                },
            ]
        ]
        + [
            ("withdrawals", body)
            for body in [
                {"request_no": "w", "account_no": a.account_no, "amount": "10", "bank_card": "6222"},
                {
                    "request_no": "w",
                    "account_no": a.account_no,
                    "amount": "10",
                    "bank_card": {"holder": "A", "bank": "B", "number": 6222021000000001},
                },
                {
                    "request_no": "w",
                    "account_no": a.account_no,
                    "amount": "10",
                    "bank_card": {"holder": "A", "bank": "B", "number": "６２２２０２１０００００００１"},
                },
                {
                    "request_no": "w",
                    "account_no": a.account_no,
                    "amount": "10",
                    "bank_card": {"holder": "A", "bank": "B", "number": "²²²²²²²²²²²²²"},
                },
            ]
        ]
        + [
            ("members", body)
            for body in [
                {
                    "member_no": "m",
                    "name": "n",
                    "customer": {"kind": "person", "id_no": "1", "name": "n"},
                    "platform": "",
                },
                {"member_no": "m" * 33, "name": "n", "customer": {"kind": "person", "id_no": "1", "name": "n"}},
                {"member_no": "m", "name": "n", "customer": "Zhang"},
                {
                    "member_no": "m",
                    "name": "n",
                    "customer": {"kind": "person", "id_type": "dna", "id_no": "1", "name": "n"},
                },
            ]
        ]
        + [
            ("accounts", body)
            for body in [
                {"entity": "MAIN", "account_type": "COUPON", "credit_limit": "-1"},
                {"entity": "MAIN", "account_type": "COUPON", "currency": "BTC"},
                {"entity": "", "account_type": "COUPON"},
                {"entity": "MAIN", "account_type": 7},
                {"account_type": "COUPON"},
            ]
        ]
    )


def test_bad_bodies_are_400_and_write_nothing(trade, book, hold_id):
    before = snapshot()
    failures = []
    for endpoint, body in bodies(book):
        r = trade.post(endpoint, body)
        if (
            r.status_code != 400
            or set(r.json()) != {"error"}
            or r.json()["error"]["code"] not in ("validation_error", "invalid_amount", "invalid_card_number")
        ):
            failures.append((endpoint, body, r.status_code, r.content[:300]))
    assert not failures, failures
    assert snapshot() == before


def test_bad_bodies_on_hold_paths(trade, book, hold_id):
    before = snapshot()
    for path, body in [
        (f"holds/{hold_id}/settle", {"request_no": "s", "amount": 3.0, "counter_account_no": book.bob.account_no}),
        (
            f"holds/{hold_id}/settle",
            {"request_no": "s", "amount": "3", "counter_account_no": book.bob.account_no, "business_type": "reversal"},
        ),
        (f"holds/{hold_id}/release", {"request_no": "r", "amount": "-3"}),
        (f"holds/{hold_id}/release", {"request_no": ["r"]}),
        (f"postings/{1}/reversal", {"request_no": ""}),
        (f"accounts/{book.alice.account_no}/status", {"status": "closed"}),
    ]:
        error_of(trade.post(path, body), 400, "validation_error")
    assert snapshot() == before


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"{'a': 1}",
        b"\xff\xfe",
        b"[1, 2",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b"null",
        b"",
        b'{"request_no": "\\ud800"}',
        b"1e999999",
    ],
)
def test_malformed_json_is_400(trade, book, raw):
    before = snapshot()
    r = trade.post("postings", raw=raw)
    error_of(r, 400, "validation_error")
    assert snapshot() == before


@pytest.mark.parametrize("path", ["postings", "postings/batch"])
def test_a_body_past_the_size_limit_is_413_and_changes_nothing(trade, book, settings, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    item = transfer_body(book.alice, book.bob)
    body = (
        {"postings": [{**item, "request_no": f"big-{n}"} for n in range(200)]}
        if path.endswith("batch")
        else {**item, "memo": "x" * 20_000}
    )
    before = snapshot()
    error = error_of(trade.post(path, body), 413, "request_too_large")
    assert "10,000 bytes" in error["message"]
    assert snapshot() == before


def test_wrong_content_type_is_415(trade, book):
    r = trade.post("postings", raw="request_no=1", content_type="application/x-www-form-urlencoded")
    error_of(r, 415, "unsupported_media_type")
    r = trade.post("postings", raw=json.dumps(transfer_body(book.alice, book.bob)), content_type="text/plain")
    error_of(r, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "path",
    [
        "postings/9223372036854775808",
        "postings/99999999999999999999999999",
        "postings/0",
        "holds/9223372036854775808",
        "withdrawals/9223372036854775808",
        "accounts/%00",
        "accounts/a%00b",
        "accounts/" + "9" * 33,
        "accounts/%E2%80%AE123",
    ],
)
def test_odd_ids_in_the_path_are_404(trade, path):
    error_of(trade.get(path), 404, "not_found")


def test_odd_ids_in_posted_paths_are_404(trade, book):
    before = snapshot()
    error_of(trade.post("postings/9223372036854775808/reversal", {"request_no": "x"}), 404, "not_found")
    error_of(
        trade.post(
            "holds/9223372036854775808/settle",
            {"request_no": "x", "amount": "1", "counter_account_no": book.bob.account_no},
        ),
        404,
        "not_found",
    )
    error_of(trade.post("holds/0/release", {"request_no": "x"}), 404, "not_found")
    assert snapshot() == before


def test_a_balance_past_the_largest_amount_is_422_not_500(trade, book):
    """Each amount is within the limit, the sum is not: the database refuses
    the balance and the posting is rolled back."""
    big = "9999999999999999"
    channel = book.ledger.internal("COUPON")  # an internal account at zero, allowed to go negative
    assert (
        trade.post(
            "postings",
            {
                "request_no": "big-1",
                "business_type": "recharge",
                "legs": [
                    {"account_no": channel.account_no, "direction": "debit", "amount": big},
                    {"account_no": book.bob.account_no, "direction": "credit", "amount": big},
                ],
            },
        ).status_code
        == 201
    )
    before = snapshot()
    r = trade.post(
        "postings",
        {
            "request_no": "big-2",
            "business_type": "recharge",
            "legs": [
                {"account_no": channel.account_no, "direction": "debit", "amount": big},
                {"account_no": book.bob.account_no, "direction": "credit", "amount": big},
            ],
        },
    )
    error_of(r, 422, "amount_out_of_range")
    assert snapshot() == before


def test_unknown_query_parameters_are_400(trade, book):
    error_of(trade.get(f"accounts/{book.alice.account_no}", {"verbose": "1"}), 400, "validation_error")
    error_of(trade.get("reports/balance-sheet", {"date": ""}), 400, "validation_error")
    error_of(trade.get("reports/balance-sheet", {"page": "0"}), 400, "validation_error")
    error_of(trade.get("reports/balance-sheet", {"entity": "NOPE"}), 404, "not_found")
