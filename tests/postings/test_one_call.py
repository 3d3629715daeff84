"""A posting written by one call of ledger_post (postings.services, "One
call") is the posting the full path writes: the same entries, balances before
and after, sequence numbers and day. A refusal is the same error either way
(code, message and fields: both ask the rules of postings/sql/posting_rules.sql),
and nothing is written. A lone posting is one round trip.

The concurrency tests (test_concurrency.py, tests/api/test_concurrency.py)
post from threads outside any transaction, so they run the one call too.
tests/postings/test_rule_equivalence.py compares the two ways on random
sequences."""

import tempfile
from contextlib import contextmanager
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

from accounts.exceptions import InsufficientFunds
from accounts.kernel.errors import IdempotencyConflict, LedgerError
from accounts.kernel.money import Money
from accounts.models import Account, Entity, PostingMode
from accounts.services import account_change_status
from postings import services
from postings.models import Entry, Posting
from postings.selectors import account_chain_breaks, identity_totals
from postings.services import Leg, PostingRequest, posting_create, posting_create_batch
from postings.services import batch as batch_module
from postings.services import db as db_module
from postings.services import one_call as one_call_module
from postings.services import postings as postings_module
from postings.services.buffers import buffers_flush, posting_mode_set


@pytest.fixture
def paths(monkeypatch):
    """Which path wrote (or refused) each posting_create: 'one call' or 'full'."""
    taken: list[str] = []
    original = postings_module._post_in_one_call

    def spy(**kw):
        try:
            posting = original(**kw)
        except one_call_module._FullPath:
            taken.append("full")
            raise
        except LedgerError:
            taken.append("refused by the one call")
            raise
        taken.append("one call")
        return posting

    monkeypatch.setattr(postings_module, "_post_in_one_call", spy)
    return taken


def post(request_no, *legs, currency="CNY", business_type="transfer", **kw):
    return posting_create(
        request_no=request_no, business_type=business_type, posted_by="test", currency=currency, legs=list(legs), **kw
    )


def book(ledger):
    wallet, payee, credit = ledger.cash(), ledger.cash(), ledger.credit(limit="500")
    fee, channel = ledger.internal("FEE_INCOME"), ledger.channel()
    return wallet, payee, credit, fee, channel


def entries_of(postings, roles, start):
    """Every entry of the postings, with accounts named by their role, and
    sequence and balances counted from where the account stood at the start
    (the internal accounts are shared by both runs)."""
    role_of = {account.pk: role for role, account in roles.items()}
    rows = []
    for p in postings:
        for e in Entry.objects.filter(posting=p).order_by("serial_no"):
            role = role_of[e.account_id]
            seq0, balance0 = start[role]
            rows.append(
                (
                    role,
                    e.account_seq - seq0,
                    e.direction,
                    e.amount,
                    e.balance_before - balance0,
                    e.balance_after - balance0,
                    e.frozen_before,
                    e.frozen_after,
                    e.currency,
                    e.business_type,
                    e.accounting_date,
                )
            )
    return rows


def scenario(ledger, paths, settings, *, one_call: bool):
    settings.POSTING_ONE_CALL = one_call
    wallet, payee, credit, fee, channel = book(ledger)
    roles = {"wallet": wallet, "payee": payee, "credit": credit, "fee": fee, "channel": channel}
    start = {role: (a.entry_seq, a.balance) for role, a in ((r, ledger.fresh(a)) for r, a in roles.items())}
    n = "on" if one_call else "off"
    postings = [
        post(
            f"{n}-1",
            Leg.debit(channel.account_no, "100"),
            Leg.credit(wallet.account_no, "100"),
            business_type="recharge",
            memo="top up",
        ),
        post(f"{n}-2", Leg.debit(wallet.account_no, "30.50"), Leg.credit(payee.account_no, "30.50")),
        # A transfer with its fee: three legs.
        post(
            f"{n}-3",
            Leg.debit(wallet.account_no, "10"),
            Leg.credit(payee.account_no, "9"),
            Leg.credit(fee.account_no, "1"),
            business_type="fee",
        ),
        # Two legs on one account (one side: both sides is same_account):
        # each entry continues the one before it.
        post(
            f"{n}-4",
            Leg.debit(wallet.account_no, "2"),
            Leg.debit(wallet.account_no, "1"),
            Leg.credit(payee.account_no, "3"),
        ),
        # A purchase on a credit line (asset: a debit raises what is owed).
        post(
            f"{n}-5",
            Leg.debit(credit.account_no, "120"),
            Leg.credit(payee.account_no, "120"),
            business_type="credit_purchase",
        ),
        post(
            f"{n}-6",
            Leg.debit(payee.account_no, Money("20", "CNY")),
            Leg.credit(credit.account_no, "20"),
            business_type="credit_repayment",
            currency=None,
        ),
    ]
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="test")
    postings.append(
        post(f"{n}-7", Leg.debit(wallet.account_no, "1.25"), Leg.credit(fee.account_no, "1.25"), business_type="fee")
    )
    taken = list(paths)
    paths.clear()
    buffers_flush()
    for p in postings:
        p.refresh_from_db()
    end = {
        role: (ledger.fresh(a).entry_seq - start[role][0], ledger.fresh(a).balance - start[role][1])
        for role, a in roles.items()
    }
    return postings, roles, taken, start, end


