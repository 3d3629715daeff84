"""In a real browser, a red-ink correction with maker-checker: a finance
clerk opens a recharge booked to the wrong member for the wrong amount,
corrects its legs on the posting's page, is told a second person must
approve and sees no approve button; a colleague finds it in the queue and
approves it; the red and blue postings are booked and the original's page
names the correction. Screenshots land in test-output/screenshots/correction-*.png."""

from __future__ import annotations

from decimal import Decimal

import pytest

from postings.models import Correction, CorrectionStatus
from postings.selectors import identity_totals
from tests.browser import chromium, expect, log_in, screenshot
from tests.reports.reporting import staff_user

from .test_corrections import ensure_correction_roles

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_correction_proposed_by_one_and_approved_by_another(live_server, ledger):
    ensure_correction_roles()
    maker = staff_user("maker", "Finance staff").username
    checker = staff_user("checker", "Finance staff").username
    alice, bob = ledger.cash(ledger.member("Alice")), ledger.cash(ledger.member("Bob"))
    wrong = ledger.recharge(alice, "100.00", request_no="slip-1")
    channel = ledger.channel()
    base = live_server.url

    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        log_in(page, base, maker)
        page.goto(f"{base}/postings/{wrong.serial_no}/")
        legs = page.locator("#correction_legs")
        expect(legs).to_have_value(f"{channel.account_no} D 100\n{alice.account_no} C 100")
        legs.fill(f"{channel.account_no} D 80.00\n{bob.account_no} C 80.00")
        page.fill("#correction_reason", "bank slip: 80.00 for Bob")
        page.get_by_role("button", name="Propose correction").click()
        expect(page.locator(".messages")).to_contain_text("nothing moves until a second person approves it")
        expect(page.locator("#status")).to_have_text("proposed (待复核)")
        expect(page.get_by_role("button", name="Approve and book")).to_have_count(0)  # not for the proposer
        screenshot(page, "correction-proposed")

        second = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        log_in(second, base, checker)
        second.goto(f"{base}/postings/corrections/")
        row = second.locator("#corrections tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("bank slip: 80.00 for Bob")
        row.get_by_role("link", name="C", exact=False).first.click()
        expect(second.locator("#corrected-legs")).to_contain_text(bob.account_no)
        second.get_by_label("Note").fill("matches the slip")
        second.get_by_role("button", name="Approve and book").click()
        expect(second.locator(".messages")).to_contain_text("booked: red P")
        expect(second.locator("#status")).to_have_text("booked (已红冲更正)")
        screenshot(second, "correction-booked")

        second.locator("#red").click()
        expect(second.locator("#posting")).to_contain_text("red ink (红字) of")
        second.goto(f"{base}/postings/{wrong.serial_no}/")
        expect(second.locator("#correction-action")).to_contain_text("booked")
        expect(second.locator("#correction-form")).to_have_count(0)
        screenshot(second, "correction-original")

    c = Correction.objects.get()
    assert (c.status, c.proposed_by.username, c.decided_by.username) == (CorrectionStatus.BOOKED, maker, checker)
    assert ledger.balance(alice) == Decimal("0.00")
    assert ledger.balance(bob) == Decimal("80.00")
    assert all(t.holds for t in identity_totals())
