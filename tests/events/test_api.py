"""GET /api/v1/events: replay from any sequence number, per scope."""

from __future__ import annotations

import pytest

from tests.api.conftest import Caller, client_with_key, error_of

from .scripted import number_everything, validate

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def day(ledger):
    payer = ledger.cash()
    ledger.recharge(payer, "100.00", request_no="api-rc1")
    ledger.recharge(payer, "50.00", request_no="api-rc2")
    from accounts.services import account_change_status

    account_change_status(account=payer, to_status="debit_blocked", reason="check", actor="test")
    return number_everything()


def test_a_reader_pages_through_every_event_in_order(day):
    _, key = client_with_key("warehouse", ["read"])
    caller = Caller(key)
    seen, after = [], 0
    while True:
        r = caller.get("events", {"after": after, "limit": 1})
        assert r.status_code == 200, r.content
        page = r.json()
        if not page["events"]:
            break
        seen += page["events"]
        after = page["next_after"]
    assert [e["seq"] for e in seen] == [1, 2, 3] == [e.seq for e in day]
    assert page["last_seq"] == 3
    for message in seen:
        validate(message)
    r = caller.get("events", {"types": "account.status_changed"})
    assert [e["type"] for e in r.json()["events"]] == ["account.status_changed"]
    r = caller.get("events", {"after": 1, "types": "posting.booked,posting.reversed"})
    assert [e["payload"]["request_no"] for e in r.json()["events"]] == ["api-rc2"]


@pytest.mark.parametrize("scopes", [["post"], ["hold"], ["withdraw"], ["admin"]])
def test_only_the_read_scope_reads_events(day, scopes):
    _, key = client_with_key("trade", scopes)
    error_of(Caller(key).get("events"), 403, "forbidden")


def test_without_a_key_nothing_is_answered(day):
    error_of(Caller(None).get("events"), 401, "unauthenticated")


@pytest.mark.parametrize(
    "params",
    [{"after": "-1"}, {"after": "x"}, {"limit": "0"}, {"limit": "100000"}, {"types": "posting.nope"}, {"since": "1"}],
)
def test_bad_parameters_are_refused(day, params):
    _, key = client_with_key("warehouse", ["read"])
    error_of(Caller(key).get("events", params), 400, "validation_error")
