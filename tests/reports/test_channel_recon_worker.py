"""The matching as a Celery task on a real worker (Redis): the summary comes
back, and a second delivery changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reports.channel.importing import statement_import
from reports.channel.models import Difference, ReconRun
from reports.tasks import channel_recon_run

from .eod_books import open_books_on
from .recon_books import epay_file, recharge, sample_channel

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_the_matching_runs_on_the_worker(ledger, celery_worker_on_redis):
    run = celery_worker_on_redis
    day = timezone.localdate() - timedelta(days=1)
    open_books_on(ledger.entity, day)
    channel = sample_channel("epaysim", clearing=ledger.channel())
    channel.pending_window_minutes = 0
    channel.save()
    wallet = ledger.cash()
    recharge(ledger, wallet, "100.00", "W1")
    recharge(ledger, wallet, "40.00", "W2")
    statement_import(
        channel=channel,
        statement_date=day,
        file_name="w.csv",
        imported_by="finance",
        content=epay_file(day, [("W1", "100.00", "0.38"), ("W3", "5.00", "0.02")]),
    )

    result = run("reports.tasks.channel_recon_run", "epaysim", day.isoformat())
    assert result["matched_count"] == 1 and result["long_count"] == 1 and result["pending_count"] == 1
    assert (result["channel_in"], result["ledger_in"], result["fee_charged"]) == ("105.00", "140.00", "0.40")
    assert run("reports.tasks.channel_recon_run", "epaysim", day.isoformat()) == result
    assert Difference.objects.count() == 2
    assert ReconRun.objects.get(channel=channel, recon_date=day).runs == 2
    assert ReconRun.objects.get().last_run_by == "system:channel-recon-task"


@pytest.mark.django_db
def test_the_task_in_process(ledger):
    day = timezone.localdate() - timedelta(days=1)
    open_books_on(ledger.entity, day)
    channel = sample_channel("epaysim", clearing=ledger.channel())
    statement_import(
        channel=channel, statement_date=day, file_name="p.csv", imported_by="finance", content=epay_file(day, [])
    )
    assert channel_recon_run.delay("epaysim", day.isoformat()).get()["channel_count"] == 0