@pytest.mark.django_db
def test_the_one_call_writes_what_the_full_path_writes(ledger, paths, settings):
    full, full_roles, full_paths, full_start, full_end = scenario(ledger, paths, settings, one_call=False)
    one, one_roles, one_paths, one_start, one_end = scenario(ledger, paths, settings, one_call=True)

    assert full_paths == [] and one_paths == ["one call"] * 7
    assert entries_of(one, one_roles, one_start) == entries_of(full, full_roles, full_start)
    assert one_end == full_end  # entries added and balance moved, per account
    fields = (
        "business_type",
        "currency",
        "accounting_date",
        "memo",
        "external_ref",
        "posted_by",
        "entity_id",
        "corrects_date",
        "reverses_id",
    )
    assert [[getattr(p, f) for f in fields] for p in one] == [[getattr(p, f) for f in fields] for p in full]
    for account in [*one_roles.values(), *full_roles.values()]:
        assert account_chain_breaks(account=ledger.fresh(account)) == []
    assert all(t.holds for t in identity_totals())


@pytest.mark.django_db
def test_what_the_one_call_returns_is_the_stored_posting(ledger, paths):
    wallet, payee, *_ = book(ledger)
    ledger.recharge(wallet, "50")
    paths.clear()
    returned = post("ret-1", Leg.debit(wallet.account_no, "7"), Leg.credit(payee.account_no, "7"), memo="m" * 300)
    assert paths == ["one call"] and returned.replayed is False
    stored = Posting.objects.get(pk=returned.pk)
    for field in Posting._meta.concrete_fields:
        assert getattr(returned, field.attname) == getattr(stored, field.attname), field.name
    assert returned.entity == ledger.entity and len(stored.memo) == 255


def _refusals(ledger):
    """name -> (legs, setup) of postings the full path refuses."""
    other = Entity.objects.create(code="HK", name="HK payments", base_currency="CNY")
    wallet, payee, credit, fee, channel = book(ledger)
    ledger.recharge(wallet, "100")
    closed, debit_blocked, credit_blocked = ledger.cash(), ledger.cash(), ledger.cash()
    ledger.recharge(debit_blocked, "10")
    account_change_status(account=closed, to_status="closed", reason="left", actor="ops")
    account_change_status(account=debit_blocked, to_status="debit_blocked", reason="court", actor="ops")
    account_change_status(account=credit_blocked, to_status="credit_blocked", reason="court", actor="ops")
    usd, foreign = ledger.cash(currency="USD"), ledger.cash(entity=other)
    hot = ledger.cash()  # a buffered wallet: a debit would need the balance checked
    ledger.recharge(hot, "5")
    posting_mode_set(mode=PostingMode.BUFFERED, account=hot, actor="ops")
    return {
        "insufficient_funds": [Leg.debit(wallet.account_no, "100.01"), Leg.credit(payee.account_no, "100.01")],
        "credit_line_exceeded": [Leg.debit(credit.account_no, "500.01"), Leg.credit(payee.account_no, "500.01")],
        "account_closed": [Leg.debit(wallet.account_no, "1"), Leg.credit(closed.account_no, "1")],
        "debit_blocked": [Leg.debit(debit_blocked.account_no, "1"), Leg.credit(payee.account_no, "1")],
        "credit_blocked": [Leg.debit(wallet.account_no, "1"), Leg.credit(credit_blocked.account_no, "1")],
        "currency_mismatch": [Leg.debit(wallet.account_no, "1"), Leg.credit(usd.account_no, "1")],
        "cross_entity": [Leg.debit(wallet.account_no, "1"), Leg.credit(foreign.account_no, "1")],
        "buffered_debit": [Leg.debit(hot.account_no, "1"), Leg.credit(wallet.account_no, "1")],
        "unknown_account": [Leg.debit(wallet.account_no, "1"), Leg.credit("99999999999999999", "1")],
        "unbalanced": [Leg.debit(wallet.account_no, "2"), Leg.credit(payee.account_no, "1")],
        "too_many_decimals": [Leg.debit(wallet.account_no, "0.001"), Leg.credit(payee.account_no, "0.001")],
        "not_a_direction": [Leg(wallet.account_no, "sideways", "1"), Leg.credit(payee.account_no, "1")],
    }


