"""In a real browser, a finance clerk finds a member's October statement on
the monthly statements page by the member's name and month and downloads
the PDF, which is the stored one and reads as the ledger's figures; on a
posting's page the electronic receipt downloads with the code the page
shows, and the receipt lookup tells a genuine code from an altered one.
Screenshots land in test-output/screenshots/statements-*.png."""

from __future__ import annotations

import hashlib

import pytest

from postings.documents import receipt_code
from postings.models import Entry, MonthlyStatement, Posting
from postings.services.statements import monthly_statements_generate
from tests import pdftext
from tests.browser import chromium, expect, log_in, screenshot
from tests.reports.reporting import staff_user

from .statement_books import OCTOBER, ensure_statement_roles, october_books

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_clerk_finds_and_downloads_a_members_statement_and_a_receipt(live_server, ledger):
    ensure_statement_roles()
    books = october_books(ledger)
    monthly_statements_generate(month=OCTOBER)
    stored = MonthlyStatement.objects.get(account=books.alice)
    clerk = staff_user("clerk", "Finance staff").username
    transfer = Posting.objects.get(request_no="sb-alice-bob")
    code = receipt_code(transfer)
    base = live_server.url

    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True).new_page()
        log_in(page, base, clerk)
        page.goto(f"{base}/postings/refunds/")
        page.get_by_role("link", name="Statements", exact=True).click()
        expect(page.locator("#statements tbody tr")).to_have_count(3)
        page.get_by_label("Member (no. or name)").fill("张三")
        page.get_by_label("Month").fill("2026-10")
        page.get_by_role("button", name="Filter").click()
        rows = page.locator("#statements tbody tr")
        expect(rows).to_have_count(1)
        expect(rows).to_contain_text("Alice 张三")
        expect(rows).to_contain_text("90.50")
        screenshot(page, "statements-list")
        with page.expect_download() as download:
            rows.get_by_role("link", name="Download PDF").click()
        assert download.value.suggested_filename == f"statement-{books.alice.account_no}-2026-10.pdf"
        with open(download.value.path(), "rb") as file:
            pdf = file.read()

        page.goto(f"{base}/postings/{transfer.serial_no}/")
        expect(page.locator("#receipt-code")).to_have_text(code)
        with page.expect_download() as receipt_download:
            page.get_by_role("link", name="Electronic receipt 电子回单 (PDF)").click()
        assert receipt_download.value.suggested_filename == f"receipt-P{transfer.serial_no}.pdf"
        with open(receipt_download.value.path(), "rb") as file:
            receipt = file.read()

        page.get_by_role("link", name="Verify a receipt 回单验证").click()
        page.get_by_label("Receipt no. (posting P…)").fill(str(transfer.serial_no))
        page.get_by_label("Verification code").fill(code)
        page.get_by_role("button", name="Verify").click()
        expect(page.locator("#verdict")).to_contain_text("genuine 验证通过")
        screenshot(page, "statements-receipt-verified")
        page.get_by_label("Verification code").fill(code[:-1] + ("0" if code[-1] != "0" else "1"))
        page.get_by_role("button", name="Verify").click()
        expect(page.locator("#verdict")).to_contain_text("not genuine 验证未通过")

    assert hashlib.sha256(pdf).hexdigest() == stored.sha256
    paper = pdftext.statement(pdf)
    assert (
        (paper.opening, paper.closing)
        == (stored.opening, stored.closing)
        == (books.expected["alice"][0], books.expected["alice"][3])
    )
    assert [line[0] for line in paper.lines] == list(
        Entry.objects.filter(account=books.alice, accounting_date__month=10)
        .order_by("account_seq")
        .values_list("serial_no", flat=True)
    )
    text = pdftext.squeezed(receipt)
    assert f"Receipt no. 回单编号 P{transfer.serial_no}" in text and f"Verification code 验证码 {code}" in text
    assert "CNY 30.00" in text and books.bob.account_no in text
