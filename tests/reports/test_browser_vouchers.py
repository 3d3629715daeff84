"""In a real browser, finance sends the day's vouchers to the GL and records
its answer: the vouchers list (drafts), the export in the Kingdee layout,
the file downloaded and checked, the GL's answer uploaded, previewed and
confirmed, the voucher showing the GL's number, and down from it to a line
and the line's entries. Screenshots: test-output/screenshots/vouchers-*.png."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from reports.vouchers.models import Voucher
from tests.browser import chromium, expect, log_in, screenshot

from .reporting import ensure_report_roles, make_books, staff_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_finance_exports_the_vouchers_and_records_the_gls_answer(live_server, ledger):
    ensure_report_roles()
    finance = staff_user("finance", "Finance staff").username
    books = make_books(ledger)
    vouchers = books.vouchers_from_entries()  # recharge, transfer: two drafts
    numbers = [v.voucher_no for v in vouchers]
    answer = "\ufeffvoucher_no,gl_voucher_no\n" + "".join(f"{no},记-{70 + i}\n" for i, no in enumerate(numbers))
    base = live_server.url

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        log_in(page, base, finance)
        page.goto(f"{base}/reports/vouchers/")
        expect(page.locator("#vouchers tbody tr")).to_have_count(2)
        expect(page.locator("#vouchers")).to_contain_text("draft")
        expect(page.locator("#voucher-totals")).to_contain_text("balanced")
        screenshot(page, "vouchers-01-drafts")

        page.click("#export-vouchers")
        expect(page.locator("#pending-days")).to_contain_text(books.day.isoformat())
        page.select_option("#id_format", "kingdee")
        page.get_by_role("button", name="Export the draft vouchers").click()
        expect(page.locator("h1")).to_contain_text("Voucher export #")
        expect(page.locator("#export-vouchers li")).to_have_count(2)
        checksum = page.locator("#export-data-sha").inner_text().strip()
        screenshot(page, "vouchers-02-exported")
        with page.expect_download() as download:
            page.click("#export-download")
        content = open(download.value.path(), "rb").read()
        workbook = load_workbook(io.BytesIO(content), read_only=True)
        sheet = {r[0]: r[1] for r in workbook["checksum"].iter_rows(values_only=True)}
        assert sheet["sha256"] == checksum
        heads = [r[0] for r in workbook["GL_VOUCHER"].iter_rows(min_row=3, values_only=True) if r[0]]
        assert heads == numbers

        # Exported: nothing left to export.
        page.goto(f"{base}/reports/vouchers/export/")
        page.get_by_role("button", name="Export the draft vouchers").click()
        expect(page.locator("#export-errors")).to_contain_text("No draft voucher")

        page.goto(f"{base}/reports/vouchers/")
        page.click("#acknowledge-vouchers")
        page.set_input_files(
            "#id_file", files=[{"name": "gl-answer.csv", "mimeType": "text/csv", "buffer": answer.encode()}]
        )
        page.get_by_role("button", name="Read and preview").click()
        expect(page.locator("#preview-new")).to_have_text("2")
        expect(page.locator("#preview-ack-rows")).to_contain_text("记-70")
        screenshot(page, "vouchers-03-answer-preview")
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("ul.messages")).to_contain_text("2 vouchers now carry the GL's number")
        expect(page.locator("#vouchers")).to_contain_text("记-71")

        page.get_by_role("link", name=numbers[0]).click()
        expect(page.locator("#gl-voucher-no")).to_contain_text("记-70")
        expect(page.locator("#voucher-status")).to_contain_text("acknowledged")
        expect(page.locator("#voucher-ack")).to_have_count(0)  # nothing left to record
        screenshot(page, "vouchers-04-acknowledged")
        page.locator("#voucher-lines tbody tr").first.get_by_role("link").first.click()
        expect(page.locator("#voucher-check")).to_contain_text("yes")
        expect(page.locator("table").last).to_contain_text(books.channel.account_no)
        screenshot(page, "vouchers-05-line-entries")

    assert sorted(Voucher.objects.values_list("status", "gl_voucher_no")) == [
        ("acknowledged", "记-70"),
        ("acknowledged", "记-71"),
    ]
