"""The balance sheet's XLSX through the one export mechanism (issue 19 §2):
a small sheet is written in the request, a large one (more rows than
EXPORT_XLSX_IN_REQUEST_ROWS) by a worker, with the export's progress page,
then downloaded; the file holds the rows the page shows, whichever way it
was written. The CSV still streams. Role by role, and one path on a real
Celery worker on Redis.

The two days of test_exports: on D, grouped by account type, CNY, the
channel clearing type closes -380.00 and the user cash type 380.00."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from celery import Celery, current_app
from django.test import override_settings
from django.urls import reverse

from reports.exporting.models import Export, ExportStatus

from .reporting import ALL_ROLES, as_role, csv_rows, expect, xlsx_rows  # noqa: F401
from .test_difference_export_worker import _follow
from .test_exports import D1, D, two_days  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db
READERS = {"Finance staff", "Auditor", "Ledger admin"}
QUERY = f"?date_from={D1.isoformat()}&date_to={D.isoformat()}&group_by=account&currency=CNY"


def xlsx_url(query: str = QUERY) -> str:
    return reverse("reports:balance_sheet_xlsx") + query


def figures(rows) -> dict:
    return {r["account_no"]: (Decimal(str(r["opening"])), Decimal(str(r["closing"]))) for r in rows}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_who_may_download_the_balance_sheet_xlsx(two_days, as_role, role):
    response = as_role(role).post(xlsx_url())
    expect(response, role, READERS)
    if role in READERS:
        assert len(xlsx_rows(response)) == 3  # small: written here, no export row
        assert not Export.objects.exists()


@pytest.mark.parametrize("role", ALL_ROLES)
def test_who_may_ask_a_worker_for_a_large_one(two_days, as_role, role, django_capture_on_commit_callbacks):
    with override_settings(EXPORT_XLSX_IN_REQUEST_ROWS=2), django_capture_on_commit_callbacks(execute=True):
        response = as_role(role).post(xlsx_url())
    if role in READERS:
        export = Export.objects.get()
        assert response.status_code == 302 and response["Location"] == reverse("reports:export", args=[export.pk])
        assert (export.kind, export.status, export.rows_done) == ("balance_sheet", ExportStatus.DONE, 3)
    else:
        expect(response, role, READERS)
        assert not Export.objects.exists()


def test_a_large_sheet_from_the_worker_holds_what_the_small_one_holds(
    two_days, as_role, django_capture_on_commit_callbacks
):
    client = as_role("Auditor")
    in_request = xlsx_rows(client.post(xlsx_url()))
    with override_settings(EXPORT_XLSX_IN_REQUEST_ROWS=2), django_capture_on_commit_callbacks(execute=True):
        asked = client.post(xlsx_url())
    page = client.get(asked["Location"])
    text = page.content.decode()
    assert "Balance sheet as XLSX" in text and "Ready: 3 rows," in text
    assert f'href="{reverse("reports:balance_sheet")}"' in text and "Back to the balance sheet" in text
    export = Export.objects.get()
    assert export.file_name == f"balance-sheet-account-{D1:%Y%m%d}-{D:%Y%m%d}.xlsx"
    from_worker = xlsx_rows(client.get(reverse("reports:export_file", args=[export.pk])))
    assert from_worker == in_request
    assert figures(from_worker)[two_days["cash"].account_no] == (Decimal("0"), Decimal("380"))
    assert from_worker[0]["date_from"].date() == D1 and from_worker[0]["date_to"].date() == D


def test_the_worker_applies_every_criterion_of_the_filter(two_days, as_role, django_capture_on_commit_callbacks):
    client = as_role("Finance staff")
    query = f"?date_from={D.isoformat()}&group_by=account_type&currency=CNY&account_type=USER_CASH"
    with override_settings(EXPORT_XLSX_IN_REQUEST_ROWS=0), django_capture_on_commit_callbacks(execute=True):
        client.post(xlsx_url(query))
    export = Export.objects.get()
    rows = xlsx_rows(client.get(reverse("reports:export_file", args=[export.pk])))
    assert [(r["account_type"], Decimal(str(r["closing"])), r["accounts"]) for r in rows] == [
        ("USER_CASH", Decimal("380"), 1)
    ]
    assert export.criteria["group_by"] == "account_type" and export.criteria["account_type"] == "USER_CASH"


def test_an_export_is_its_requesters_only_while_they_may_read_the_sheet(
    two_days, as_role, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Group, User

    owner = as_role("Finance staff")
    with override_settings(EXPORT_XLSX_IN_REQUEST_ROWS=0), django_capture_on_commit_callbacks(execute=True):
        url = owner.post(xlsx_url())["Location"]
    other = as_role("Auditor")
    assert other.get(url).status_code == 404 and other.get(url + "file/").status_code == 404
    # The requester moved to a role that does not read balance sheets.
    user = User.objects.get(pk=Export.objects.get().requested_by_id)
    user.groups.set([Group.objects.get(name="Cashier")])
    assert owner.get(url).status_code == 403 and owner.get(url + "file/").status_code == 403


def test_a_bad_filter_is_said_and_nothing_is_exported(two_days, as_role):
    response = as_role("Finance staff").post(
        xlsx_url(f"?date_from={D.isoformat()}&date_to={D1.isoformat()}"), follow=True
    )
    assert "Fix the filter before exporting." in response.content.decode()
    assert response.redirect_chain[-1][0].startswith(reverse("reports:balance_sheet"))
    assert not Export.objects.exists()


def test_the_xlsx_is_asked_for_by_a_form_and_the_csv_still_streams(two_days, as_role):
    client = as_role("Finance staff")
    assert client.get(xlsx_url()).status_code == 405
    page = client.get(reverse("reports:balance_sheet"), {"date_from": D.isoformat()}).content.decode()
    assert f'<form method="post" class="inline" action="{reverse("reports:balance_sheet_xlsx")}?' in page
    with override_settings(EXPORT_XLSX_IN_REQUEST_ROWS=0):
        csv = client.get(reverse("reports:balance_sheet_csv") + QUERY)
    assert csv.streaming
    assert len(csv_rows(csv)) == 3
    assert not Export.objects.exists()


# ------------------------------------------------------- a real worker ----


@contextlib.contextmanager
def queueing_to(run, redis_url):
    """This process queues as a web process with a broker does: to the worker's queue on Redis."""
    web = Celery("test-web", broker=redis_url, set_as_current=False)
    web.conf.task_default_queue = run.queue
    before = current_app._get_current_object()
    web.set_current()
    try:
        yield
    finally:
        before.set_current()
        web.close()


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_redis_writes_a_large_balance_sheet(two_days, as_role, celery_worker_on_redis, redis_url):
    run = celery_worker_on_redis
    client = as_role("Finance staff")
    with override_settings(EXPORT_XLSX_IN_REQUEST_ROWS=2), queueing_to(run, redis_url):
        asked = client.post(xlsx_url())
    export = Export.objects.get()
    assert asked["Location"] == reverse("reports:export", args=[export.pk])

    page = _follow(client, asked["Location"])
    assert 'id="export-ready"' in page and "Ready: 3 rows," in page
    export.refresh_from_db()
    assert (export.kind, export.status, export.rows_total) == ("balance_sheet", ExportStatus.DONE, 3)
    rows = xlsx_rows(client.get(reverse("reports:export_file", args=[export.pk])))
    assert figures(rows) == {
        two_days["cash"].account_no: (Decimal("0"), Decimal("380")),
        two_days["bob"].account_no: (Decimal("0"), Decimal("40")),
        two_days["channel"].account_no: (Decimal("0"), Decimal("-380")),
    }
    # The name differences exports were queued under still runs (outbox rows from before the rename).
    assert run("reports.tasks.difference_export_run", export.pk) == {"status": "done", "rows": 3}


