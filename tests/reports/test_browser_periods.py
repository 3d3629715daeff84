"""In a real browser, one finance clerk proposes closing November and a
second one approves it: the carry-forward is posted, the month shows closed,
its trial balance leaves income and expense at zero. Screenshots:
test-output/screenshots/periods-*.png."""

from __future__ import annotations

import pytest

from postings.models import AccountingCalendar
from tests.browser import chromium, expect, log_in, screenshot

from .reporting import staff_user
from .test_period_close import NOV30, close_days  # noqa: F401
from .test_period_close import november as november  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clerks(transactional_db):
    from .reporting import ensure_report_roles

    ensure_report_roles()
    return staff_user("maker", "Finance staff"), staff_user("checker", "Finance staff")


def test_a_month_close_proposed_by_one_clerk_and_approved_by_another(live_server, ledger, november, clerks):
    base = live_server.url
    with chromium() as browser:
        maker = browser.new_page(viewport={"width": 1440, "height": 900})
        log_in(maker, base, "maker")
        maker.goto(f"{base}/reports/periods/")
        maker.fill("#propose-close #id_period", "2026-11")
        maker.select_option("#propose-close #id_kind", "month")
        maker.get_by_role("button", name="Propose closing").click()
        expect(maker.locator("ul.messages")).to_contain_text("Closing 2026-11 is proposed")
        expect(maker.locator("#periods")).to_contain_text("closing (结账待复核)")
        expect(maker.locator("#periods")).to_contain_text("awaiting another person's approval")
        expect(maker.get_by_role("button", name="Approve close")).to_have_count(0)
        screenshot(maker, "periods-01-proposed")

        checker = browser.new_context().new_page()
        log_in(checker, base, "checker")
        checker.goto(f"{base}/reports/periods/")
        checker.get_by_role("button", name="Approve close").click()
        expect(checker.locator("ul.messages")).to_contain_text("2026-11 is closed")
        expect(checker.locator("#periods")).to_contain_text("checker")
        screenshot(checker, "periods-02-closed")

        checker.get_by_role("link", name="2026-11").click()
        expect(checker.locator("#subject-6051-CNY")).to_contain_text("2.00")
        expect(checker.locator("#subject-6051-CNY td").last).to_have_text("0.00")
        expect(checker.locator("#subject-6601-CNY td").last).to_have_text("0.00")
        expect(checker.locator("#subject-4103-CNY td").last).to_have_text("8.00")
        expect(checker.locator("#total-CNY")).to_have_class("total ok")
        screenshot(checker, "periods-03-trial-balance")
    assert AccountingCalendar.objects.get(entity=ledger.entity).closed_through == NOV30
