"""In a real browser, a large refund with maker-checker: a finance clerk opens
the payment's page, refunds 60.00 of it (above the 50.00 approval amount), is
told it waits for a second person and cannot approve it; a colleague finds it
in the approval queue, reads every leg's share and approves it; the refund is
posted and the payment's page shows every leg's refunded-so-far.
Screenshots land in test-output/screenshots/refund-*.png."""

from __future__ import annotations

from decimal import Decimal

import pytest

from postings.models import Refund, RefundPolicy, RefundStatus
from postings.selectors import identity_totals, refunded_legs
from tests.browser import chromium, expect, log_in, screenshot
from tests.reports.reporting import staff_user

from .refund_books import ensure_refund_roles, payment_with_fee_and_share

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.real_clock  # PostgreSQL stamps the payment, and the refund window is read against it
def test_a_large_refund_proposed_by_one_and_approved_by_another(live_server, ledger):
    ensure_refund_roles()
    maker = staff_user("maker", "Finance staff").username
    checker = staff_user("checker", "Finance staff").username
    payment = payment_with_fee_and_share(ledger)
    RefundPolicy.objects.create(business_type="transfer", approval_above=Decimal("50.00"))
    alice = payment.accounts["alice"]
    base = live_server.url

    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        log_in(page, base, maker)
        page.goto(f"{base}/postings/{payment.serial_no}/")
        expect(page.locator("#left")).to_have_text("100.00")
        page.fill("#id_amount", "60.00")
        page.fill("#id_reason", "two of three items returned")
        page.get_by_role("button", name="Refund").click()
        expect(page.locator(".messages")).to_contain_text("waits for a second person")
        expect(page.locator("#status")).to_have_text("awaiting approval (待复核)")
        expect(page.get_by_role("button", name="Approve and post")).to_have_count(0)  # not for the proposer
        screenshot(page, "refund-proposed")

        second = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        log_in(second, base, checker)
        second.goto(f"{base}/postings/refunds/approvals/")
        row = second.locator("#approval-queue tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("large")
        row.get_by_role("link", name="R", exact=False).first.click()
        second.get_by_label("Approval note").fill("matches the return slip")
        second.get_by_role("button", name="Approve and post").click()
        expect(second.locator(".messages")).to_contain_text("approved and posted")
        expect(second.locator("#status")).to_have_text("refunded (已退款)")
        expect(second.locator("#decided-by")).to_contain_text(checker)
        screenshot(second, "refund-approved")

        second.goto(f"{base}/postings/{payment.serial_no}/")
        expect(second.locator("#left")).to_have_text("40.00")
        expect(second.locator("td.refunded")).to_have_text(["60.00", "58.20", "1.20", "0.60"])
        screenshot(second, "refund-posting-page")

    refund = Refund.objects.get()
    assert (refund.status, refund.proposed_by.username, refund.decided_by.username) == (
        RefundStatus.POSTED,
        maker,
        checker,
    )
    assert ledger.balance(alice) == Decimal("460.00")
    assert [leg.refunded for leg in refunded_legs(original=payment)] == [
        Decimal("60.00"),
        Decimal("58.20"),
        Decimal("1.20"),
        Decimal("0.60"),
    ]
    assert all(t.holds for t in identity_totals())
