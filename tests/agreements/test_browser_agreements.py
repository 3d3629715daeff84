"""In a real browser, an agreement found, read and suspended by a finance
clerk: the list filtered to active agreements, the agreement's page with its
limits, the month's use, its debit attempts (one taken, one refused at the
limit); suspended with the member's reason, after which the page offers
resume and revoke, the history says who and why, and a debit is refused.
Screenshots land in test-output/screenshots/agreement-*.png."""

from __future__ import annotations

import pytest

from postings.agreements.models import Agreement
from postings.exceptions import AgreementLimitExceeded, NoAgreement
from tests.browser import chromium, expect, log_in, screenshot
from tests.reports.reporting import staff_user

from .books import ensure_agreement_roles, sign

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_clerk_finds_an_agreement_and_suspends_it(live_server, ledger):
    ensure_agreement_roles()
    clerk = staff_user("clerk", "Finance staff").username
    m = sign(ledger, agreement_no="HB-2026-0042", max_per_debit="300.00", max_per_period="500.00")
    m.debit("300.00", "bill-11")
    with pytest.raises(AgreementLimitExceeded):
        m.debit("300.00", "bill-11b")
    base = live_server.url

    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        log_in(page, base, clerk)
        page.goto(f"{base}/agreements/")
        page.get_by_role("link", name="Active 生效", exact=False).click()
        row = page.locator(f"#a-{m.agreement.pk}")
        expect(row).to_contain_text("HB-2026-0042")
        screenshot(page, "agreement-list")
        row.get_by_role("link", name=f"A{m.agreement.pk}").click()
        expect(page.locator("#status")).to_have_text("active (生效)")
        expect(page.locator("#period")).to_contain_text("300.00 taken, 200.00 left")
        expect(page.locator("#attempts tbody tr")).to_have_count(2)
        expect(page.locator("#attempts")).to_contain_text("agreement_limit_exceeded")
        page.get_by_label("Reason (suspend)").fill("member disputes the November bill")
        page.get_by_role("button", name="Suspend 暂停").click()
        expect(page.locator(".messages")).to_contain_text("is suspended")
        expect(page.locator("#status")).to_have_text("suspended (暂停)")
        expect(page.locator("#form-suspend")).to_have_count(0)
        expect(page.locator("#form-resume")).to_have_count(1)
        expect(page.locator("#events td.reason")).to_have_text(["–", "member disputes the November bill"])
        expect(page.locator("#events")).to_contain_text("clerk")
        screenshot(page, "agreement-suspended")

    assert Agreement.objects.get(pk=m.agreement.pk).status == "suspended"
    with pytest.raises(NoAgreement):
        m.debit("10.00", "after-suspension")
