"""In a real browser, a guarantee order disputed and resolved: a finance
clerk finds the paid order among those expiring soon, disputes it with a
reason, sees it among the disputed orders with nothing offered but the
resolution; resolves it by refunding the buyer, with a reason; the order is
closed, its steps say who did what and why, and the buyer has the money back.
Screenshots land in test-output/screenshots/order-*.png."""

from __future__ import annotations

from decimal import Decimal

import pytest

from postings.models import GuaranteeOrder
from postings.selectors import identity_totals
from tests.browser import chromium, expect, log_in, screenshot
from tests.reports.reporting import staff_user

from .order_books import ensure_order_roles, shop

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_disputed_order_resolved_by_refunding_the_buyer(live_server, ledger):
    ensure_order_roles()
    clerk = staff_user("clerk", "Finance staff").username
    s = shop(ledger)
    order = s.open("o-1", "120.00", commission="2.00", confirm_within_days=1)
    base = live_server.url

    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        log_in(page, base, clerk)
        page.goto(f"{base}/postings/orders/")
        page.get_by_role("link", name="Expiring soon", exact=False).click()
        row = page.locator(f"#o-{order.pk}")
        expect(row).to_contain_text("120.00")
        row.get_by_role("link", name=f"O{order.pk}").click()
        expect(page.locator("#status")).to_have_text("paid into escrow (已付款, 待确认)")
        page.get_by_label("Why it is disputed").fill("buyer says the parcel was empty")
        page.get_by_role("button", name="Dispute").click()
        expect(page.locator(".messages")).to_contain_text("nothing moves until the dispute is resolved")
        expect(page.locator("#status")).to_have_text("disputed (争议中, 冻结)")
        expect(page.locator("#dispute")).to_have_count(0)
        screenshot(page, "order-disputed")

        page.get_by_role("link", name="Disputed", exact=False).click()
        expect(page.locator("#order-list tbody tr")).to_have_count(1)
        page.get_by_role("link", name=f"O{order.pk}").click()
        page.get_by_label("Outcome").select_option("refund")
        page.get_by_label("Reason").fill("courier confirmed the parcel was opened")
        page.get_by_role("button", name="Resolve").click()
        expect(page.locator(".messages")).to_contain_text("dispute resolved")
        expect(page.locator("#status")).to_have_text("refunded in full (已全额退款)")
        expect(page.locator("#balance")).to_have_text("0.00")
        expect(page.locator("#events td.reason")).to_have_text(
            [
                "–",
                "buyer says the parcel was empty",
                "refund: courier confirmed the parcel was opened",
                "dispute resolved: courier confirmed the parcel was opened",
            ]
        )
        screenshot(page, "order-resolved")

    order = GuaranteeOrder.objects.get(pk=order.pk)
    assert (order.status, order.balance) == ("refunded", Decimal("0"))
    assert [(e.kind, e.acting_user and e.acting_user.username) for e in order.events.all()] == [
        ("pay", None),
        ("dispute", clerk),
        ("resolve", clerk),
        ("refund", clerk),
    ]
    assert ledger.balance(s.buyer) == Decimal("500.00")
    assert ledger.balance(s.escrow) == Decimal("0")
    assert all(t.holds for t in identity_totals())
