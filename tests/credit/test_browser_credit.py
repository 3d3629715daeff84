"""In a real browser, a finance clerk works the overdue list: finds the
member three days late, opens the credit line, lowers its limit below what
is used (the page warns that the line takes no new purchase), reads the
bill with the day's accruals (and its PDF), and downloads the overdue list as CSV. The
pages fit a desk and a phone. Screenshots land in
test-output/screenshots/credit-*.png."""

from __future__ import annotations

from datetime import date

import pytest

from accounts.models import Account, CreditLimitChange
from tests import pdftext
from tests.browser import chromium, expect, log_in, screenshot
from tests.reports.reporting import staff_user

from .books import bills_of, buy, ensure_credit_roles, member, open_on, product, run_until

pytestmark = pytest.mark.django_db(transaction=True)

FITS = "document.documentElement.scrollWidth <= window.innerWidth"


def test_a_clerk_works_the_overdue_list(live_server, ledger):
    ensure_credit_roles()
    clerk = staff_user("clerk", "Finance staff").username
    auditor = staff_user("auditor", "Auditor").username
    open_on(ledger.entity, date(2026, 1, 1))
    product(ledger)
    late = member(ledger)
    buy(late, "1000.00")
    run_until(ledger.entity, date(2026, 2, 13))
    (bill,) = bills_of(late.credit)
    line_no = late.credit.account_no
    base = live_server.url

    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True).new_page()
        log_in(page, base, clerk)
        page.goto(f"{base}/postings/credit/bills/")
        page.get_by_role("link", name="Overdue 逾期").click()
        row = page.locator(f"#o-{line_no}")
        expect(row.locator("td.days")).to_have_text("3")
        expect(row).to_contain_text("1,001.59")
        screenshot(page, "credit-overdue")
        with page.expect_download() as download:
            page.locator("#overdue-csv").click()
        text = open(download.value.path(), encoding="utf-8").read()
        assert line_no in text and "1000.00,100.00,1.50,0.09,1001.59" in text

        row.get_by_role("link", name=line_no).click()
        expect(page.locator("#owed")).to_contain_text("1,001.59")
        page.get_by_label("New limit").fill("800")
        page.get_by_label("Reason").fill("risk review: 3 days overdue")
        page.get_by_role("button", name="Change the limit").click()
        expect(page.locator(".messages")).to_contain_text("takes no new purchase")
        expect(page.locator("#available")).to_contain_text("-201.59")
        expect(page.locator("#limit-history tbody tr")).to_have_count(1)
        expect(page.locator("#limit-history")).to_contain_text("risk review")
        screenshot(page, "credit-line")

        page.get_by_role("link", name=bill.bill_no).first.click()
        expect(page.locator("#amount-due")).to_contain_text("1,000.00")
        expect(page.locator("#minimum-due")).to_contain_text("100.00")
        expect(page.locator("#due-date")).to_have_text("2026-02-10")
        charged = page.locator("#charged tbody tr")
        expect(charged).to_have_count(6)  # the 11th, 12th and 13th: interest 0.50 and penalty 0.03 each
        expect(charged.first).to_contain_text("2026-02-11")
        expect(charged.first).to_contain_text("0.50")
        screenshot(page, "credit-bill")
        with page.expect_download() as download:
            page.locator("#bill-pdf").click()
        assert download.value.suggested_filename.startswith(f"bill-B{bill.pk}-")
        on_paper = pdftext.squeezed(open(download.value.path(), "rb").read())
        assert "Due date 还款日 2026-02-10" in on_paper and "Amount due 应还金额 CNY 1,000.00" in on_paper

        for width in (1440, 390):
            page.set_viewport_size({"width": width, "height": 900})
            for path in (
                "/postings/credit/bills/",
                "/postings/credit/overdue/",
                f"/postings/credit/lines/{line_no}/",
                f"/postings/credit/bills/{bill.pk}/",
            ):
                page.goto(base + path)
                assert page.evaluate(FITS), (width, path)
                screenshot(page, f"credit-{width}-{path.strip('/').replace('/', '-')}")

        reader = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        log_in(reader, base, auditor)
        reader.goto(f"{base}/postings/credit/lines/{line_no}/")
        expect(reader.locator("#limit-form")).to_have_count(0)
        expect(reader.locator("body")).to_contain_text("Finance staff change the limit")

    assert Account.objects.get(pk=late.credit.pk).credit_limit == 800
    assert CreditLimitChange.objects.get().changed_by == "clerk"
