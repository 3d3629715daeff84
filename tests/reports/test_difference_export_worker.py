"""The differences spreadsheet written by a real Celery worker on Redis: the
page asks for it (through the task outbox and the broker), the export's
page shows its progress and then offers the file, which holds the filtered
differences. And the export's page for each state, in-process."""

from __future__ import annotations

import time

import pytest
from celery import Celery, current_app
from django.urls import reverse

from reports.channel.models import DifferenceExport, ExportStatus

from .reporting import xlsx_rows
from .test_recon_pages import Day

pytestmark = pytest.mark.django_db(transaction=True)


def _follow(client, url: str, deadline_seconds: float = 90) -> str:
    """The export's page, reloaded as the browser does, until it stops reloading."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        page = client.get(url).content.decode()
        if 'http-equiv="refresh"' not in page or time.monotonic() > deadline:
            return page
        time.sleep(0.5)


@pytest.mark.celery_worker
def test_the_worker_writes_the_spreadsheet_and_the_page_offers_it(ledger, celery_worker_on_redis, redis_url):
    run = celery_worker_on_redis
    day = Day(ledger)
    client, _ = day.client("finance")
    # This process queues as a web process with a broker does: to the worker's queue on Redis.
    web = Celery("test-web", broker=redis_url, set_as_current=False)
    web.conf.task_default_queue = run.queue
    before = current_app._get_current_object()
    web.set_current()
    try:
        asked = client.post(reverse("reports:recon_differences_xlsx") + "?outcome=amount_mismatch&status=")
    finally:
        before.set_current()
        web.close()
    export = DifferenceExport.objects.get()
    assert asked["Location"] == reverse("reports:recon_export", args=[export.pk])

    page = _follow(client, asked["Location"])
    assert 'id="export-ready"' in page and "Ready: 1 difference," in page
    export.refresh_from_db()
    assert (export.status, export.rows_total, export.rows_done) == (ExportStatus.DONE, 1, 1)
    rows = xlsx_rows(client.get(reverse("reports:recon_export_file", args=[export.pk])))
    assert [(r["serial_no"], r["outcome"], r["difference_amount"]) for r in rows] == [
        ("E", "amount_mismatch", 5),
    ]
    # Delivered again (the outbox's sweep, a redelivery): the file stands, nothing is written twice.
    assert run("reports.tasks.difference_export_run", export.pk) == {"status": "done", "rows": 1}


def test_the_export_page_in_each_state(ledger):
    day = Day(ledger)
    client, user = day.client("finance")
    export = DifferenceExport.objects.create(requested_by=user, criteria={}, file_name="differences-all.xlsx")
    url = reverse("reports:recon_export", args=[export.pk])

    queued = client.get(url).content.decode()
    assert "waiting for a worker" in queued and 'http-equiv="refresh"' in queued
    assert client.get(url + "file/")["Location"] == url  # nothing to download yet: back to the bar

    DifferenceExport.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING, rows_total=3000, rows_done=1000)
    running = client.get(url).content.decode()
    assert 'value="33"' in running and "1000 of 3000 rows" in running and 'http-equiv="refresh"' in running

    DifferenceExport.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED, error="OperationalError: gone")
    failed = client.get(url).content.decode()
    assert "The export failed: OperationalError: gone" in failed and "refresh" not in failed


def test_an_export_left_for_a_day_is_dropped_at_the_next_request(ledger):
    from datetime import timedelta

    from django.utils import timezone

    from reports.channel.exporting import difference_export_request

    day = Day(ledger)
    _, user = day.client("finance")
    old = DifferenceExport.objects.create(requested_by=user, criteria={}, file_name="old.xlsx")
    DifferenceExport.objects.filter(pk=old.pk).update(requested_at=timezone.now() - timedelta(days=2))
    fresh = difference_export_request(user=user, criteria={"status": "unresolved"}, file_name="new.xlsx")
    assert list(DifferenceExport.objects.values_list("pk", flat=True)) == [fresh.pk]
    fresh.refresh_from_db()
    assert fresh.status == ExportStatus.DONE and fresh.rows_done == 3  # no broker: written after the commit
