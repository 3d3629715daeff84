"""Property test (issue 17, section 2): the fast paths and the full path are
one ledger.

Random short sequences of postings, batches, holds, settlements, releases,
reversals, status changes and flushes, refusals included (blocked, closed,
buffered and foreign-currency accounts, unknown accounts, shortfalls), run
twice on two databases built alike: on ``default`` with the one call on
(ledger_post, ledger_post_batch), on ``slow`` with ``POSTING_ONE_CALL`` off
(the full path only). Both must give the same outcome for every step (the
same error code and message, or the same success) and end with the same
postings, entries (accounts, directions, amounts, balances and frozen
amounts before and after, sequence numbers), balances, frozen amounts and
holds. Each example runs in a savepoint of each database, rolled back after.
"""

import re
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import connections, transaction
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.kernel.errors import LedgerError
from accounts.models import Account
from accounts.services import account_change_status
from postings.models import Entry, Hold, Posting
from postings.services import (
    Leg,
    PostingRequest,
    hold_place,
    hold_release,
    hold_settle,
    posting_create,
    posting_create_batch,
    posting_reverse,
)
from postings.services.buffers import buffers_flush, posting_mode_set
from tests.conftest import Ledger

# The accounts every leg picks from: real-time cash, a credit line, the
# channel (may go negative), the fee income account (buffered), accounts
# blocked one way or closed, one in USD, and one that does not exist.
ROLES = ["cash0", "cash1", "cash2", "credit", "channel", "fee", "no_debit", "no_credit", "closed", "usd", "unknown"]
UNKNOWN = "NO-SUCH-ACCOUNT"

role = st.sampled_from(ROLES)
amount = st.sampled_from(["0.01", "1", "25", "99.99", "150", "400", "1000.5"])
# Debits on one or two accounts, their total credited to one: balanced.
posting = st.tuples(st.lists(st.tuples(role, amount), min_size=1, max_size=2), role, st.sampled_from([None, "CNY"]))
operations = st.one_of(
    st.tuples(st.just("post"), posting),
    st.tuples(st.just("batch"), st.lists(posting, min_size=1, max_size=4)),
    st.tuples(st.just("hold"), st.sampled_from(["cash0", "cash1", "credit", "fee", "no_debit", "closed"]), amount),
    st.tuples(st.just("settle"), st.integers(0, 3), amount, st.sampled_from(["cash2", "channel", "fee", "closed"])),
    st.tuples(st.just("release"), st.integers(0, 3), st.sampled_from([None, "1", "25"])),
    st.tuples(st.just("reverse"), st.integers(0, 5)),
    st.tuples(
        st.just("status"), st.sampled_from(["cash0", "cash1"]), st.sampled_from(["active", "debit_blocked", "blocked"])
    ),
    st.tuples(st.just("flush")),
)


@contextmanager
def on_database(alias):
    """The services on the database ``alias``: they use the default
    connection, so the default connection is that database's meanwhile."""
    if alias == "default":
        yield
        return
    default, other = connections["default"], connections[alias]
    connections["default"], other.alias = other, "default"  # instances it loads say "default" too
    try:
        yield
    finally:
        connections["default"], other.alias = default, alias


class Rollback(Exception):
    pass


def build():
    """The accounts of ROLES, funded, with their statuses: the same steps on
    either database."""
    ledger = Ledger()
    accounts = {f"cash{i}": ledger.cash() for i in range(3)}
    accounts["credit"] = ledger.credit(accounts["cash0"].member, limit="300")
    accounts["channel"] = ledger.channel()
    accounts["fee"] = ledger.internal("FEE_INCOME")
    accounts["no_debit"] = ledger.cash()
    accounts["no_credit"] = ledger.cash()
    accounts["closed"] = ledger.cash()
    accounts["usd"] = ledger.cash(currency="USD")
    for name in ("cash0", "cash1", "cash2", "no_debit", "no_credit"):
        ledger.recharge(accounts[name], "500", request_no=f"fund-{name}")
    ledger.recharge(accounts["usd"], "500", request_no="fund-usd")
    posting_mode_set(mode="buffered", account=accounts["fee"], actor="prop")
    for name, status in (("no_debit", "debit_blocked"), ("no_credit", "credit_blocked"), ("closed", "closed")):
        account_change_status(account=accounts[name], to_status=status, reason="prop", actor="prop")
    numbers = {name: a.account_no for name, a in accounts.items()}
    numbers["unknown"] = UNKNOWN
    return numbers


def legs_of(debits, payee, numbers):
    total = sum((Decimal(a) for _, a in debits), Decimal(0))
    return [Leg.debit(numbers[r], a) for r, a in debits] + [Leg.credit(numbers[payee], total)]


