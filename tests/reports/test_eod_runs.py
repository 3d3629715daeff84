"""The end-of-day run itself: order of days, a failing step and its retry,
re-runs from a step, one run per entity at a time."""

import threading
from datetime import date

import pytest
from django.db import connection

from accounts.kernel.errors import LedgerValidationError
from postings.exceptions import DayClosed
from postings.models import AccountingDay, DayStatus
from postings.services import posting_create_by_rule
from postings.services.calendar import day_cut
from reports.eod import services
from reports.eod.exceptions import EodInProgress, EodOutOfOrder
from reports.eod.models import EodRun, EodStep, RunStatus
from reports.eod.services import eod_run

from .eod_books import D, checks, forge, open_books_on, open_date, post, report_rows, sheet

pytestmark = pytest.mark.django_db

NOV2, NOV3, NOV4, NOV5, NOV6 = (date(2026, 11, d) for d in (2, 3, 4, 5, 6))


@pytest.fixture
def books(ledger):
    open_books_on(ledger.entity, NOV2)
    wallet, channel = ledger.cash(), ledger.channel()
    return ledger.entity, wallet, channel


def steps(run):
    return [(s.name, s.status, s.attempts) for s in EodStep.objects.filter(run=run).order_by("position")]


def test_a_day_is_refused_while_an_earlier_day_with_entries_has_not_run(books):
    entity, wallet, channel = books
    post("recharge", member_account=wallet, channel_account=channel, amount="100")  # Nov 2
    day_cut(entity=entity, day=NOV2)
    post("recharge", member_account=wallet, channel_account=channel, amount="10")  # Nov 3

    with pytest.raises(EodOutOfOrder, match="2026-11-02") as refused:
        eod_run(entity=entity, accounting_date=NOV3, actor="ops")
    assert refused.value.code == "eod_out_of_order"
    assert refused.value.fields["missing_day"] == NOV2
    assert not EodRun.objects.exists()  # refused before anything was recorded
    assert open_date(entity) == NOV3  # and Nov 3 was not cut

    assert eod_run(entity=entity, accounting_date=NOV2, actor="ops").status == RunStatus.DONE
    assert eod_run(entity=entity, accounting_date=NOV3, actor="ops").status == RunStatus.DONE
    assert sheet(entity, NOV3)[wallet.account_no] == (D("100"), D("0"), D("10"), D("110"), 1)


def test_a_day_is_refused_while_an_earlier_run_is_unfinished(books, monkeypatch):
    entity, wallet, channel = books
    post("recharge", member_account=wallet, channel_account=channel, amount="100")

    def broken(run):
        raise RuntimeError("disk full")

    monkeypatch.setitem(services.STEPS, "checks", broken)
    assert eod_run(entity=entity, accounting_date=NOV2, actor="ops").status == RunStatus.FAILED
    with pytest.raises(EodOutOfOrder, match="2026-11-02 is failed"):
        eod_run(entity=entity, accounting_date=NOV3, actor="ops")


def test_the_first_day_opens_from_zero_and_empty_days_in_between_carry_balances(books):
    entity, wallet, channel = books
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    assert eod_run(entity=entity, accounting_date=NOV2, actor="ops").status == RunStatus.DONE
    # The beat was off for two days: nobody ran Nov 3 and Nov 4, and nothing was posted on them.
    for day in (NOV3, NOV4):
        day_cut(entity=entity, day=day)
    post("recharge", member_account=wallet, channel_account=channel, amount="5")  # Nov 5

    assert eod_run(entity=entity, accounting_date=NOV5, actor="ops").status == RunStatus.DONE
    assert sheet(entity, NOV5)[wallet.account_no] == (D("100"), D("0"), D("5"), D("105"), 1)
    assert all(c.passed for c in checks(entity, NOV5).values())
    # The empty days are closed, so a late posting can no longer change what Nov 5 carried over them.
    statuses = dict(AccountingDay.objects.filter(entity=entity).values_list("date", "status"))
    assert statuses[NOV3] == statuses[NOV4] == DayStatus.CLOSED
    with pytest.raises(DayClosed):
        posting_create_by_rule(
            business_type="recharge",
            request_no="late",
            posted_by="t",
            accounting_date=NOV4,
            params={"member_account": wallet.account_no, "channel_account": channel.account_no, "amount": "1"},
        )


def test_an_empty_gap_day_is_closed_even_if_it_never_had_a_calendar_row(books):
    entity, wallet, channel = books
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    for day in (NOV3, NOV4):
        day_cut(entity=entity, day=day)
    AccountingDay.objects.filter(entity=entity, date=NOV3).delete()
    eod_run(entity=entity, accounting_date=NOV5, actor="ops")
    assert AccountingDay.objects.get(entity=entity, date=NOV3).status == DayStatus.CLOSED


def test_a_day_that_has_not_opened_is_refused(books):
    entity, *_ = books
    with pytest.raises(LedgerValidationError, match="cannot run before it opens"):
        eod_run(entity=entity, accounting_date=NOV3, actor="ops")
    assert not EodRun.objects.exists()


