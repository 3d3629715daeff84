"""Members, accounts, an account's status, and its entries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.models import Account, Customer, Member
from postings.selectors import current_accounting_date

from .conftest import error_of, transfer_body

pytestmark = pytest.mark.django_db

MEMBER = {
    "member_no": "APP-0001",
    "name": "Zhang Wei",
    "customer": {"kind": "person", "id_no": "110101199003070011", "name": "Zhang Wei"},
}


def test_register_a_member(trade):
    r = trade.post("members", MEMBER)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["member_no"] == "APP-0001" and body["platform"] == "wallet"
    assert body["customer"] == {
        "kind": "person",
        "id_type": "resident_id",
        "id_no": "110101199003070011",
        "name": "Zhang Wei",
    }
    again = trade.post("members", MEMBER)
    assert again.status_code == 200 and again.json() == body
    assert Member.objects.count() == 1 and Customer.objects.count() == 1
    error_of(trade.post("members", {**MEMBER, "name": "Li Na"}), 409, "idempotency_conflict")


def test_one_customer_two_members(trade):
    trade.post("members", MEMBER)
    r = trade.post("members", {**MEMBER, "member_no": "SHOP-9", "platform": "merchant"})
    assert r.status_code == 201
    assert Customer.objects.count() == 1 and Member.objects.count() == 2


def test_a_known_id_document_under_another_name_is_refused_and_nothing_is_registered(trade):
    trade.post("members", MEMBER)
    other = {
        "member_no": "APP-0002",
        "name": "Li Na",
        "customer": {"kind": "person", "id_no": "110101199003070011", "name": "Li Na"},
    }
    error = error_of(trade.post("members", other), 409, "customer_mismatch")
    assert "Zhang" not in error["message"]
    assert Member.objects.count() == 1 and Customer.objects.get().name == "Zhang Wei"


def test_company_member_defaults_to_business_licence(trade):
    body = {
        "member_no": "CO-1",
        "name": "Acme",
        "customer": {"kind": "company", "id_no": "91310000MA1", "name": "Acme"},
    }
    assert trade.post("members", body).json()["customer"]["id_type"] == "business_license"


def test_member_validation(trade):
    error = error_of(
        trade.post("members", {"member_no": "X", "name": "n", "customer": {"kind": "alien"}}), 400, "validation_error"
    )
    assert {"customer.kind", "customer.id_no", "customer.name"} <= set(error["fields"])


def test_open_accounts(trade, ledger):
    trade.post("members", MEMBER)
    cash = trade.post(
        "accounts", {"member_no": "APP-0001", "entity": "MAIN", "account_type": "USER_CASH", "currency": "CNY"}
    )
    assert cash.status_code == 201, cash.content
    body = cash.json()
    assert body["account_no"].startswith("2241001")
    assert (body["member_no"], body["category"], body["balance"], body["available"], body["status"]) == (
        "APP-0001",
        "liability",
        "0.00",
        "0.00",
        "active",
    )
    credit = trade.post(
        "accounts", {"member_no": "APP-0001", "entity": "MAIN", "account_type": "USER_CREDIT", "credit_limit": "5000"}
    ).json()
    assert (credit["category"], credit["credit_limit"], credit["available"]) == ("asset", "5000.00", "5000.00")
    internal = trade.post("accounts", {"entity": "MAIN", "account_type": "COUPON", "currency": "USD"}).json()
    assert (internal["member_no"], internal["category"], internal["currency"]) == (None, "internal", "USD")
    jpy = trade.post(
        "accounts", {"member_no": "APP-0001", "entity": "MAIN", "account_type": "USER_CASH", "currency": "JPY"}
    ).json()
    assert jpy["balance"] == "0"  # JPY has no minor unit


def test_account_refusals(trade):
    trade.post("members", MEMBER)
    main = {"entity": "MAIN"}
    error_of(trade.post("accounts", {**main, "member_no": "NOBODY", "account_type": "USER_CASH"}), 404, "not_found")
    error_of(trade.post("accounts", {**main, "member_no": "APP-0001", "account_type": "NOPE"}), 404, "not_found")
    error_of(
        trade.post("accounts", {"member_no": "APP-0001", "entity": "XX", "account_type": "USER_CASH"}), 404, "not_found"
    )
    error = error_of(
        trade.post("accounts", {"member_no": "APP-0001", "account_type": "USER_CASH"}), 400, "validation_error"
    )
    assert error["fields"] == {"entity": "This field is required."}  # no silent default books
    error_of(trade.post("accounts", {**main, "account_type": "USER_CASH"}), 400, "validation_error")  # no member
    error_of(
        trade.post("accounts", {**main, "member_no": "APP-0001", "account_type": "COUPON"}), 400, "validation_error"
    )
    error_of(
        trade.post("accounts", {**main, "member_no": "APP-0001", "account_type": "USER_CASH", "credit_limit": "5"}),
        400,
        "validation_error",
    )
    assert not Account.objects.exists()


def test_a_second_fee_income_account_is_refused(trade):
    first = trade.post("accounts", {"entity": "MAIN", "account_type": "FEE_INCOME"}).json()
    error = error_of(trade.post("accounts", {"entity": "MAIN", "account_type": "FEE_INCOME"}), 400, "validation_error")
    assert error["fields"]["account_no"] == first["account_no"]
    assert Account.objects.filter(account_type__code="FEE_INCOME").count() == 1


def test_opening_an_account_with_a_request_no_is_idempotent(trade):
    trade.post("members", MEMBER)
    body = {"request_no": "open-1", "member_no": "APP-0001", "entity": "MAIN", "account_type": "USER_CASH"}
    first = trade.post("accounts", body)
    again = trade.post("accounts", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Account.objects.count() == 1
    error_of(trade.post("accounts", {**body, "currency": "USD"}), 409, "idempotency_conflict")
    assert Account.objects.count() == 1


def test_get_an_account(trade, book):
    body = trade.get(f"accounts/{book.carol_credit.account_no}").json()
    assert body == {
        "account_no": book.carol_credit.account_no,
        "name": "Carol",
        "member_no": book.carol_credit.member.member_no,
        "entity": "MAIN",
        "account_type": "USER_CREDIT",
        "subject_code": "1221",
        "category": "asset",
        "currency": "CNY",
        "balance": "0.00",
        "frozen": "0.00",
        "available": "500.00",
        "credit_limit": "500.00",
        "pending": "0.00",
        "balance_with_pending": "0.00",
        "posting_mode": "realtime",
        "status": "active",
        "opened_on": book.carol_credit.opened_on.isoformat(),
        "closed_on": None,
    }
    error_of(trade.get("accounts/000000000000"), 404, "not_found")


def test_block_unblock_and_close(trade, book):
    path = f"accounts/{book.alice.account_no}/status"
    r = trade.post(path, {"status": "debit_blocked", "reason": "court order 2024-17"})
    assert r.status_code == 200 and r.json()["status"] == "debit_blocked"
    error_of(trade.post("postings", transfer_body(book.alice, book.bob)), 422, "account_blocked")
    assert trade.post(path, {"status": "debit_blocked", "reason": "again"}).status_code == 200  # no change
    assert trade.post(path, {"status": "active", "reason": "order lifted"}).json()["status"] == "active"
    error_of(trade.post(path, {"status": "closed", "reason": "leaves"}), 422, "illegal_transition")  # not at zero
    empty = book.ledger.cash()
    closed = trade.post(f"accounts/{empty.account_no}/status", {"status": "closed", "reason": "leaves"}).json()
    assert closed["status"] == "closed" and closed["closed_on"]
    error_of(
        trade.post(f"accounts/{empty.account_no}/status", {"status": "active", "reason": "back"}), 422, "account_closed"
    )
    error_of(trade.post(path, {"status": "frozen-ish", "reason": "x"}), 400, "validation_error")
    error_of(trade.post(path, {"status": "blocked", "reason": ""}), 400, "validation_error")


# -------------------------------------------------------------- entries ----


def test_entries_page_by_page(trade, book):
    for i in range(5):
        trade.post("postings", transfer_body(book.alice, book.bob, f"{i + 1}", request_no=f"e-{i}"))
    seen, url, params = [], f"accounts/{book.alice.account_no}/entries", {"page_size": 2}
    while True:
        page = trade.get(url, params).json()
        assert len(page["results"]) <= 2
        seen += page["results"]
        if not page["next"]:
            break
        url, params = page["next"].split("/api/v1/", 1)[1], None
    assert [e["account_seq"] for e in seen] == [1, 2, 3, 4, 5, 6]
    assert [e["balance_after"] for e in seen] == ["1000.00", "999.00", "997.00", "994.00", "990.00", "985.00"]
    assert all(a["balance_after"] == b["balance_before"] for a, b in zip(seen, seen[1:]))
    assert seen[1] == {
        "serial_no": seen[1]["serial_no"],
        "posting_serial_no": seen[1]["posting_serial_no"],
        "account_seq": 2,
        "direction": "debit",
        "amount": "1.00",
        "currency": "CNY",
        "balance_before": "1000.00",
        "balance_after": "999.00",
        "business_type": "transfer",
        "accounting_date": seen[1]["accounting_date"],
        "created_at": seen[1]["created_at"],
    }


def test_entries_filters(trade, book):
    trade.post("postings", transfer_body(book.alice, book.bob, "1"))
    url = f"accounts/{book.alice.account_no}/entries"
    assert [e["business_type"] for e in trade.get(url, {"business_type": "transfer"}).json()["results"]] == ["transfer"]
    today = current_accounting_date(entity=book.alice.entity)
    assert (
        len(
            trade.get(
                url, {"accounting_date_after": today.isoformat(), "accounting_date_before": today.isoformat()}
            ).json()["results"]
        )
        == 2
    )
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert trade.get(url, {"accounting_date_after": tomorrow}).json()["results"] == []


@pytest.mark.parametrize(
    "params, field",
    [
        ({"accounting_date_after": "2024-13-01"}, "accounting_date_after"),
        ({"accounting_date_after": "2024-02-02", "accounting_date_before": "2024-02-01"}, "accounting_date_before"),
        ({"business_type": "lottery"}, "business_type"),
        ({"business_type": ""}, "business_type"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "1001"}, "page_size"),
        ({"accounting_date_from": "2024-01-01"}, "accounting_date_from"),  # a typo is refused, not ignored
    ],
)
def test_entries_bad_queries(trade, book, params, field):
    error = error_of(trade.get(f"accounts/{book.alice.account_no}/entries", params), 400, "validation_error")
    assert field in error["fields"]


def test_entries_bad_cursor_and_unknown_account(trade, book):
    error_of(trade.get(f"accounts/{book.alice.account_no}/entries", {"cursor": "YQ"}), 404, "not_found")  # bad padding
    error_of(trade.get(f"accounts/{book.alice.account_no}/entries", {"cursor": "cD1hYmM="}), 404, "not_found")  # p=abc
    # Not base64 at all: DRF would skip the characters and read the first page.
    for cursor in ("", "!!", "cD0x!"):
        error_of(trade.get(f"accounts/{book.alice.account_no}/entries", {"cursor": cursor}), 404, "not_found")
    error_of(trade.get("accounts/1234/entries"), 404, "not_found")


def test_a_buffered_accounts_pending_entry_reads_without_a_place_yet(trade, book):
    """A hot account's leg is pending until the flush: no sequence, no
    balances yet. The API shows it as such (nulls), and after the flush as
    any other entry. (What a pending amount means is the buffers' business.)"""
    from accounts.models import PostingMode
    from postings.services.buffers import buffers_flush, posting_mode_set

    posting_mode_set(mode=PostingMode.BUFFERED, account=book.channel, actor="ops")
    body = {
        "request_no": "rc-9",
        "business_type": "recharge",
        "params": {"member_account": book.bob.account_no, "channel_account": book.channel.account_no, "amount": "5"},
    }
    posting = trade.post("postings/by-rule", body).json()
    channel_leg = next(e for e in posting["entries"] if e["account_no"] == book.channel.account_no)
    assert (channel_leg["balance_before"], channel_leg["balance_after"]) == (None, None)
    entries = trade.get(f"accounts/{book.channel.account_no}/entries").json()["results"]
    assert (entries[-1]["account_seq"], entries[-1]["balance_after"]) == (None, None)
    buffers_flush()
    entries = trade.get(f"accounts/{book.channel.account_no}/entries").json()["results"]
    assert entries[-1]["balance_after"] == "-1005.00" and entries[-1]["account_seq"] == 2


def test_a_buffered_account_shows_posted_pending_and_their_sum(trade, ledger):
    from accounts.models import PostingMode
    from postings.services import Leg, posting_create
    from postings.services.buffers import buffers_flush, posting_mode_set

    fee = ledger.internal("FEE_INCOME")
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="ops")
    member = ledger.cash()
    ledger.recharge(member, "10")
    for n in range(2):
        posting_create(
            request_no=f"api-fee-{n}",
            business_type="fee",
            posted_by="trade",
            legs=[Leg.debit(member.account_no, "1.50"), Leg.credit(fee.account_no, "1.50")],
        )
    body = trade.get(f"accounts/{fee.account_no}").json()
    assert (body["posting_mode"], body["balance"], body["pending"], body["balance_with_pending"]) == (
        "buffered",
        "0.00",
        "3.00",
        "3.00",
    )
    entries = trade.get(f"accounts/{fee.account_no}/entries").json()
    assert [e["balance_after"] for e in entries["results"]] == [None, None]
    buffers_flush()
    body = trade.get(f"accounts/{fee.account_no}").json()
    assert (body["balance"], body["pending"], body["balance_with_pending"]) == ("3.00", "0.00", "3.00")
    member_body = trade.get(f"accounts/{member.account_no}").json()
    assert (member_body["posting_mode"], member_body["pending"]) == ("realtime", "0.00")
