"""Hot accounts: buffered legs, the flush, and what a buffered account may take.

Single-connection behaviour here; storms and killed flushes, with real
parallel connections and processes, are in test_buffers_concurrency.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from accounts.exceptions import InsufficientFunds
from accounts.kernel.errors import LedgerValidationError
from accounts.models import Account, AccountPostingModeChange, PostingMode
from postings.exceptions import BufferedDebitRefused
from postings.models import Entry, Posting
from postings.selectors import account_balance, account_chain_breaks, buffer_depths, identity_totals
from postings.services import Leg, hold_place, posting_create, posting_reverse
from postings.services.buffers import buffers_flush, posting_mode_set

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def hot(ledger):
    """The fee income account, buffered; two members with money."""
    fee = ledger.internal("FEE_INCOME")
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="ops")
    a, b = ledger.cash(), ledger.cash()
    ledger.recharge(a, "100")
    ledger.recharge(b, "100")
    return fee, a, b


def charge(member, fee, amount, request_no):
    return posting_create(
        request_no=request_no,
        business_type="fee",
        posted_by="trade",
        legs=[Leg.debit(member.account_no, amount), Leg.credit(fee.account_no, amount)],
    )


def test_a_buffered_leg_is_pending_until_the_flush_and_the_books_balance_throughout(ledger, hot):
    fee, a, b = hot
    charge(a, fee, "1.50", "f1")
    charge(b, fee, "2.25", "f2")
    charge(a, fee, "0.25", "f3")

    row = ledger.fresh(fee)
    assert (row.balance, row.entry_seq) == (D("0"), 0)  # the hot row was not touched
    pending = Entry.objects.filter(account=fee).order_by("serial_no")
    assert [(e.account_seq, e.balance_before, e.balance_after) for e in pending] == [(None, None, None)] * 3
    # The member side is real-time as always.
    assert ledger.balance(a) == D("98.25")
    seen = account_balance(account=row)
    assert (seen.posted, seen.pending, seen.total, seen.pending_count) == (D("0"), D("4.00"), D("4.00"), 3)
    assert seen.oldest_pending_at is not None
    assert all(t.holds for t in identity_totals())

    assert buffers_flush() == 3
    row = ledger.fresh(fee)
    assert (row.balance, row.entry_seq) == (D("4.00"), 3)
    chain = list(
        Entry.objects.filter(account=fee)
        .order_by("account_seq")
        .values_list("account_seq", "balance_before", "balance_after", "frozen_before", "frozen_after")
    )
    assert chain == [(1, D("0"), D("1.50"), 0, 0), (2, D("1.50"), D("3.75"), 0, 0), (3, D("3.75"), D("4.00"), 0, 0)]
    assert account_chain_breaks(account=row) == []
    after = account_balance(account=row)
    assert (after.posted, after.pending, after.total) == (D("4.00"), D("0"), D("4.00"))
    assert all(t.holds for t in identity_totals())
    assert buffers_flush() == 0  # nothing left, nothing applied twice


def test_a_flush_applies_in_batches_and_continues_a_real_time_chain(ledger):
    fee = ledger.internal("FEE_INCOME")
    member = ledger.cash()
    ledger.recharge(member, "100")
    charge(member, fee, "10", "rt-1")  # real-time first: seq 1
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="ops")
    for i in range(7):
        charge(member, fee, "1", f"b-{i}")
    assert buffers_flush(batch_size=3) == 7  # three transactions: 3 + 3 + 1
    row = ledger.fresh(fee)
    assert (row.balance, row.entry_seq) == (D("17"), 8)
    assert account_chain_breaks(account=row) == []


def test_a_debit_that_needs_a_balance_check_is_refused_and_writes_nothing(ledger):
    merchant = ledger.cash()
    payer = ledger.cash()
    ledger.recharge(payer, "50")
    ledger.recharge(merchant, "50")
    posting_mode_set(mode=PostingMode.BUFFERED, account=merchant, actor="ops")
    postings_before = Posting.objects.count()

    with pytest.raises(BufferedDebitRefused) as refused:
        posting_create(
            request_no="md-1",
            business_type="transfer",
            posted_by="trade",
            legs=[Leg.debit(merchant.account_no, "5"), Leg.credit(payer.account_no, "5")],
        )
    assert refused.value.code == "buffered_debit_refused"
    assert merchant.account_no in refused.value.message and "balance check" in refused.value.message
    with pytest.raises(BufferedDebitRefused):
        hold_place(account_no=merchant.account_no, amount="5", reason="x", request_no="mh-1", actor="ops")
    assert Posting.objects.count() == postings_before
    assert ledger.fresh(merchant).frozen == 0

    # Credits to it are safe, and buffered.
    posting_create(
        request_no="mc-1",
        business_type="transfer",
        posted_by="trade",
        legs=[Leg.debit(payer.account_no, "5"), Leg.credit(merchant.account_no, "5")],
    )
    assert account_balance(account=ledger.fresh(merchant)).total == D("55")


def test_an_internal_account_that_may_go_negative_takes_buffered_debits(ledger):
    channel = ledger.channel()
    posting_mode_set(mode=PostingMode.BUFFERED, account=channel, actor="ops")
    member = ledger.cash()
    ledger.recharge(member, "30")  # Dr channel (buffered) / Cr member
    ledger.recharge(member, "20")
    assert ledger.balance(member) == D("50")
    assert account_balance(account=ledger.fresh(channel)).total == D("-50")
    buffers_flush()
    assert ledger.balance(channel) == D("-50")
    assert account_chain_breaks(account=ledger.fresh(channel)) == []


def test_a_reversal_of_a_buffered_leg_is_buffered_too(ledger, hot):
    fee, a, _ = hot
    posting = charge(a, fee, "3", "rv-1")
    posting_reverse(serial_no=posting.serial_no, request_no="rv-1-back", posted_by="ops")
    assert account_balance(account=ledger.fresh(fee)).total == D("0")
    assert buffers_flush() == 2
    assert ledger.balance(fee) == D("0")
    assert ledger.balance(a) == D("100")


def test_the_type_switch_covers_its_accounts_and_going_real_time_flushes(ledger):
    fee = ledger.internal("FEE_INCOME")
    member = ledger.cash()
    ledger.recharge(member, "10")
    changed = posting_mode_set(mode=PostingMode.BUFFERED, account_type=fee.account_type, actor="ops")
    assert changed == 1 and ledger.fresh(fee).posting_mode == PostingMode.BUFFERED
    charge(member, fee, "4", "sw-1")
    assert ledger.balance(fee) == 0
    posting_mode_set(mode=PostingMode.REALTIME, account_type=fee.account_type, actor="ops")
    row = ledger.fresh(fee)
    assert (row.posting_mode, row.balance, row.entry_seq) == (PostingMode.REALTIME, D("4"), 1)
    charge(member, fee, "1", "sw-2")  # real-time again: continues the chain
    assert account_chain_breaks(account=ledger.fresh(fee)) == []


def test_every_switch_is_kept_in_the_accounts_posting_mode_history(ledger):
    fee, channel = ledger.internal("FEE_INCOME"), ledger.channel()
    posting_mode_set(mode=PostingMode.BUFFERED, account=channel, actor="ops-li")
    posting_mode_set(mode=PostingMode.BUFFERED, account=channel, actor="ops-li")  # no change, no row
    posting_mode_set(mode=PostingMode.BUFFERED, account_type=fee.account_type, actor="ops-wang")
    posting_mode_set(mode=PostingMode.REALTIME, account=fee, actor="ops-zhao")

    def history(account):
        return list(
            AccountPostingModeChange.objects.filter(account=account)
            .order_by("id")
            .values_list("from_mode", "to_mode", "via_type", "changed_by")
        )

    assert history(channel) == [("realtime", "buffered", "", "ops-li")]
    assert history(fee) == [
        ("realtime", "buffered", "FEE_INCOME", "ops-wang"),
        ("buffered", "realtime", "", "ops-zhao"),
    ]
    with pytest.raises(DatabaseError, match="Cannot update or delete rows"), transaction.atomic():
        AccountPostingModeChange.objects.filter(account=fee).update(changed_by="someone else")
    with pytest.raises(DatabaseError, match="Cannot update or delete rows"), transaction.atomic():
        AccountPostingModeChange.objects.filter(account=fee).delete()
    assert history(fee)[0][3] == "ops-wang"


def test_buffering_is_refused_while_money_is_frozen_on_the_account(ledger):
    member = ledger.cash()
    ledger.recharge(member, "10")
    hold_place(account_no=member.account_no, amount="4", reason="order", request_no="fz-1", actor="ops")
    with pytest.raises(LedgerValidationError, match="frozen"):
        posting_mode_set(mode=PostingMode.BUFFERED, account=member, actor="ops")
    assert ledger.fresh(member).posting_mode == PostingMode.REALTIME
    assert not AccountPostingModeChange.objects.filter(account=member).exists()


@pytest.mark.real_clock  # the age is Python's now less the entries' created_at, which is PostgreSQL's now()
def test_buffer_depth_and_age_per_hot_account(ledger, hot):
    fee, a, b = hot
    assert [(d.account.pk, d.pending_count) for d in buffer_depths()] == [(fee.pk, 0)]
    charge(a, fee, "1", "d1")
    charge(b, fee, "2", "d2")
    (depth,) = buffer_depths()
    assert (depth.pending_count, depth.pending) == (2, D("3"))
    assert depth.age_seconds is not None and depth.age_seconds >= 0


def test_the_refusal_of_an_insufficient_real_time_side_leaves_no_pending_leg(ledger, hot):
    fee, a, _ = hot
    with pytest.raises(InsufficientFunds):
        charge(a, fee, "500", "too-much")
    assert not Entry.objects.filter(account=fee).exists()


def test_the_database_lets_a_pending_entry_be_applied_once_and_nothing_else_change(ledger, hot):
    fee, a, _ = hot
    charge(a, fee, "1", "db-1")
    entry = Entry.objects.get(account=fee)

    def sql(statement, params):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, params)

    with pytest.raises(DatabaseError, match="append-only"):  # changing what was posted
        sql(
            "UPDATE postings_entry SET amount = 2, account_seq = 1, balance_before = 0, balance_after = 2, "
            "frozen_before = 0, frozen_after = 0 WHERE serial_no = %s",
            [entry.serial_no],
        )
    with pytest.raises(DatabaseError, match="entry_pending_or_applied"):  # half applied
        sql("UPDATE postings_entry SET account_seq = 1 WHERE serial_no = %s", [entry.serial_no])
    buffers_flush()
    with pytest.raises(DatabaseError, match="append-only"):  # applied twice
        sql(
            "UPDATE postings_entry SET account_seq = 9, balance_before = 5, balance_after = 6 WHERE serial_no = %s",
            [entry.serial_no],
        )
    assert Entry.objects.get(pk=entry.pk).account_seq == 1


def test_the_end_of_day_flush_applies_the_days_pending_entries_before_the_sheet(ledger):
    from reports.eod.models import CheckResult, DailyBalance
    from reports.eod.services import eod_run
    from tests.reports.eod_books import open_books_on

    open_books_on(ledger.entity, date(2026, 11, 2))
    fee = ledger.internal("FEE_INCOME")
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="ops")
    a, b = ledger.cash(), ledger.cash()
    ledger.recharge(a, "100")
    ledger.recharge(b, "100")
    charge(a, fee, "1.10", "eod-1")
    charge(b, fee, "2.20", "eod-2")
    run = eod_run(entity=ledger.entity, accounting_date=date(2026, 11, 2), actor="ops")
    assert run.status == "done", [(s.name, s.outcome, s.message) for s in run.steps.all()]
    flush_step = run.steps.get(name="flush_buffers")
    assert flush_step.rows == 2
    row = DailyBalance.objects.get(account=fee, accounting_date=date(2026, 11, 2))
    assert (row.debit, row.credit, row.closing, row.entry_count) == (D("0"), D("3.30"), D("3.30"), 2)
    failed = CheckResult.objects.filter(accounting_date=date(2026, 11, 2), passed=False)
    assert not failed.exists(), [(c.check_name, c.summary) for c in failed]
    assert not Entry.objects.filter(account_seq__isnull=True).exists()
    assert Account.objects.get(pk=fee.pk).balance == D("3.30")


def test_the_checks_of_a_closed_day_hold_while_the_next_days_hot_entries_are_pending(ledger):
    from reports.eod.checks import checks_run
    from reports.eod.models import CheckResult
    from reports.eod.services import eod_run
    from tests.reports.eod_books import open_books_on

    open_books_on(ledger.entity, date(2026, 11, 2))
    fee = ledger.internal("FEE_INCOME")
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="ops")
    member = ledger.cash()
    ledger.recharge(member, "100")
    charge(member, fee, "1", "d1-1")
    assert eod_run(entity=ledger.entity, accounting_date=date(2026, 11, 2), actor="ops").status == "done"
    charge(member, fee, "2", "d2-1")  # on Nov 3, pending
    charge(member, fee, "3", "d2-2")
    assert Entry.objects.filter(account=fee, account_seq__isnull=True).count() == 2

    results = checks_run(entity=ledger.entity, accounting_date=date(2026, 11, 2))
    assert all(r.passed for r in results), [(r.check_name, r.summary) for r in results if not r.passed]
    assert CheckResult.objects.get(accounting_date=date(2026, 11, 2), check_name="live_balance").passed
