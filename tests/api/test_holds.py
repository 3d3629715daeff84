"""Holds (冻结): place, settle (扣除冻结), release (解冻), read; replays,
conflicts and refusals; only the source system that placed a hold may
settle or release it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from postings.models import Hold, HoldEvent, Posting
from postings.services import hold_place

from .conftest import error_of

pytestmark = pytest.mark.django_db


def place(caller, book, amount="300.00", request_no="h-1", **extra):
    return caller.post(
        "holds",
        {
            "request_no": request_no,
            "account_no": book.alice.account_no,
            "amount": amount,
            "reason": "escrow order O-1",
            **extra,
        },
    )


def test_a_hold_lowers_available_not_balance(trade, book):
    r = place(trade, book)
    assert r.status_code == 201, r.content
    hold = r.json()
    assert hold["status"] == "held" and hold["amount"] == hold["remaining"] == "300.00"
    assert hold["account_no"] == book.alice.account_no and hold["currency"] == "CNY"
    account = trade.get(f"accounts/{book.alice.account_no}").json()
    assert (account["balance"], account["frozen"], account["available"]) == ("1000.00", "300.00", "700.00")
    again = place(trade, book)
    assert again.status_code == 200 and again.json() == hold
    assert Hold.objects.count() == 1
    error_of(place(trade, book, amount="301"), 409, "idempotency_conflict")
    assert trade.get(f"holds/{hold['hold_id']}").json() == hold


def test_placing_more_than_available_is_refused(trade, book):
    error_of(place(trade, book, amount="1000.01"), 422, "insufficient_funds")
    assert not Hold.objects.exists()


def test_settle_part_then_release_the_rest(trade, book):
    hold = place(trade, book).json()
    settle = {"request_no": "s-1", "amount": "120.00", "counter_account_no": book.bob.account_no}
    r = trade.post(f"holds/{hold['hold_id']}/settle", settle)
    assert r.status_code == 201, r.content
    posting = r.json()
    assert posting["business_type"] == "guarantee_settlement"
    assert [(e["account_no"], e["direction"], e["amount"]) for e in posting["entries"]] == [
        (book.alice.account_no, "debit", "120.00"),
        (book.bob.account_no, "credit", "120.00"),
    ]
    again = trade.post(f"holds/{hold['hold_id']}/settle", settle)
    assert again.status_code == 200 and again.content == r.content
    now = trade.get(f"holds/{hold['hold_id']}").json()
    assert (now["status"], now["remaining"]) == ("partially_settled", "180.00")
    error_of(
        trade.post(f"holds/{hold['hold_id']}/settle", {**settle, "request_no": "s-2", "amount": "180.01"}),
        422,
        "hold_exceeded",
    )

    released = trade.post(f"holds/{hold['hold_id']}/release", {"request_no": "r-1"})
    assert released.status_code == 200, released.content
    assert (released.json()["status"], released.json()["remaining"]) == ("released", "0.00")
    replay = trade.post(f"holds/{hold['hold_id']}/release", {"request_no": "r-1"})
    assert replay.status_code == 200 and replay.json() == released.json()
    account = trade.get(f"accounts/{book.alice.account_no}").json()
    assert (account["balance"], account["frozen"], account["available"]) == ("880.00", "0.00", "880.00")
    error_of(
        trade.post(f"holds/{hold['hold_id']}/settle", {**settle, "request_no": "s-3", "amount": "1"}),
        422,
        "hold_not_active",
    )
    error_of(trade.post(f"holds/{hold['hold_id']}/release", {"request_no": "r-2"}), 422, "hold_not_active")


def test_release_part_of_a_hold(trade, book):
    hold = place(trade, book).json()
    r = trade.post(f"holds/{hold['hold_id']}/release", {"request_no": "r-1", "amount": "100"})
    assert (r.json()["status"], r.json()["remaining"]) == ("held", "200.00")
    error_of(
        trade.post(f"holds/{hold['hold_id']}/release", {"request_no": "r-2", "amount": "200.01"}), 422, "hold_exceeded"
    )
    error_of(
        trade.post(f"holds/{hold['hold_id']}/release", {"request_no": "r-1", "amount": "50"}),
        409,
        "idempotency_conflict",
    )


def test_settle_to_an_unknown_or_foreign_currency_account(trade, book):
    hold = place(trade, book).json()
    before = Posting.objects.count()
    error_of(
        trade.post(
            f"holds/{hold['hold_id']}/settle", {"request_no": "s-1", "amount": "1", "counter_account_no": "11111111"}
        ),
        404,
        "not_found",
    )
    usd = book.ledger.cash(currency="USD")
    error_of(
        trade.post(
            f"holds/{hold['hold_id']}/settle",
            {"request_no": "s-2", "amount": "1", "counter_account_no": usd.account_no},
        ),
        422,
        "currency_mismatch",
    )
    assert Posting.objects.count() == before
    assert trade.get(f"holds/{hold['hold_id']}").json()["remaining"] == "300.00"


def test_unknown_hold_is_404(trade, book):
    error_of(
        trade.post(
            "holds/424242/settle", {"request_no": "s", "amount": "1", "counter_account_no": book.bob.account_no}
        ),
        404,
        "not_found",
    )
    error_of(trade.post("holds/424242/release", {"request_no": "r"}), 404, "not_found")
    error_of(trade.get("holds/424242"), 404, "not_found")


def test_only_the_source_system_that_placed_a_hold_may_settle_or_release_it(trade, callers, book):
    # A withdrawal's hold, placed by the ledger's own withdrawal flow.
    theirs = hold_place(
        account_no=book.alice.account_no,
        amount="50",
        reason="withdrawal W1",
        request_no="w:1",
        actor="test",
        source_system="withdrawals",
    )
    error_of(trade.post(f"holds/{theirs.id}/release", {"request_no": "r-1"}), 403, "forbidden")
    error_of(
        trade.post(
            f"holds/{theirs.id}/settle",
            {"request_no": "s-1", "amount": "50", "counter_account_no": book.bob.account_no},
        ),
        403,
        "forbidden",
    )
    assert HoldEvent.objects.filter(hold=theirs).count() == 1
    assert Hold.objects.get(pk=theirs.pk).remaining == Decimal("50")
    # A client with the hold scope but not read sees only its own holds.
    escrow = callers("escrow", ["hold"])
    mine = place(escrow, book, amount="10").json()
    assert escrow.get(f"holds/{mine['hold_id']}").status_code == 200
    error_of(escrow.get(f"holds/{theirs.id}"), 404, "not_found")
    assert trade.get(f"holds/{theirs.id}").status_code == 200  # read sees everything


def test_hold_expiry_is_taken(trade, book):
    r = place(trade, book, expires_at="2030-01-01T00:00:00+08:00")
    assert r.status_code == 201
    assert r.json()["expires_at"].startswith("2030-01-01T00:00:00")


def test_settling_or_releasing_an_expired_hold_is_hold_expired(trade, book):
    """Issue 18 §4: past expires_at, before the sweep ran, the call expires
    the hold (its money back once) and answers 422 hold_expired."""
    expires_at = timezone.now() + timedelta(minutes=1)
    hold = place(trade, book, expires_at=expires_at.isoformat()).json()
    settle = {"request_no": "s-late", "amount": "120.00", "counter_account_no": book.bob.account_no}
    with time_machine.travel(expires_at + timedelta(seconds=2), tick=False):
        error = error_of(trade.post(f"holds/{hold['hold_id']}/settle", settle), 422, "hold_expired")
        assert error["fields"]["hold_id"] == str(hold["hold_id"])
        error_of(trade.post(f"holds/{hold['hold_id']}/settle", settle), 422, "hold_expired")
        error_of(trade.post(f"holds/{hold['hold_id']}/release", {"request_no": "r-late"}), 422, "hold_expired")
    now = trade.get(f"holds/{hold['hold_id']}").json()
    assert (now["status"], now["remaining"]) == ("expired", "0.00")
    account = trade.get(f"accounts/{book.alice.account_no}").json()
    assert (account["balance"], account["frozen"], account["available"]) == ("1000.00", "0.00", "1000.00")
    assert HoldEvent.objects.filter(hold_id=hold["hold_id"], kind=HoldEvent.Kind.EXPIRE).count() == 1
    assert not Posting.objects.filter(request_no="s-late").exists()
