"""A posting in flight while its hot account is switched from buffered back
to real-time (issue 19): the posting read the account as buffered and
writes its leg pending; the switch commits and flushes meanwhile; the
database then refuses a pending entry on an account that is no longer
buffered (``entry_follows_posting_mode``, postings/sql/guards.sql). Before,
that surfaced as an IntegrityError, a 500. Now a posting that owns its
transaction is tried again, and finds the account real-time; one inside a
caller's transaction is refused with ``posting_mode_changed`` (nothing
written; the caller retries with the same request number).

The interleaving is forced, not hoped for, with three real connections:
a third transaction holds the posting's request number (an uncommitted
posting of its own with that number), so the posting, once it has read its
accounts, waits on the unique key; the switch commits while it waits; the
holder then rolls back and the posting goes on."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from accounts.models import PostingMode
from postings.models import Entry, Posting
from postings.services import Leg, posting_create
from postings.services.buffers import posting_mode_set

pytestmark = pytest.mark.django_db(transaction=True)
REQUEST = "race-1"


class _Rollback(Exception):
    pass


def _waiting_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row and row[0])


def race(ledger, *, in_callers_transaction: bool = False):
    """Post 25.00 Dr channel (buffered) / Cr member under REQUEST while the
    channel is switched to real-time; the posting's outcome (the Posting or
    the exception) and the accounts."""
    channel, member = ledger.channel(), ledger.cash()
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "10.00")
    posting_mode_set(mode=PostingMode.BUFFERED, account=channel, actor="ops")

    holding, release, posting_started = threading.Event(), threading.Event(), threading.Event()
    outcome: dict = {}

    def hold_the_request_number():
        # Its own accounts: it locks nothing the posting needs but the number.
        try:
            with transaction.atomic():
                posting_create(
                    request_no=REQUEST,
                    business_type="transfer",
                    legs=[Leg.debit(payer.account_no, "1.00"), Leg.credit(payee.account_no, "1.00")],
                    posted_by="holder",
                )
                holding.set()
                release.wait(120)
                raise _Rollback
        except _Rollback:
            pass
        finally:
            holding.set()
            connection.close()

    def post():
        try:
            connection.ensure_connection()
            outcome["pid"] = connection.connection.info.backend_pid
            posting_started.set()
            legs = [Leg.debit(channel.account_no, "25.00"), Leg.credit(member.account_no, "25.00")]
            if in_callers_transaction:
                with transaction.atomic():
                    outcome["result"] = posting_create(
                        request_no=REQUEST, business_type="recharge", legs=legs, posted_by="t"
                    )
            else:
                outcome["result"] = posting_create(
                    request_no=REQUEST, business_type="recharge", legs=legs, posted_by="t"
                )
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcome["result"] = exc
        finally:
            posting_started.set()
            connection.close()

    holder = threading.Thread(target=hold_the_request_number)
    holder.start()
    assert holding.wait(60)
    poster = threading.Thread(target=post)
    poster.start()
    try:
        assert posting_started.wait(60)
        # The posting has read its accounts and waits on the held request number.
        while not _waiting_on_a_lock(outcome["pid"]):
            assert poster.is_alive(), outcome
            threading.Event().wait(0.05)
        assert posting_mode_set(mode=PostingMode.REALTIME, account=channel, actor="ops") == 1
    finally:
        release.set()
        holder.join(120)
        poster.join(120)
    assert not holder.is_alive() and not poster.is_alive(), "a thread hung"
    return outcome["result"], channel, member


@pytest.fixture(params=["one call", "full path"])
def path(request, settings):
    settings.POSTING_ONE_CALL = request.param == "one call"
    return request.param


def test_a_posting_caught_by_the_switch_is_tried_again_and_posts_real_time(ledger, path, caplog):
    caplog.set_level("INFO", logger="postings.services.idempotency")
    result, channel, member = race(ledger)
    assert isinstance(result, Posting), result
    assert not result.replayed
    assert ledger.balance(member) == Decimal("25.00")
    # The channel's leg was written applied, on the real-time account: nothing left pending.
    leg = Entry.objects.get(posting=result, account=channel)
    assert leg.account_seq is not None and leg.balance_after == ledger.balance(channel)
    assert not Entry.objects.filter(account=channel, account_seq__isnull=True).exists()
    assert Posting.objects.filter(request_no=REQUEST).count() == 1
    # It was caught by the switch, and tried again once.
    assert [r.getMessage() for r in caplog.records if r.name == "postings.services.idempotency"] == [
        f"posting {REQUEST}: account {channel.account_no} changed posting mode meanwhile, tried again"
    ]


def test_inside_a_callers_transaction_it_is_a_coded_refusal_and_a_retry_posts(ledger, path):
    from postings.exceptions import PostingModeChanged

    result, channel, member = race(ledger, in_callers_transaction=True)
    assert isinstance(result, PostingModeChanged), result
    assert result.code == "posting_mode_changed" and result.http_status == 409
    assert channel.account_no in result.message
    assert not Posting.objects.filter(request_no=REQUEST).exists()
    assert ledger.balance(member) == 0

    again = posting_create(
        request_no=REQUEST,
        business_type="recharge",
        legs=[Leg.debit(channel.account_no, "25.00"), Leg.credit(member.account_no, "25.00")],
        posted_by="t",
    )
    assert not again.replayed and ledger.balance(member) == Decimal("25.00")