# The refusals of posting_rules.sql: the one call makes them itself.
_REFUSED_BY_THE_RULES = {
    "insufficient_funds",
    "credit_line_exceeded",
    "account_closed",
    "debit_blocked",
    "credit_blocked",
    "currency_mismatch",
    "cross_entity",
    "buffered_debit",
    "unknown_account",
}


@pytest.mark.django_db
def test_every_refusal_is_the_same_error_both_ways_and_writes_nothing(ledger, paths, settings):
    cases = _refusals(ledger)
    snapshot = (Posting.objects.count(), Entry.objects.count(), sorted(Account.objects.values_list("pk", "balance")))
    for name, legs in cases.items():
        errors = {}
        for one_call in (False, True):
            settings.POSTING_ONE_CALL = one_call
            paths.clear()
            with pytest.raises(LedgerError) as refused:
                post(f"refused-{name}", *legs)
            errors[one_call] = (refused.value.code, refused.value.message, refused.value.fields)
            assert "one call" not in paths, name  # refused before the call, by it, or by the full path
            if one_call and name in _REFUSED_BY_THE_RULES:
                assert paths == ["refused by the one call"], name  # not a fall back to the full path
        assert errors[True] == errors[False], name
    assert (
        Posting.objects.count(),
        Entry.objects.count(),
        sorted(Account.objects.values_list("pk", "balance")),
    ) == snapshot


