"""``manage.py eod``: backfill a range day by day, retry from a step, catch up."""

import io
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, OutputWrapper

from postings.models import AccountingDay, DayStatus
from postings.services.calendar import day_cut
from reports.eod import services
from reports.eod.models import EodRun, EodStep, RunStatus
from reports.eod.services import eod_run
from reports.management.commands.eod import Progress

from .eod_books import D, failed_checks, open_books_on, open_date, post, sheet

pytestmark = pytest.mark.django_db

NOV2, NOV3, NOV4, NOV5 = (date(2026, 11, d) for d in (2, 3, 4, 5))


def eod(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("eod", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), str(exc)
    return out.getvalue(), err.getvalue(), None


@pytest.fixture
def missed(ledger):
    """Nov 2 closed; the beat cut Nov 3 and Nov 4 but their end of day never ran."""
    open_books_on(ledger.entity, NOV2)
    wallet, channel = ledger.cash(), ledger.channel()
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    eod_run(entity=ledger.entity, accounting_date=NOV2, actor="beat")
    post("recharge", member_account=wallet, channel_account=channel, amount="20")
    day_cut(entity=ledger.entity, day=NOV3)
    post("transfer", payer_account=wallet, payee_account=ledger.cash(), amount="5")
    day_cut(entity=ledger.entity, day=NOV4)
    return ledger.entity, wallet


def test_a_missing_range_is_backfilled_in_order(missed):
    entity, wallet = missed
    out, err, error = eod("--entity", "MAIN", "--from", "2026-11-02", "--to", "2026-11-04")
    assert error is None, err
    # Not a terminal here: one line per day instead of the bar, timings cut off.
    assert [line.rsplit(" (", 1)[0] for line in out.splitlines()] == [
        "[1/3] MAIN 2026-11-02 already done",
        "[2/3] MAIN 2026-11-03 done",
        "[3/3] MAIN 2026-11-04 done",
    ]
    assert sheet(entity, NOV3)[wallet.account_no] == (D("100"), D("0"), D("20"), D("120"), 1)
    assert sheet(entity, NOV4)[wallet.account_no] == (D("120"), D("5"), D("0"), D("115"), 1)
    for day in (NOV2, NOV3, NOV4):
        assert AccountingDay.objects.get(entity=entity, date=day).status == DayStatus.CLOSED
        assert failed_checks(entity, day) == set()
    assert EodRun.objects.get(accounting_date=NOV3).triggered_by.startswith("command:")


def test_a_range_starting_after_a_missing_day_is_refused_and_names_it(missed):
    entity, _ = missed
    out, err, error = eod("--entity", "MAIN", "--from", "2026-11-04")
    assert error == "End of day not finished: MAIN 2026-11-04."
    assert "entries on 2026-11-03" in err and "--from 2026-11-03" in err
    assert not EodRun.objects.filter(accounting_date=NOV4).exists()


def test_a_failing_day_stops_the_backfill_and_retry_from_finishes_it(missed, monkeypatch):
    entity, _ = missed
    monkeypatch.setitem(services.STEPS, "checks", lambda run: 1 / 0)
    out, err, error = eod("--from", "2026-11-03", "--to", "2026-11-04")
    assert error == "End of day not finished: MAIN 2026-11-03."
    assert "MAIN 2026-11-03: failed" in out and "checks" in out and "ZeroDivisionError" in out
    assert "[2/2] MAIN 2026-11-04 not run (an earlier day did not finish)" in out
    assert not EodRun.objects.filter(accounting_date=NOV4).exists()

    monkeypatch.undo()
    out, err, error = eod("--from", "2026-11-03", "--retry-from", "checks")
    assert error is None, err
    run = EodRun.objects.get(accounting_date=NOV3)
    assert run.status == RunStatus.DONE
    assert dict(EodStep.objects.filter(run=run).values_list("name", "attempts")) == {
        "day_cut": 1,
        "flush_buffers": 1,
        "balance_sheet": 1,
        "checks": 2,
        "vouchers": 1,
        "credit_accrual": 1,
        "advance_day": 1,
    }
    out, err, error = eod("--from", "2026-11-04")
    assert error is None and "[1/1] MAIN 2026-11-04 done" in out


def test_rerun_recomputes_days_already_done(missed):
    entity, _ = missed
    out, _, _ = eod("--from", "2026-11-02", "--rerun")
    assert "[1/1] MAIN 2026-11-02 done" in out
    assert set(EodStep.objects.filter(run__accounting_date=NOV2).values_list("attempts", flat=True)) == {2}


def test_catch_up_runs_every_missing_day_up_to_the_open_one(missed):
    entity, _ = missed
    out, err, error = eod("--catch-up")
    assert error is None, err
    assert "MAIN 2026-11-03 done" in out and "MAIN 2026-11-04 done" in out
    assert open_date(entity) == NOV5
    assert not EodRun.objects.filter(accounting_date=NOV5).exists()  # the open day waits for its cut
    out, _, _ = eod("--catch-up")
    assert out.strip() == "Nothing to run."


def test_without_a_mode_the_command_says_what_it_needs():
    assert eod()[2] == "Give --from [--to], --due or --catch-up."
    assert eod("--entity", "NOPE", "--from", "2026-11-02")[2] == "Unknown entity NOPE."


def test_the_progress_bar_redraws_one_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    bar = Progress(OutputWrapper(screen), total=4, width=8)
    for n in range(4):
        bar.step(f"MAIN 2026-11-0{n + 2} done")
    text = screen.getvalue()
    assert text.count("\r") == 4 and text.count("\n") == 1 and text.endswith("\n")
    assert "\r[##------] 1/4 MAIN 2026-11-02 done" in text
    assert "\r[########] 4/4 MAIN 2026-11-05 done" in text
