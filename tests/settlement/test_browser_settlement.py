"""In a real browser, a channel settled twice in a day: a finance clerk runs
a settlement batch of the bank channel, reads what it covers (each entry, its
channel serial and the fee from the statement line), and after the
afternoon's business runs a second batch that covers only the new entries.
Screenshots land in test-output/screenshots/settlement-*.png."""

from __future__ import annotations

import pytest
from django.utils import timezone

from reports.settlement.checks import clearing_unexplained
from reports.settlement.models import ChannelSettlement, SettledEntry
from tests.browser import chromium, expect, log_in, screenshot
from tests.reports.reporting import staff_user

from .books import D, balances, channel, ensure_settlement_roles, recharge, statement, withdraw

pytestmark = pytest.mark.django_db(transaction=True)


def _beside_the_browser(work):
    """Run ``work`` on a thread of its own: Django refuses the ORM under the
    browser's event loop (tests/browser.py)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def run():
        try:
            return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


@pytest.mark.real_clock  # PostgreSQL stamps the entries the cut-off (now) is compared with
def test_a_channel_settled_twice_in_a_day(live_server, ledger):
    ensure_settlement_roles()
    clerk = staff_user("clerk", "Finance staff").username
    ch = channel(ledger)
    alice = ledger.cash()
    recharge(ledger, alice, "500.00", "S1")
    withdraw(ledger, alice, "120.00", "S2")
    statement(
        ch,
        timezone.localdate(),
        [("S1", "in", "500.00", "2.50"), ("S2", "out", "120.00", "1.00")],
    )
    base = live_server.url

    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        log_in(page, base, clerk)
        page.goto(f"{base}/reports/settlement/channels/")
        page.get_by_label("Channel").first.select_option("bank1")
        page.get_by_role("button", name="Settle the channel").click()
        expect(page.locator(".messages")).to_contain_text("settled 2 entries of bank1: net 380.00, fee 3.50")
        expect(page.locator("#batch-summary")).to_contain_text("376.50")
        rows = page.locator("#covered-entries tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("S1")
        expect(rows.nth(0)).to_contain_text("2.50")
        expect(rows.nth(1)).to_contain_text("S2")
        expect(rows.nth(1)).to_contain_text("1.00")
        screenshot(page, "settlement-batch-1")

        _beside_the_browser(lambda: recharge(ledger, alice, "40.00", "S3"))  # the afternoon's business
        page.goto(f"{base}/reports/settlement/channels/")
        page.get_by_label("Channel").first.select_option("bank1")
        page.get_by_role("button", name="Settle the channel").click()
        expect(page.locator(".messages")).to_contain_text("settled 1 entries of bank1: net 40.00, fee 0.00")
        expect(page.locator("#covered-entries tbody tr")).to_have_count(1)
        expect(page.locator("#covered-entries")).to_contain_text("none yet")  # S3 has no statement line yet

        page.goto(f"{base}/reports/settlement/channels/")
        expect(page.locator("#channel-settlements tbody tr")).to_have_count(2)
        page.get_by_label("Channel").first.select_option("bank1")
        page.get_by_role("button", name="Settle the channel").click()
        expect(page.locator(".messages")).to_contain_text("no unsettled entries")
        screenshot(page, "settlement-batches")

    assert ChannelSettlement.objects.count() == 2
    assert SettledEntry.objects.count() == 3
    assert balances(ledger.channel(), ledger.internal("RESERVE_FUND"), ledger.internal("CHANNEL_FEE")) == [
        D("0"),
        D("-416.50"),
        D("-3.50"),
    ]
    assert clearing_unexplained(entity=ledger.entity).passed