@contextmanager
def round_trips():
    """The times the client waited for the server, from libpq's own trace:
    every simple Query and every Sync of the extended protocol is answered
    once, and nothing else is waited for."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    waits: list[str] = []
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield waits
        finally:
            pgconn.untrace()
            trace.seek(0)
            waits += [
                line
                for line in trace.read().splitlines()
                if line.split("\t")[0] == "F" and line.split("\t")[2] in ("Query", "Sync")
            ]


@pytest.mark.django_db(transaction=True)
def test_a_lone_posting_is_one_round_trip_and_its_own_transaction(ledger, paths):
    wallet, payee, *_ = book(ledger)
    ledger.recharge(wallet, "100")
    post("warm", Leg.debit(wallet.account_no, "1"), Leg.credit(payee.account_no, "1"))  # prepared by now

    with round_trips() as waits:
        posting = post("lone", Leg.debit(wallet.account_no, "2"), Leg.credit(payee.account_no, "2"))
    assert len(waits) == 1, waits
    assert paths[-1] == "one call" and posting.serial_no
    assert connection.connection.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert (ledger.balance(wallet), ledger.balance(payee)) == (Decimal("97.00"), Decimal("3.00"))

    again = post("lone", Leg.debit(wallet.account_no, "2"), Leg.credit(payee.account_no, "2"))
    assert (again.serial_no, again.replayed) == (posting.serial_no, True)
    with pytest.raises(IdempotencyConflict):
        post("lone", Leg.debit(wallet.account_no, "3"), Leg.credit(payee.account_no, "3"))
    with pytest.raises(InsufficientFunds):
        post("short", Leg.debit(wallet.account_no, "97.01"), Leg.credit(payee.account_no, "97.01"))
    assert connection.connection.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert (ledger.balance(wallet), ledger.balance(payee)) == (Decimal("97.00"), Decimal("3.00"))
    assert Posting.objects.filter(request_no__in=["lone", "short"]).count() == 1


# ------------------------------------------------------------------ batches ----


@pytest.fixture
def batch_paths(monkeypatch):
    """What each one call of posting_create_batch did: 'one call' (wrote all
    its items), 'stopped at k' (wrote the items before the k-th of its
    items, counting from 0: that one goes down the full path alone) or
    'full' (wrote nothing: the items take the full path together)."""
    taken: list[str] = []
    original = batch_module._batch_in_one_call

    def spy(*args, **kw):
        try:
            stopped_at = original(*args, **kw)
        except one_call_module._FullPath:
            taken.append("full")
            raise
        taken.append("one call" if stopped_at is None else f"stopped at {stopped_at}")
        return stopped_at

    monkeypatch.setattr(batch_module, "_batch_in_one_call", spy)
    return taken


def batch(*items):
    return posting_create_batch(
        [
            PostingRequest(request_no, business_type, list(legs), currency=currency, **kw)
            for request_no, business_type, legs, currency, kw in items
        ],
        posted_by="test",
    )


def batch_scenario(ledger, settings, *, one_call: bool):
    settings.POSTING_ONE_CALL = one_call
    wallet, payee, credit, fee, channel = book(ledger)
    roles = {"wallet": wallet, "payee": payee, "credit": credit, "fee": fee, "channel": channel}
    start = {role: (a.entry_seq, a.balance) for role, a in ((r, ledger.fresh(a)) for r, a in roles.items())}
    n = "on" if one_call else "off"
    w, p, c = wallet.account_no, payee.account_no, credit.account_no
    results = batch(
        (f"{n}-1", "recharge", [Leg.debit(channel.account_no, "100"), Leg.credit(w, "100")], "CNY", {"memo": "top up"}),
        (f"{n}-2", "transfer", [Leg.debit(w, "30.50"), Leg.credit(p, "30.50")], "CNY", {"external_ref": "x-2"}),
        (f"{n}-3", "fee", [Leg.debit(w, "10"), Leg.credit(p, "9"), Leg.credit(fee.account_no, "1")], "CNY", {}),
        (f"{n}-4", "transfer", [Leg.debit(w, "2"), Leg.debit(w, "1"), Leg.credit(p, "3")], "CNY", {}),
        (f"{n}-5", "credit_purchase", [Leg.debit(c, "120"), Leg.credit(p, "120")], "CNY", {}),
        (f"{n}-6", "credit_repayment", [Leg.debit(p, Money("20", "CNY")), Leg.credit(c, "20")], None, {}),
        # Only possible because the items before it left the payee 142.50.
        (f"{n}-7", "transfer", [Leg.debit(p, "142.50"), Leg.credit(w, "142.50")], None, {}),
    )
    # The fee income account buffered: its legs are pending until the flush.
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="test")
    results += batch(
        (f"{n}-8", "fee", [Leg.debit(w, "1.25"), Leg.credit(fee.account_no, "1.25")], "CNY", {}),
        (f"{n}-9", "fee", [Leg.debit(w, "0.75"), Leg.credit(p, "0.50"), Leg.credit(fee.account_no, "0.25")], None, {}),
    )
    assert all(r.ok for r in results), [r.error for r in results if r.error]
    assert Entry.objects.filter(account=fee, account_seq__isnull=True).count() == 2
    buffers_flush()
    posting_mode_set(mode=PostingMode.REALTIME, account=fee, actor="test")
    end = {
        role: (ledger.fresh(a).entry_seq - start[role][0], ledger.fresh(a).balance - start[role][1])
        for role, a in roles.items()
    }
    return [r.posting for r in results], roles, start, end


@pytest.mark.django_db
def test_a_batch_in_one_call_writes_what_the_full_path_writes(ledger, batch_paths, settings):
    full, full_roles, full_start, full_end = batch_scenario(ledger, settings, one_call=False)
    assert batch_paths == []
    one, one_roles, one_start, one_end = batch_scenario(ledger, settings, one_call=True)
    assert batch_paths == ["one call", "one call"]

    assert entries_of(one, one_roles, one_start) == entries_of(full, full_roles, full_start)
    assert one_end == full_end
    assert one_end["payee"] == (7, Decimal("0.50"))
    assert one_end["fee"] == (3, Decimal("2.50"))
    assert [p.serial_no for p in one] == sorted(p.serial_no for p in one)  # in the batch's order
    for returned in one:  # what the call returns is what was stored
        stored = Posting.objects.get(pk=returned.pk)
        for field in Posting._meta.concrete_fields:
            assert getattr(returned, field.attname) == getattr(stored, field.attname), field.name
    fields = ("business_type", "currency", "accounting_date", "memo", "external_ref", "posted_by", "entity_id")
    assert [[getattr(p, f) for f in fields] for p in one] == [[getattr(p, f) for f in fields] for p in full]
    for account in [*one_roles.values(), *full_roles.values()]:
        assert account_chain_breaks(account=ledger.fresh(account)) == []
    assert all(t.holds for t in identity_totals())


@pytest.mark.django_db
def test_a_refused_item_goes_alone_down_the_full_path_and_the_others_in_one_call(
    ledger, batch_paths, settings, monkeypatch
):
    monkeypatch.setattr(batch_module, "_BATCH_RUN_MIN", 1)  # a new call after a run of one item
    cases = _refusals(ledger)
    a, b = ledger.cash(), ledger.cash()
    ledger.recharge(a, "1000")
    for name, legs in cases.items():
        outcomes = {}
        for one_call in (False, True):
            settings.POSTING_ONE_CALL = one_call
            batch_paths.clear()
            snapshot = (Posting.objects.count(), Entry.objects.count())
            n = f"{name}-{one_call}"
            results = batch(
                (f"{n}-before", "transfer", [Leg.debit(a.account_no, "1"), Leg.credit(b.account_no, "1")], "CNY", {}),
                (f"{n}-refused", "transfer", legs, "CNY", {}),
                (f"{n}-after", "transfer", [Leg.debit(a.account_no, "2"), Leg.credit(b.account_no, "2")], "CNY", {}),
            )
            outcomes[one_call] = [(r.error.code, r.error.message, r.error.fields) if r.error else "ok" for r in results]
            assert (Posting.objects.count(), Entry.objects.count()) == (snapshot[0] + 2, snapshot[1] + 4), name
            if not one_call:
                assert batch_paths == [], name
            elif name == "not_a_direction":  # refused before anything is written: the other two in one call
                assert batch_paths == ["one call"], name
            else:  # the item before it, then the refused item by the full path, then a call for the item after
                assert batch_paths == ["stopped at 1", "one call"], name
        assert outcomes[True] == outcomes[False], name
        assert outcomes[True][0] == outcomes[True][2] == "ok" and outcomes[True][1] != "ok", name
    assert ledger.balance(a) == Decimal("1000") - 2 * 3 * len(cases)  # both ways
    for account in (a, b):
        assert account_chain_breaks(account=ledger.fresh(account)) == []
    assert all(t.holds for t in identity_totals())


@pytest.mark.django_db
def test_a_batch_split_around_refused_items_keeps_the_batch_order(ledger, batch_paths, settings, monkeypatch):
    """Refused items first, in the middle and last: the items between them go
    in one call each (the call stops at a refused item and leaves it to the
    full path), and every item still sees what the items before it left, as
    on the full path."""
    monkeypatch.setattr(batch_module, "_BATCH_RUN_MIN", 0)  # a new call after every stop
    outcomes, balances = {}, {}
    for one_call in (False, True):
        settings.POSTING_ONE_CALL = one_call
        batch_paths.clear()
        a, b, closed, channel = ledger.cash(), ledger.cash(), ledger.cash(), ledger.channel()
        account_change_status(account=closed, to_status="closed", reason="left", actor="ops")
        ledger.recharge(a, "10")
        A, B, C, CH = a.account_no, b.account_no, closed.account_no, channel.account_no
        n = f"order-{one_call}"
        results = batch(
            (f"{n}-1", "transfer", [Leg.debit(A, "1"), Leg.credit(C, "1")], "CNY", {}),  # closed
            (f"{n}-2", "transfer", [Leg.debit(A, "10"), Leg.credit(B, "10")], "CNY", {}),  # a 0, b 10
            (f"{n}-3", "transfer", [Leg.debit(B, "15"), Leg.credit(A, "15")], "CNY", {}),  # b short by 5
            (f"{n}-4", "recharge", [Leg.debit(CH, "10"), Leg.credit(B, "10")], "CNY", {}),  # b 20
            (f"{n}-5", "transfer", [Leg.debit(B, "15"), Leg.credit(A, "15")], "CNY", {}),  # now it can: b 5, a 15
            (f"{n}-6", "transfer", [Leg.debit(A, "1"), Leg.credit(C, "1")], "CNY", {}),  # closed
        )
        outcomes[one_call] = [r.error.code if r.error else "ok" for r in results]
        balances[one_call] = (ledger.balance(a), ledger.balance(b))
        assert [r.posting.serial_no for r in results if r.ok] == sorted(r.posting.serial_no for r in results if r.ok)
        for account in (a, b, channel):
            assert account_chain_breaks(account=ledger.fresh(account)) == []
    assert batch_paths == ["stopped at 0", "stopped at 1", "stopped at 2"]
    assert outcomes[True] == outcomes[False]
    assert outcomes[True] == ["account_closed", "ok", "insufficient_funds", "ok", "ok", "account_closed"]
    assert balances[True] == balances[False] == (Decimal("15.00"), Decimal("5.00"))
    assert all(t.holds for t in identity_totals())


@pytest.mark.django_db
def test_thick_refusals_send_the_rest_of_the_batch_down_the_full_path(ledger, batch_paths, settings, monkeypatch):
    """A call that wrote fewer than _BATCH_RUN_MIN items before stopping, or
    the last call allowed, leaves the items from its stop on to the full path
    together: a batch full of refusals costs a few calls, not one per
    refusal. The answers are the full path's."""

    def scenario(one_call: bool, refused: set[int], size: int):
        settings.POSTING_ONE_CALL = one_call
        batch_paths.clear()
        a, b, closed = ledger.cash(), ledger.cash(), ledger.cash()
        account_change_status(account=closed, to_status="closed", reason="left", actor="ops")
        ledger.recharge(a, "1000")
        n = f"thick-{one_call}-{len(refused)}"
        payee = {i: (closed if i in refused else b).account_no for i in range(size)}
        results = batch(
            *[
                (f"{n}-{i}", "transfer", [Leg.debit(a.account_no, "1"), Leg.credit(payee[i], "1")], "CNY", {})
                for i in range(size)
            ]
        )
        return [r.error.code if r.error else "ok" for r in results], ledger.balance(a), list(batch_paths)

    # A run of 12 before the first refusal: its own call; a run of 1 after the next: the rest together.
    full = scenario(False, {12, 14, 20}, 30)
    one = scenario(True, {12, 14, 20}, 30)
    assert one[:2] == full[:2] and full[1] == Decimal("973.00")
    assert one[2] == ["stopped at 12", "stopped at 1"]

    monkeypatch.setattr(batch_module, "_BATCH_RUN_MIN", 0)  # only the number of calls bounds them
    full = scenario(False, set(range(6)), 8)
    one = scenario(True, set(range(6)), 8)
    assert one[:2] == full[:2] and full[1] == Decimal("998.00")
    assert one[2] == ["stopped at 0"] * batch_module._BATCH_CALLS_MAX


