"""What a superuser can still forge past the COMMIT triggers
(session_replication_role = replica switches every trigger off: see
docs/operations.md) is named by the end of day: the account whose frozen
amount is not its active holds, the hold that does not follow its events.

The day (Nov 2): Alice, Bob and Carol get 500 each; holds of 200 on Alice,
100 on Bob and 50 on Carol. Then a superuser sets Alice's frozen to 0 (she
could spend the held 200) and Bob's hold's remaining to 40 without an event.
"""

from datetime import date

import pytest
from django.db import connection, transaction

from postings.services import hold_place, hold_release, hold_settle
from reports.eod.services import eod_run

from .eod_books import checks, failed_checks, open_books_on, post

pytestmark = pytest.mark.django_db(transaction=True)

NOV2 = date(2026, 11, 2)


def as_superuser(*statements, params):
    """Committed with every trigger off, as only a superuser can."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        for sql in statements:
            cursor.execute(sql, params)


def place(account, amount, request_no):
    return hold_place(account_no=account.account_no, amount=amount, reason="escrow", request_no=request_no, actor="t")


def test_frozen_and_hold_forgeries_past_the_triggers_are_named_by_the_end_of_day(ledger):
    entity = ledger.entity
    open_books_on(entity, NOV2)
    alice, bob, carol, channel = ledger.cash(), ledger.cash(), ledger.cash(), ledger.channel()
    for wallet in (alice, bob, carol):
        post("recharge", member_account=wallet, channel_account=channel, amount="500")
    place(alice, "200", "h-alice")
    bobs = place(bob, "100", "h-bob")
    place(carol, "50", "h-carol")

    as_superuser(
        "UPDATE accounts_account SET frozen = 0 WHERE id = %(alice)s",
        "UPDATE postings_hold SET remaining = 40 WHERE id = %(hold)s",
        params={"alice": alice.pk, "hold": bobs.pk},
    )
    eod_run(entity=entity, accounting_date=NOV2, actor="ops")

    assert failed_checks(entity, NOV2) == {"frozen_holds", "hold_events"}
    found = checks(entity, NOV2)
    frozen = found["frozen_holds"]
    assert [(d["account_no"], d["problem"]) for d in frozen.details] == [
        (alice.account_no, "frozen 0.0000 != 200.0000 remaining on active holds"),
        (bob.account_no, "frozen 100.0000 != 40.0000 remaining on active holds"),
    ]
    assert (frozen.checked_rows, frozen.summary) == (3, "2 accounts' frozen amounts differ from their active holds")
    holds = found["hold_events"]
    assert holds.details == [
        {
            "hold": bobs.pk,
            "account_no": bob.account_no,
            "amount": "100.0000",
            "remaining": "40.0000",
            "status": "held",
            "problem": "remaining 40.0000 != amount 100.0000 - settled 0.0000 - released 0.0000",
        }
    ]
    assert (holds.checked_rows, holds.summary) == (3, "1 holds do not follow from their events")


def test_a_day_with_holds_in_every_state_passes(ledger):
    entity = ledger.entity
    open_books_on(entity, NOV2)
    wallet, channel = ledger.cash(), ledger.channel()
    post("recharge", member_account=wallet, channel_account=channel, amount="500")
    kept, settled, released = (place(wallet, "100", f"h{i}") for i in range(3))
    hold_settle(
        hold_id=settled.pk,
        request_no="s",
        amount="30",
        business_type="guarantee_settlement",
        actor="t",
        counter_account_no=channel.account_no,
    )
    hold_release(hold_id=released.pk, request_no="r", actor="t")
    hold_release(hold_id=kept.pk, request_no="r2", actor="t", amount="10")
    eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    assert failed_checks(entity, NOV2) == set()
    assert checks(entity, NOV2)["hold_events"].summary == "3 holds follow from their events"


def test_the_hold_check_reads_open_holds_and_the_days_events_not_the_whole_history(ledger):
    """Its cost follows the open holds and the day's activity: a hold closed
    days before is not read again (a closed hold keeps nothing: CHECK
    constraints, which no trigger switch bypasses); an old hold still open
    is."""
    entity = ledger.entity
    open_books_on(entity, NOV2)
    wallet, channel = ledger.cash(), ledger.channel()
    post("recharge", member_account=wallet, channel_account=channel, amount="500")
    old_closed, old_open, today = (place(wallet, "100", f"h{i}") for i in range(3))
    hold_release(hold_id=old_closed.pk, request_no="r-old", actor="t")
    as_superuser(
        "UPDATE postings_holdevent SET created_at = created_at - interval '60 days' WHERE hold_id IN (%(a)s, %(b)s)",
        params={"a": old_closed.pk, "b": old_open.pk},
    )
    eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    assert failed_checks(entity, NOV2) == set()
    assert checks(entity, NOV2)["hold_events"].summary == "2 holds follow from their events"
