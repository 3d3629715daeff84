"""GET /accounts/{no}/statement: opening, each entry with its running
balance, closing; as JSON pages and as streamed CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postings.models import Entry

from .conftest import error_of, transfer_body

pytestmark = pytest.mark.django_db


def _signed(entry: dict, normal_side: str) -> Decimal:
    amount = Decimal(entry["amount"])
    return amount if entry["direction"] == {"D": "debit", "C": "credit"}[normal_side] else -amount


def _all_pages(caller, account_no: str, params: dict) -> tuple[dict, list[dict]]:
    first = caller.get(f"accounts/{account_no}/statement", params)
    assert first.status_code == 200, first.content
    body, entries = first.json(), list(first.json()["entries"])
    while body["next"]:
        body = caller.http.get(body["next"], **caller.headers()).json()
        entries += body["entries"]
    return first.json(), entries


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(st.integers(min_value=2, max_value=90_000), min_size=1, max_size=7), size=st.integers(1, 4))
def test_running_balances_chain_from_opening_to_closing(ledger, trade, moves, size):
    alice, bob = ledger.cash(ledger.member()), ledger.cash(ledger.member())
    for i, cents in enumerate(moves):
        ledger.recharge(alice, Decimal(cents) / 100)
        if i % 2:
            body = transfer_body(alice, bob, str(Decimal(cents // 2) / 100), request_no=ledger.next_request("st"))
            assert trade.post("postings", body).status_code == 201
    day = Entry.objects.filter(account=alice).latest("serial_no").accounting_date
    params = {"from": day.isoformat(), "to": day.isoformat(), "page_size": size}
    statement, entries = _all_pages(trade, alice.account_no, params)
    assert len(entries) == Entry.objects.filter(account=alice).count()
    running = Decimal(statement["opening"])
    assert running == 0
    for entry in entries:
        running += _signed(entry, alice.normal_side)
        assert Decimal(entry["running_balance"]) == running
    assert Decimal(statement["closing"]) == running == ledger.balance(alice)
    # A range after the last entry opens and closes on today's balance, with no entries.
    later = {"from": (day + timedelta(days=1)).isoformat(), "to": (day + timedelta(days=9)).isoformat()}
    empty = trade.get(f"accounts/{alice.account_no}/statement", later).json()
    assert (Decimal(empty["opening"]), Decimal(empty["closing"]), empty["entries"]) == (running, running, [])


@pytest.mark.parametrize("how", [{"format": "csv"}, {"HTTP_ACCEPT": "text/csv"}])
def test_csv_streams_the_same_statement(book, trade, ledger, how):
    ledger.recharge(book.alice, "25.50")
    assert trade.post("postings", transfer_body(book.alice, book.bob, "100.00")).status_code == 201
    day = Entry.objects.filter(account=book.alice).latest("serial_no").accounting_date
    params = {"from": day.isoformat(), "to": day.isoformat(), **{k: v for k, v in how.items() if k == "format"}}
    extra = {k: v for k, v in how.items() if k != "format"}
    r = trade.get(f"accounts/{book.alice.account_no}/statement", params, **extra)
    assert r.status_code == 200
    assert r.streaming and r["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert [row["line"] for row in rows] == ["opening", "entry", "entry", "entry", "closing"]
    assert [row["running_balance"] for row in rows] == ["0.00", "1000.00", "1025.50", "925.50", "925.50"]
    assert [row["direction"] for row in rows[1:-1]] == ["credit", "credit", "debit"]


@pytest.mark.parametrize(
    "params,field",
    [
        ({"from": "2026-02-02", "to": "2026-02-01"}, "to"),
        ({"from": "2026-02-01"}, "to"),
        ({"from": "2026-02-01", "to": "2026-02-01", "format": "xml"}, "format"),
        ({"from": "2026-02-01", "to": "2026-02-01", "page_size": "0"}, "page_size"),
        ({"from": "2026-02-01", "to": "2026-02-01", "cursor": "x"}, "cursor"),
    ],
)
def test_bad_queries_are_refused(book, trade, params, field):
    error = error_of(trade.get(f"accounts/{book.alice.account_no}/statement", params), 400, "validation_error")
    assert field in error["fields"]


def test_unknown_account_is_404(trade):
    error_of(trade.get("accounts/nope/statement", {"from": "2026-01-01", "to": "2026-01-01"}), 404, "not_found")


@pytest.mark.parametrize("scopes,status", [(["read"], 200), (["post", "hold", "withdraw", "admin"], 403)])
def test_only_the_read_scope_reads_statements(book, callers, scopes, status):
    caller = callers("risk", scopes)
    for fmt in ("json", "csv"):
        r = caller.get(
            f"accounts/{book.alice.account_no}/statement", {"from": "2000-01-01", "to": "2999-01-01", "format": fmt}
        )
        assert r.status_code == status, r
    if status == 403:
        error_of(r, 403, "forbidden")


def test_without_a_key_is_401(book, trade):
    trade.key = ""
    r = trade.get(f"accounts/{book.alice.account_no}/statement", {"from": "2026-01-01", "to": "2026-01-01"})
    error_of(r, 401, "unauthenticated")