# ------------------------------------------------------------ the browser ----


@pytest.mark.django_db(transaction=True)
def test_a_large_balance_sheet_in_the_browser_from_the_button_to_the_file(two_days, live_server):
    import io

    from openpyxl import load_workbook

    from tests.browser import chromium, log_in, screenshot
    from tests.browser import expect as shows

    from .reporting import ensure_report_roles, staff_user

    ensure_report_roles()
    staff_user("finance_x", "Finance staff")
    # No broker here: written after the request's commit, so the page offers it at once.
    with override_settings(EXPORT_XLSX_IN_REQUEST_ROWS=2), chromium() as browser:
        page = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True).new_page()
        log_in(page, live_server.url, "finance_x")
        page.goto(f"{live_server.url}{reverse('reports:balance_sheet')}{QUERY}")
        page.get_by_role("button", name="Download XLSX").click()
        shows(page.locator("h1")).to_contain_text("Balance sheet as XLSX")
        shows(page.locator("#export-ready")).to_contain_text("Ready: 3 rows")
        shows(page.locator("nav.subnav a.active")).to_contain_text("Balance sheet")
        screenshot(page, "balance-sheet-export-ready")
        with page.expect_download() as download:
            page.locator("#export-download").click()
        assert download.value.suggested_filename == f"balance-sheet-account-{D1:%Y%m%d}-{D:%Y%m%d}.xlsx"
        with open(download.value.path(), "rb") as file:
            sheet = load_workbook(io.BytesIO(file.read()), read_only=True).worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
    account_no = rows[0].index("account_no")
    assert sorted(r[account_no] for r in rows[1:]) == sorted(two_days[k].account_no for k in ("cash", "bob", "channel"))
