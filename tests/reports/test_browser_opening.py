"""In a real browser, finance brings a company's books to the ledger
(期初建账): uploads the file, reads the preview (the identity per entity
and currency, every subject against the GL), confirms, and lands on the
import with its opening postings. A broken file is shown with its row and
column first. Screenshots: test-output/screenshots/opening-*.png."""

from __future__ import annotations

import re

import pytest

from accounts.models import Account
from postings.models import Hold
from reports.opening.models import OpeningAccount, OpeningImport
from tests.browser import chromium, expect, log_in, screenshot

from .eod_books import open_books_on
from .reporting import ensure_report_roles, staff_user
from .test_opening import D, csv_bytes, gl, good_rows

pytestmark = pytest.mark.django_db(transaction=True)


def test_finance_uploads_previews_and_confirms_the_opening_balances(live_server, ledger):
    ensure_report_roles()
    open_books_on(ledger.entity, D)
    finance = staff_user("finance", "Finance staff").username
    broken = good_rows()
    broken[7] = gl("2241", "790.00")
    base = live_server.url

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        log_in(page, base, finance)
        page.goto(f"{base}/reports/opening/upload/")
        page.fill("#id_accounting_date", D.isoformat())
        page.set_input_files(
            "#id_file", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": csv_bytes(broken)}]
        )
        page.get_by_role("button", name="Read and preview").click()
        expect(page.locator("#opening-problems")).to_contain_text(
            "row 9, column balance: the GL says 790.00 for MAIN CNY 2241; the accounts add up to 800.00"
        )
        screenshot(page, "opening-01-refused")

        page.fill("#id_accounting_date", D.isoformat())
        page.set_input_files(
            "#id_file", files=[{"name": "opening.csv", "mimeType": "text/csv", "buffer": csv_bytes(good_rows())}]
        )
        page.get_by_role("button", name="Read and preview").click()
        expect(page).to_have_url(re.compile(r"/reports/opening/upload/\d+/$"))
        expect(page.locator("#preview-accounts")).to_have_text("7")
        expect(page.locator("#preview-holds")).to_have_text("2")
        expect(page.locator("#preview-totals tbody tr")).to_have_count(2)
        expect(page.locator("#preview-subjects tbody tr")).to_have_count(6)
        screenshot(page, "opening-02-preview")

        page.get_by_role("button", name="Confirm import").click()
        expect(page).to_have_url(re.compile(r"/reports/opening/\d+/$"))
        expect(page.locator("#result-accounts")).to_have_text("7")
        expect(page.locator("#result-postings tbody tr")).to_have_count(2)
        expect(page.locator("#result-postings")).to_contain_text(D.isoformat())
        screenshot(page, "opening-03-imported")

    record = OpeningImport.objects.get()
    assert (record.account_count, record.hold_count, record.file_name) == (7, 2, "opening.csv")
    assert Hold.objects.count() == 2
    assert Account.objects.get(pk=OpeningAccount.objects.get(account_ref="A-001").account_id).balance == 500