class Run:
    """One sequence on one database; ``outcome`` is what it did, with
    account numbers named by their role."""

    def __init__(self, numbers):
        self.numbers = numbers
        self.names = {no: name for name, no in numbers.items()}
        self.n = 0
        self.postings: list[int] = []
        self.holds: list[int] = []
        self.outcome: list = []

    def req(self):
        self.n += 1
        return f"x-{self.n}"

    def said(self, error: LedgerError):
        message = error.message
        for no, name in sorted(self.names.items(), key=lambda n: -len(n[0])):  # the longest first
            message = message.replace(no, f"<{name}>")
        # Serial numbers differ between the databases: the posting's request instead.
        requests = dict(Posting.objects.filter(serial_no__in=self.postings).values_list("serial_no", "request_no"))
        message = re.sub(r"Posting (\d+)", lambda m: f"Posting <{requests.get(int(m[1]), m[1])}>", message)
        holds = dict(Hold.objects.filter(id__in=self.holds).values_list("id", "request_no"))
        message = re.sub(r"Hold (\d+)", lambda m: f"Hold <{holds.get(int(m[1]), m[1])}>", message)
        return ("refused", error.code, message)

    def step(self, op):
        try:
            self.outcome.append(self.apply(op))
        except LedgerError as error:
            self.outcome.append(self.said(error))

    def apply(self, op):
        kind, *args = op
        nos = self.numbers
        if kind == "post":
            debits, payee, currency = args[0]
            p = posting_create(
                request_no=self.req(),
                business_type="transfer",
                legs=legs_of(debits, payee, nos),
                posted_by="prop",
                currency=currency,
            )
            self.postings.append(p.serial_no)
            return ("posted", p.request_no)
        if kind == "batch":
            items = []
            for debits, payee, currency in args[0]:
                items.append(PostingRequest(self.req(), "transfer", legs_of(debits, payee, nos), currency=currency))
            said = []
            for result in posting_create_batch(items, posted_by="prop"):
                if result.ok:
                    self.postings.append(result.posting.serial_no)
                    said.append(("posted", result.request_no))
                else:
                    said.append(self.said(result.error))
            return ("batch", said)
        if kind == "hold":
            hold = hold_place(
                account_no=nos[args[0]], amount=args[1], reason="prop", request_no=self.req(), actor="prop"
            )
            self.holds.append(hold.id)
            return ("held", hold.request_no)
        if kind in ("settle", "release"):
            if not self.holds:
                return ("no hold",)
            hold_id = self.holds[args[0] % len(self.holds)]
            if kind == "settle":
                p = hold_settle(
                    hold_id=hold_id,
                    request_no=self.req(),
                    amount=args[1],
                    business_type="guarantee_settlement",
                    actor="prop",
                    counter_account_no=nos[args[2]],
                )
                self.postings.append(p.serial_no)
                return ("settled", p.request_no)
            hold = hold_release(hold_id=hold_id, request_no=self.req(), amount=args[1], actor="prop")
            return ("released", hold.remaining, hold.status)
        if kind == "reverse":
            if not self.postings:
                return ("no posting",)
            p = posting_reverse(
                serial_no=self.postings[args[0] % len(self.postings)], request_no=self.req(), posted_by="prop"
            )
            self.postings.append(p.serial_no)
            return ("reversed", p.request_no)
        if kind == "status":
            account = Account.objects.get(account_no=nos[args[0]])
            account_change_status(account=account, to_status=args[1], reason="prop", actor="prop")
            return ("status",)
        if kind == "flush":
            return ("flushed", buffers_flush())
        raise AssertionError(kind)

    def books(self):
        """Every posting, entry, balance and hold of the sequence, by role."""
        ids = {a.pk: self.names[a.account_no] for a in Account.objects.filter(account_no__in=self.names)}
        requests = {p.serial_no: p.request_no for p in Posting.objects.all()}
        postings = [
            # (Not the memo: a reversal's names the serial number, which differs.)
            (p.request_no, p.business_type, p.currency, p.accounting_date, requests.get(p.reverses_id))
            for p in Posting.objects.filter(request_no__startswith="x-").order_by("request_no")
        ]
        entries = [
            (
                requests[e.posting_id],
                ids.get(e.account_id, "other"),
                e.account_seq,
                e.direction,
                e.amount,
                e.currency,
                e.balance_before,
                e.balance_after,
                e.frozen_before,
                e.frozen_after,
            )
            for e in Entry.objects.filter(posting__request_no__startswith="x-").order_by(
                "posting__request_no", "serial_no"
            )
        ]
        accounts = sorted(
            (ids[a.pk], a.balance, a.frozen, a.entry_seq, a.status) for a in Account.objects.filter(pk__in=ids)
        )
        holds = sorted(
            (h.request_no, ids.get(h.account_id, "other"), h.amount, h.remaining, h.status) for h in Hold.objects.all()
        )
        return postings, entries, accounts, holds


def run(alias, numbers, ops, *, one_call):
    with on_database(alias), override_settings(POSTING_ONE_CALL=one_call):
        try:
            with transaction.atomic():
                sequence = Run(numbers)
                for op in ops:
                    sequence.step(op)
                books = sequence.books()
                raise Rollback
        except Rollback:
            pass
    return sequence.outcome, books


@pytest.fixture
def databases_built(django_db_blocker):
    return {}


@pytest.mark.django_db(databases=["default", "slow"])
@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operations, min_size=1, max_size=6))
def test_the_fast_paths_and_the_full_path_keep_the_same_books(ops, databases_built):
    if not databases_built:
        for alias in ("default", "slow"):
            with on_database(alias):
                databases_built[alias] = build()
    fast = run("default", databases_built["default"], ops, one_call=True)
    slow = run("slow", databases_built["slow"], ops, one_call=False)
    assert fast[0] == slow[0], "the steps' outcomes differ"
    assert fast[1] == slow[1], "the books differ"
