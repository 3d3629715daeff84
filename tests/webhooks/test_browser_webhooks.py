"""In a real browser, a Ledger admin on the webhook pages: finds the
failing endpoint on its tab, reads its attempts (status, latency, the
receiver's answer), pauses it with a reason, resumes it, and redelivers a
range of event numbers, which the receiver gets again with the same
webhook-id; an Auditor reads the same page with no action offered.
Screenshots land in test-output/screenshots/webhooks-*.png."""

from __future__ import annotations

import pytest

from events.webhooks.models import Delivery, Endpoint
from tests.browser import chromium, expect, log_in, screenshot
from tests.reports.reporting import staff_user

from .books import dispatch_until, endpoint_for, ensure_webhook_roles
from .receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_ledger_admin_pauses_resumes_and_redelivers(live_server, ledger, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0.05, 3600]
    ensure_webhook_roles()
    admin = staff_user("wh-admin", "Ledger admin").username
    auditor = staff_user("wh-auditor", "Auditor").username
    with Receiver(fail_first=2) as receiver:
        endpoint, _ = endpoint_for(receiver.url)
        ledger.recharge(ledger.cash(), "1.00", request_no="br-1")
        dispatch_until(lambda: len(receiver.received) == 2)  # two refusals; the next try in an hour
        seq = Delivery.objects.get(endpoint=endpoint).seq
        base = live_server.url

        with chromium() as browser:
            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            log_in(page, base, admin)
            page.goto(f"{base}/withdrawals/")
            page.get_by_role("link", name="Webhooks").click()
            page.get_by_role("link", name="Failing", exact=False).click()
            row = page.locator(f"#w-{endpoint.pk}")
            expect(row).to_contain_text("failing")
            expect(row).to_contain_text(receiver.url)
            row.get_by_role("link", name=f"W{endpoint.pk}").click()
            expect(page.locator("#state")).to_have_text("failing")
            expect(page.locator("#failures")).to_contain_text("2")
            expect(page.locator("#attempts tbody tr")).to_have_count(2)
            expect(page.locator("#attempts tbody tr td.status")).to_have_text(["500", "500"])
            expect(page.locator("#attempts")).to_contain_text("receiver says no")
            screenshot(page, "webhooks-failing")

            page.get_by_label("Why").fill("receiver is being migrated")
            page.get_by_role("button", name="Pause").click()
            expect(page.locator(".messages")).to_contain_text("deliveries wait until it is resumed")
            expect(page.locator("#state")).to_have_text("paused")
            expect(page.locator("#changes")).to_contain_text("receiver is being migrated")
            page.get_by_role("button", name="Resume").click()
            expect(page.locator("#state")).to_have_text("failing")

            page.get_by_label("From event no.").fill(str(seq))
            page.get_by_label("To event no.").fill(str(seq))
            page.get_by_role("button", name="Redeliver").click()
            expect(page.locator(".messages")).to_contain_text(f"1 event(s) numbered {seq} to {seq} queued")
            screenshot(page, "webhooks-redelivered")
            page.close()

        dispatch_until(lambda: len(receiver.received) == 3)  # due at once: not in an hour
        assert receiver.statuses() == [500, 500, 200]
        assert len(set(receiver.ids())) == 1

        with chromium() as browser:
            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            log_in(page, base, auditor)
            page.goto(f"{base}/webhooks/{endpoint.pk}/")
            expect(page.locator("#state")).to_have_text("active")
            expect(page.locator("#attempts tbody tr td.status")).to_have_text(["200", "500", "500"])
            expect(page.locator("#actions")).to_have_count(0)
            screenshot(page, "webhooks-auditor")

    assert Endpoint.objects.get(pk=endpoint.pk).consecutive_failures == 0
