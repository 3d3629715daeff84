"""The end of day through a real Celery worker on Redis: a day run by name,
and the beat job, which decides by itself which cut is due."""

from datetime import time, timedelta

import pytest
from django.utils import timezone

from postings.models import AccountingDay, DayStatus
from reports.eod.models import EodRun, RunStatus
from reports.tasks import eod_run_day
from reports.vouchers.models import Voucher

from .eod_books import D, failed_checks, open_books_on, open_date, post, report_rows, sheet

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_the_end_of_day_on_the_worker(ledger, celery_worker_on_redis):
    run = celery_worker_on_redis
    # The worker decides by its own wall clock (it cannot travel) which cut is
    # due. So the cut time is put 12 hours from now: day2's cut was 12 hours
    # ago, the open day's ("today") is in 12 hours, and no run of this test
    # straddles one (a midnight cut did, near midnight: both days were cut).
    last_cut = timezone.localtime() - timedelta(hours=12)
    cut_time = last_cut.time().replace(second=0, microsecond=0)
    day2 = last_cut.date() if cut_time >= time(12) else last_cut.date() - timedelta(days=1)
    day1, today = day2 - timedelta(days=1), day2 + timedelta(days=1)
    open_books_on(ledger.entity, day1, cut_time)  # day1 and day2 are both past their cut
    wallet, channel = ledger.cash(), ledger.channel()
    post("recharge", member_account=wallet, channel_account=channel, amount="250")

    assert run("reports.tasks.eod_run_day", "MAIN", day1.isoformat()) == RunStatus.DONE
    assert sheet(ledger.entity, day1)[wallet.account_no] == (D("0"), D("0"), D("250"), D("250"), 1)
    assert failed_checks(ledger.entity, day1) == set()
    rows = report_rows(ledger.entity, day1)
    # The day's one balanced voucher, built on the worker.
    (voucher,) = Voucher.objects.filter(entity=ledger.entity, accounting_date=day1)
    assert [(ln.subject_code, ln.direction, ln.amount) for ln in voucher.lines.order_by("line_no")] == [
        ("1002", "D", D("250")),
        ("2241", "C", D("250")),
    ]
    # Delivered again: recomputed, the same rows, the same voucher (not a second one).
    assert run("reports.tasks.eod_run_day", "MAIN", day1.isoformat()) == RunStatus.DONE
    assert report_rows(ledger.entity, day1) == rows
    assert list(Voucher.objects.filter(entity=ledger.entity, accounting_date=day1)) == [voucher]

    post("transfer", payer_account=wallet, payee_account=ledger.cash(), amount="50")  # on day2, the open day
    # The beat: day2's cut (12 hours ago) has passed, so it is cut and closed; today stays open.
    assert run("reports.tasks.eod_run_due") == [f"MAIN {day2} done"]
    assert open_date(ledger.entity) == today
    assert AccountingDay.objects.get(entity=ledger.entity, date=day2).status == DayStatus.CLOSED
    assert sheet(ledger.entity, day2)[wallet.account_no] == (D("250"), D("50"), D("0"), D("200"), 1)
    assert failed_checks(ledger.entity, day2) == set()
    assert run("reports.tasks.eod_run_due") == []  # the next beat: nothing due
    assert EodRun.objects.filter(status=RunStatus.DONE).count() == 2


@pytest.mark.django_db
def test_the_day_task_in_process(ledger):
    today = timezone.localdate()
    open_books_on(ledger.entity, today - timedelta(days=1))
    wallet, channel = ledger.cash(), ledger.channel()
    post("recharge", member_account=wallet, channel_account=channel, amount="10")
    assert eod_run_day.delay("MAIN", (today - timedelta(days=1)).isoformat()).get() == RunStatus.DONE
