"""The event outbox (issue 23, section 1): one event per change, written in
the change's own transaction by every path (the one call, the full path, a
batch, the flush, a statement typed by hand), numbered without gaps once
committed, with payloads that follow docs/events/."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict

import psycopg
import pytest
from django.db import connection

from events.models import Event
from events.selectors import events_after
from events.services import events_sequence
from postings.models import Posting
from postings.services import Leg, posting_create

from .scripted import as_published, number_everything, scripted_day, validate

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_scripted_day_writes_one_valid_event_per_change(ledger):
    done = scripted_day(ledger)
    events = number_everything()
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "numbered 1, 2, 3 ... without a gap"
    assert Event.objects.filter(seq__isnull=True).count() == 0, "every committed event is numbered"
    for event in events:
        validate(as_published(event))

    # One event per posting that committed, the rolled-back one has none.
    postings = Posting.objects.all()
    booked = [e for e in events if e.type in ("posting.booked", "posting.reversed")]
    assert sorted(e.payload["serial_no"] for e in booked) == sorted(p.serial_no for p in postings)
    assert not any(e.payload.get("request_no") == "day-rolled-back" for e in events)
    reversal = next(e for e in events if e.type == "posting.reversed")
    original = Posting.objects.get(request_no="day-tr")
    assert (reversal.aggregate_type, reversal.aggregate_id, reversal.aggregate_version) == (
        "posting",
        original.serial_no,
        2,
    )

    hold_events = [e for e in events if e.aggregate_type == "hold" and e.aggregate_id == done["hold"].id]
    assert [(e.type, e.payload["amount"], e.payload["remaining"]) for e in hold_events] == [
        ("hold.placed", "50.0000", "50.0000"),
        ("hold.settled", "20.0000", "30.0000"),
        ("hold.released", "30.0000", "0.0000"),
    ]
    assert [e.aggregate_version for e in hold_events] == [1, 2, 3]

    payee = done["payee"]
    account_events = [e for e in events if e.aggregate_type == "account" and e.aggregate_id == payee.id]
    assert [(e.type, e.payload["from_status"], e.payload["to_status"]) for e in account_events] == [
        ("account.status_changed", "active", "debit_blocked"),
        ("account.status_changed", "debit_blocked", "active"),
    ]
    assert [e.aggregate_version for e in account_events] == [1, 2]
    (limit,) = [e for e in events if e.type == "account.limit_changed"]
    assert (limit.payload["from_limit"], limit.payload["to_limit"]) == ("500.0000", "800.0000")

    withdrawal = [e for e in events if e.type == "withdrawal.status_changed"]
    assert withdrawal[0].payload["from_status"] is None and withdrawal[0].payload["to_status"] == "requested"
    assert [e.aggregate_version for e in withdrawal] == list(range(1, len(withdrawal) + 1))

    (applied,) = [e for e in events if e.type == "entries.applied"]
    fee_income = done["fee_income"]
    assert applied.payload["account_no"] == fee_income.account_no
    assert [x["account_seq"] for x in applied.payload["entries"]] == list(range(1, 4))
    assert applied.seq > max(e.seq for e in booked if e.payload["request_no"].startswith("day-b"))

    # Per-account order: every account's applied entries come in its chain's order.
    chains = defaultdict(list)
    for event in events:
        for entry in event.payload.get("entries", []):
            if entry.get("account_seq") is not None:
                chains[entry.get("account_no", event.payload.get("account_no"))].append(entry["account_seq"])
    for account_no, seqs in chains.items():
        assert seqs == list(range(1, len(seqs) + 1)), account_no


def test_a_posting_written_by_hand_in_sql_has_its_event(ledger, runtime_sql):
    """No path escapes: the runtime role calling ledger_post itself."""
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "10.00")
    runtime_sql(
        "SELECT * FROM ledger_post('bysql', 'hand-1', 'x', 'transfer', NULL, '', '', 'dba', %s, %s, %s, '{}', NULL)",
        [[payer.account_no, payee.account_no], ["D", "C"], ["4.00", "4.00"]],
    )
    event = next(e for e in number_everything() if e.payload.get("request_no") == "hand-1")
    assert event.type == "posting.booked"
    assert [(x["account_no"], x["amount"], x["balance_after"]) for x in event.payload["entries"]] == [
        (payer.account_no, "4.0000", "6.0000"),
        (payee.account_no, "4.0000", "4.0000"),
    ]


def test_the_runtime_role_cannot_edit_or_delete_an_event(ledger, runtime_sql):
    ledger.recharge(ledger.cash(), "10.00")
    (event,) = number_everything()
    with pytest.raises(psycopg.errors.RestrictViolation):
        runtime_sql("UPDATE events_event SET payload = '{}' WHERE id = %s", [event.id])
    with pytest.raises(psycopg.errors.RestrictViolation):
        runtime_sql("DELETE FROM events_event WHERE id = %s", [event.id])
    with pytest.raises(psycopg.errors.RestrictViolation):
        runtime_sql("UPDATE events_event SET seq = 99 WHERE id = %s", [event.id])


def test_a_later_commit_waits_for_an_earlier_open_transaction(ledger):
    """Transaction A draws its event first and stays open; B commits after.
    Numbering waits for A: a reader never sees B's event and later A's
    with a lower number. When A commits, both are numbered, A first."""
    # B touches none of A's accounts: it must not wait for A's locks.
    payer, payee, other, payee2 = ledger.cash(), ledger.cash(), ledger.cash(), ledger.cash()
    ledger.recharge(payer, "10.00")
    ledger.recharge(other, "10.00")
    base = len(number_everything())
    db = connection.settings_dict
    a = psycopg.connect(host=db["HOST"], port=db["PORT"], dbname=db["NAME"], user=db["USER"])
    try:
        a.execute(
            "SELECT * FROM ledger_post('t', 'open-a', 'x', 'transfer', NULL, '', '', 't', %s, %s, %s, '{}', NULL)",
            [[payer.account_no, payee.account_no], ["D", "C"], ["1.00", "1.00"]],
        )
        posting_create(
            request_no="later-b",
            business_type="transfer",
            legs=[Leg(other.account_no, "D", "1.00"), Leg(payee2.account_no, "C", "1.00")],
            posted_by="t",
        )
        for _ in range(5):
            events_sequence()
        assert Event.objects.filter(seq__isnull=False).count() == base, (
            "B is not numbered while A, which drew its event before it, is open"
        )
        a.commit()
    finally:
        a.close()
    events = number_everything()[base:]
    assert [e.payload["request_no"] for e in events] == ["open-a", "later-b"]
    assert [e.seq for e in events] == [base + 1, base + 2]


def test_a_rolled_back_transaction_leaves_no_event_and_no_gap(ledger):
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "10.00")
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"], dbname=db["NAME"], user=db["USER"]) as a:
        a.execute(
            "SELECT * FROM ledger_post('t', 'gone', 'x', 'transfer', NULL, '', '', 't', %s, %s, %s, '{}', NULL)",
            [[payer.account_no, payee.account_no], ["D", "C"], ["1.00", "1.00"]],
        )
        a.rollback()
    ledger.recharge(payer, "1.00")
    events = number_everything()
    assert [e.seq for e in events] == [1, 2]
    assert Counter(e.type for e in events) == Counter({"posting.booked": 2})
    assert not any(e.payload["request_no"] == "gone" for e in events)
    assert list(events_after(after=1)) == events[1:]