@pytest.mark.django_db(transaction=True)
def test_a_batch_in_one_call_is_its_own_transaction_and_a_replay_answers_the_first(ledger, batch_paths):
    a, b = ledger.cash(), ledger.cash()
    ledger.recharge(a, "10")
    items = [
        (f"own-{i}", "transfer", [Leg.debit(a.account_no, "1"), Leg.credit(b.account_no, "1")], "CNY", {})
        for i in range(5)
    ]
    first = batch(*items)
    assert batch_paths == ["one call"] and all(r.ok and not r.posting.replayed for r in first)
    assert connection.connection.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    again = batch(*items)
    assert [(r.posting.serial_no, r.posting.replayed) for r in again] == [(r.posting.serial_no, True) for r in first]
    assert batch_paths == ["one call"]  # the replay wrote nothing
    assert (ledger.balance(a), ledger.balance(b)) == (Decimal("5.00"), Decimal("5.00"))


@pytest.mark.django_db(transaction=True)
def test_the_hot_cursor_is_kept_per_connection_and_never_shared_while_in_use():
    with db_module._hot_cursor() as first:
        first.execute("SELECT 1")
        with db_module._hot_cursor() as nested:
            assert nested is not first
            nested.execute("SELECT 2")
            assert nested.fetchone() == (2,)
        assert first.fetchone() == (1,)  # the nested one left the first one's result alone
    with db_module._hot_cursor() as again:
        assert again is first
    connection.close()
    with db_module._hot_cursor() as reconnected:
        assert reconnected is not first and not reconnected.closed
        reconnected.execute("SELECT 3")
        assert reconnected.fetchone() == (3,)


@pytest.mark.django_db
def test_the_calls_array_literals_carry_any_text_unchanged(ledger):
    values = ["a", "b,c", 'd"e', "f\\g", "{h}", "NULL", " sp ", "", 'x\\"y', "中文"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [one_call_module._array_literal(values)])
        assert cursor.fetchone()[0] == values
    wallet = ledger.cash()
    ledger.recharge(wallet, "5")
    with pytest.raises(LedgerError) as refused:  # an account number with quotes and braces is just unknown
        post("odd-no", Leg.debit(wallet.account_no, "1"), Leg.credit('{"x"}', "1"))
    assert refused.value.code == "not_found"
