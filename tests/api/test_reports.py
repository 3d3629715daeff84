"""GET /reports/balance-sheet: the end of day's balance sheet (余额表) of a
day, at each grouping."""

from __future__ import annotations

import pytest

from postings.selectors import current_accounting_date
from reports.eod.services import eod_run

from .conftest import error_of, transfer_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_day(trade, book):
    """Today's postings, then the end of day: Alice 1,000 recharged, 100 to Bob."""
    trade.post("postings", transfer_body(book.alice, book.bob, "100.00"))
    day = current_accounting_date(entity=book.alice.entity)
    run = eod_run(entity=book.alice.entity, accounting_date=day, actor="test")
    assert run.status == "done", run
    return day


def test_balance_sheet_per_account(trade, book, closed_day):
    r = trade.get("reports/balance-sheet", {"date": closed_day.isoformat(), "group_by": "account"})
    assert r.status_code == 200, r.content
    sheet = r.json()
    assert (sheet["date"], sheet["group_by"], sheet["next"], sheet["previous"]) == (
        closed_day.isoformat(),
        "account",
        None,
        None,
    )
    rows = {row["account_no"]: row for row in sheet["results"]}
    assert sheet["count"] == len(sheet["results"])
    alice = rows[book.alice.account_no]
    assert alice == {
        "entity": "MAIN",
        "account_no": book.alice.account_no,
        "account_name": "Alice",
        "account_type": "USER_CASH",
        "subject_code": "2241",
        "category": "liability",
        "currency": "CNY",
        "opening": "0.00",
        "debit": "100.00",
        "credit": "1000.00",
        "closing": "900.00",
        "entries": 2,
        "accounts": 1,
    }
    assert rows[book.channel.account_no]["closing"] == "-1000.00"


def test_balance_sheet_per_subject_defaults_to_the_latest_day(trade, book, closed_day):
    sheet = trade.get("reports/balance-sheet", {"group_by": "subject"}).json()
    assert sheet["date"] == closed_day.isoformat()
    rows = {row["subject_code"]: row for row in sheet["results"]}
    assert rows["2241"]["closing"] == "1000.00" and rows["2241"]["accounts"] >= 2
    assert rows["2241"]["account_no"] is None and rows["2241"]["category"] is None
    per_type = trade.get(
        "reports/balance-sheet", {"group_by": "account_type", "currency": "CNY", "entity": "MAIN"}
    ).json()
    assert {row["account_type"] for row in per_type["results"]} >= {"USER_CASH", "CHANNEL_CLEARING"}


def test_balance_sheet_pages(trade, book, closed_day):
    first = trade.get("reports/balance-sheet", {"page_size": 1}).json()
    assert len(first["results"]) == 1 and first["count"] > 1 and "page=2" in first["next"]
    error_of(trade.get("reports/balance-sheet", {"page": 9999}), 404, "not_found")


def test_balance_sheet_before_any_end_of_day(trade, book):
    sheet = trade.get("reports/balance-sheet").json()
    assert (sheet["date"], sheet["count"], sheet["results"]) == (None, 0, [])
    assert trade.get("reports/balance-sheet", {"date": "2020-01-01"}).json()["results"] == []


def test_balance_sheet_refusals(trade, callers, book):
    error_of(trade.get("reports/balance-sheet", {"group_by": "member"}), 400, "validation_error")
    error_of(trade.get("reports/balance-sheet", {"date": "2024-02-30"}), 400, "validation_error")
    error_of(trade.get("reports/balance-sheet", {"entity": "ZZ"}), 404, "not_found")
    error_of(callers("poster", ["post"]).get("reports/balance-sheet"), 403, "forbidden")
