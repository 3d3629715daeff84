"""GET /accounts/{no}/balance: an account at a past instant or a day's
close, read from the entry chain, against a replay of the entries."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postings.models import Entry

from .conftest import error_of, transfer_body

TINY = timedelta(microseconds=1)


def _replay(account, instant) -> Decimal:
    """Independent of the chain: the signed amounts of the applied entries booked by ``instant``."""
    total = Decimal(0)
    for entry in Entry.objects.filter(account=account, account_seq__isnull=False, created_at__lte=instant):
        signed = entry.amount if entry.direction == "C" else -entry.amount
        total += signed if account.normal_side == "C" else -signed
    return total


# Each posting commits on its own (transaction=True), so entries get distinct
# created_at (PostgreSQL's now() is the transaction's start).
@pytest.mark.django_db(transaction=True)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(st.integers(min_value=2, max_value=50_000), min_size=1, max_size=6), data=st.data())
def test_as_of_balance_equals_a_replay_of_the_entries(ledger, trade, moves, data):
    alice, bob = ledger.cash(ledger.member()), ledger.cash(ledger.member())
    for i, cents in enumerate(moves):
        amount = Decimal(cents) / 100
        ledger.recharge(alice, amount)
        if i % 2:  # every other move pays part of it out again
            body = transfer_body(alice, bob, str(Decimal(cents // 2) / 100), request_no=ledger.next_request("as-of"))
            assert trade.post("postings", body).status_code == 201
    times = sorted(Entry.objects.filter(account=alice).values_list("created_at", flat=True))
    for _ in range(4):
        instant = data.draw(st.sampled_from(times)) + data.draw(st.sampled_from([-TINY, timedelta(0), TINY]))
        r = trade.get(f"accounts/{alice.account_no}/balance", {"as_of": instant.isoformat()})
        assert r.status_code == 200, r.content
        assert Decimal(r.json()["balance"]) == _replay(alice, instant)
        assert Decimal(r.json()["available"]) == _replay(alice, instant)  # nothing frozen
    now = trade.get(f"accounts/{alice.account_no}/balance", {"as_of": (times[-1] + TINY).isoformat()}).json()
    assert Decimal(now["balance"]) == ledger.balance(alice)


@pytest.mark.django_db(transaction=True)
def test_before_the_first_entry_the_balance_is_zero_and_a_hold_counts_in_frozen(ledger, trade):
    alice = ledger.cash(ledger.member())
    ledger.recharge(alice, "100.00")
    first = Entry.objects.get(account=alice).created_at
    r = trade.get(f"accounts/{alice.account_no}/balance", {"as_of": (first - TINY).isoformat()})
    assert (r.json()["balance"], r.json()["source"]) == ("0.00", "opening")
    hold = trade.post(
        "holds", {"request_no": "h-1", "account_no": alice.account_no, "amount": "30.00", "reason": "risk review"}
    )
    assert hold.status_code == 201, hold.content
    later = trade.get(f"accounts/{alice.account_no}/balance", {"as_of": "2999-01-01T00:00:00Z"}).json()
    assert (later["balance"], later["frozen"], later["available"]) == ("100.00", "30.00", "70.00")
    before = trade.get(f"accounts/{alice.account_no}/balance", {"as_of": first.isoformat()}).json()
    assert (before["balance"], before["frozen"], before["available"]) == ("100.00", "0.00", "100.00")


@pytest.mark.django_db
def test_an_instant_before_1901_is_answered_in_utc(book, trade):
    """Asia/Shanghai's offset then was local mean time, +08:05:43, which
    RFC 3339 cannot write; the answer's as_of is then in UTC (the fuzzer
    found the invalid date-time)."""
    r = trade.get(f"accounts/{book.alice.account_no}/balance", {"as_of": "0595-09-25T03:17:36Z"})
    assert r.status_code == 200, r.content
    assert r.json()["as_of"] == "0595-09-25T03:17:36Z"
    r = trade.get(f"accounts/{book.alice.account_no}/balance", {"as_of": "2026-09-25T03:17:36Z"})
    assert r.json()["as_of"] == "2026-09-25T11:17:36+08:00"


@pytest.mark.django_db
def test_a_day_close_without_a_balance_sheet_comes_from_the_chain(book, trade):
    day = Entry.objects.filter(account=book.alice).latest("serial_no").accounting_date
    r = trade.get(f"accounts/{book.alice.account_no}/balance", {"accounting_date": day.isoformat()})
    assert r.status_code == 200, r.content
    assert (r.json()["balance"], r.json()["source"]) == ("1000.00", "entries")
    earlier = trade.get(
        f"accounts/{book.alice.account_no}/balance", {"accounting_date": (day - timedelta(days=1)).isoformat()}
    )
    assert (earlier.json()["balance"], earlier.json()["source"]) == ("0.00", "opening")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [{}, {"as_of": "2026-01-01T00:00:00Z", "accounting_date": "2026-01-01"}, {"as_of": "yesterday"}, {"x": "1"}],
)
def test_bad_queries_are_refused(book, trade, params):
    error_of(trade.get(f"accounts/{book.alice.account_no}/balance", params), 400, "validation_error")


@pytest.mark.django_db
def test_unknown_account_is_404(trade):
    error_of(trade.get("accounts/nope/balance", {"as_of": "2026-01-01T00:00:00Z"}), 404, "not_found")


@pytest.mark.django_db
@pytest.mark.parametrize("scopes,status", [(["read"], 200), (["post", "hold", "withdraw", "admin"], 403)])
def test_only_the_read_scope_sees_past_balances(book, callers, scopes, status):
    caller = callers("risk", scopes)
    r = caller.get(f"accounts/{book.alice.account_no}/balance", {"as_of": "2999-01-01T00:00:00Z"})
    assert r.status_code == status, r.content
    if status == 200:
        assert r.json()["balance"] == "1000.00"


@pytest.mark.django_db
def test_without_a_key_is_401(book, trade):
    trade.key = ""
    error_of(
        trade.get(f"accounts/{book.alice.account_no}/balance", {"as_of": "2026-01-01T00:00:00Z"}),
        401,
        "unauthenticated",
    )


@pytest.mark.django_db
def test_a_built_day_closes_from_its_balance_sheet_and_a_statement_spans_days(ledger, trade):
    from postings.services.calendar import day_cut
    from reports.eod.services import eod_run

    from ..reports.eod_books import open_books_on, post

    nov2, nov3 = date(2026, 11, 2), date(2026, 11, 3)
    open_books_on(ledger.entity, nov2)
    wallet, channel = ledger.cash(), ledger.channel()
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    day_cut(entity=ledger.entity, day=nov2)
    eod_run(entity=ledger.entity, accounting_date=nov2, actor="ops")
    post("recharge", member_account=wallet, channel_account=channel, amount="7")

    def close(day):
        body = trade.get(f"accounts/{wallet.account_no}/balance", {"accounting_date": day.isoformat()}).json()
        return body["balance"], body["source"]

    assert close(nov2) == ("100.00", "balance_sheet")
    assert close(nov3) == ("107.00", "entries")
    statement = trade.get(f"accounts/{wallet.account_no}/statement", {"from": "2026-11-03", "to": "2026-11-03"})
    body = statement.json()
    assert (body["opening"], [e["running_balance"] for e in body["entries"]], body["closing"]) == (
        "100.00",
        ["107.00"],
        "107.00",
    )


@pytest.mark.django_db
def test_a_buffered_leg_is_pending_until_applied_then_counts_from_its_booking(ledger, trade):
    from postings.services.buffers import buffers_flush, posting_mode_set

    wallet, channel = ledger.cash(ledger.member()), ledger.channel()
    posting_mode_set(mode="buffered", account=channel, actor="ops")
    ledger.recharge(wallet, "40.00")
    booked = Entry.objects.get(account=channel).created_at

    def at(instant):
        return trade.get(f"accounts/{channel.account_no}/balance", {"as_of": instant.isoformat()}).json()

    before = at(booked)
    assert (before["balance"], before["pending"], before["source"]) == (
        "0.00",
        "-40.00",
        "opening",
    )  # a debit on an internal account
    assert at(booked - TINY)["pending"] == "0.00"
    assert buffers_flush(account_ids=[channel.pk]) == 1
    after = at(booked)
    assert (after["balance"], after["pending"], after["source"]) == ("-40.00", "0.00", "entries")