def test_a_failed_step_stops_the_run_and_a_retry_resumes_there(books, monkeypatch):
    entity, wallet, channel = books
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    calls = []
    real = services.STEPS["vouchers"]

    def flaky(run):
        calls.append(run.accounting_date)
        raise RuntimeError("GL mapping service unavailable")

    monkeypatch.setitem(services.STEPS, "vouchers", flaky)
    run = eod_run(entity=entity, accounting_date=NOV2, actor="beat")
    assert run.status == RunStatus.FAILED and run.ended_at is not None
    assert steps(run) == [
        ("day_cut", RunStatus.DONE, 1),
        ("flush_buffers", RunStatus.DONE, 1),
        ("balance_sheet", RunStatus.DONE, 1),
        ("checks", RunStatus.DONE, 1),
        ("vouchers", RunStatus.FAILED, 1),
    ]  # advance_day never started
    failed = EodStep.objects.get(run=run, name="vouchers")
    assert failed.message == "RuntimeError: GL mapping service unavailable"
    assert failed.ended_at is not None
    assert AccountingDay.objects.get(entity=entity, date=NOV2).status == DayStatus.CLOSING  # cut, not closed
    assert not EodRun.objects.get(pk=run.pk).steps.filter(name="advance_day").exists()

    run = eod_run(entity=entity, accounting_date=NOV2, actor="beat")  # still broken: fails again, same place
    assert run.status == RunStatus.FAILED
    assert steps(run)[-1] == ("vouchers", RunStatus.FAILED, 2)
    assert len(calls) == 2

    monkeypatch.setitem(services.STEPS, "vouchers", real)
    run = eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    assert run.status == RunStatus.DONE
    assert steps(run) == [
        ("day_cut", RunStatus.DONE, 1),
        ("flush_buffers", RunStatus.DONE, 1),
        ("balance_sheet", RunStatus.DONE, 1),
        ("checks", RunStatus.DONE, 1),
        ("vouchers", RunStatus.DONE, 3),
        ("credit_accrual", RunStatus.DONE, 1),
        ("advance_day", RunStatus.DONE, 1),
    ]
    assert EodStep.objects.get(run=run, name="vouchers").message == "1 vouchers, 1 new"  # one balanced recharge voucher
    assert AccountingDay.objects.get(entity=entity, date=NOV2).status == DayStatus.CLOSED
    assert run.triggered_by == "ops"


def test_a_failed_step_leaves_the_days_earlier_rows_as_they_were(books, monkeypatch):
    entity, wallet, channel = books
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    before = report_rows(entity, NOV2)

    def half_done(run):
        services.balance_sheet_build(entity=run.entity, accounting_date=run.accounting_date)
        raise RuntimeError("killed half way")

    monkeypatch.setitem(services.STEPS, "balance_sheet", half_done)
    run = eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    assert run.status == RunStatus.FAILED
    assert report_rows(entity, NOV2) == before  # the step's own writes were rolled back


def test_retry_from_a_step_reruns_that_step_and_the_ones_after(books):
    entity, wallet, channel = books
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    run = eod_run(entity=entity, accounting_date=NOV2, actor="ops", from_step="checks")
    assert run.status == RunStatus.DONE
    assert [s[2] for s in steps(run)] == [1, 1, 1, 2, 2, 2, 2]


def test_retry_from_a_step_after_an_unfinished_one_is_refused(books, monkeypatch):
    entity, wallet, channel = books
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    monkeypatch.setitem(services.STEPS, "balance_sheet", lambda run: 1 / 0)
    assert eod_run(entity=entity, accounting_date=NOV2, actor="ops").status == RunStatus.FAILED
    monkeypatch.undo()
    with pytest.raises(LedgerValidationError, match="balance_sheet has not completed"):
        eod_run(entity=entity, accounting_date=NOV2, actor="ops", from_step="vouchers")
    with pytest.raises(LedgerValidationError, match="Unknown step"):
        eod_run(entity=entity, accounting_date=NOV2, actor="ops", from_step="nap")
    assert eod_run(entity=entity, accounting_date=NOV2, actor="ops", from_step="balance_sheet").status == "done"


def test_checks_that_find_differences_do_not_stop_the_day_from_closing(books):
    """Entries are immutable: a re-run cannot mend them, a correction on the
    open day does. So the day closes and the red check says what broke."""
    entity, wallet, channel = books
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    forge("UPDATE accounts_account SET balance = balance + 1 WHERE id = %s", [wallet.pk])  # behind the ledger's back
    run = eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    assert run.status == RunStatus.DONE
    assert EodStep.objects.get(run=run, name="checks").message == "1 of 11 checks failed: live_balance"
    assert AccountingDay.objects.get(entity=entity, date=NOV2).status == DayStatus.CLOSED


@pytest.mark.django_db(transaction=True)
def test_one_run_per_entity_at_a_time(ledger):
    open_books_on(ledger.entity, NOV2)
    wallet, channel = ledger.cash(), ledger.channel()
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    inside, release = threading.Event(), threading.Event()
    real = services.STEPS["checks"]

    def slow(run):
        inside.set()
        release.wait(30)
        return real(run)

    services.STEPS["checks"] = slow
    results = {}

    def first():
        try:
            results["first"] = eod_run(entity=ledger.entity, accounting_date=NOV2, actor="beat").status
        finally:
            connection.close()

    try:
        worker = threading.Thread(target=first)
        worker.start()
        assert inside.wait(30)
        with pytest.raises(EodInProgress) as busy:
            eod_run(entity=ledger.entity, accounting_date=NOV2, actor="ops")
        assert busy.value.code == "eod_running"
        release.set()
        worker.join(60)
    finally:
        services.STEPS["checks"] = real
        release.set()
    assert results == {"first": RunStatus.DONE}
    assert eod_run(entity=ledger.entity, accounting_date=NOV2, actor="ops").status == RunStatus.DONE  # lock freed
