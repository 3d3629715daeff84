"""In a real browser: a finance user logs in, finds a member's wallet, opens
its entries, sees the recharge, and narrows the list to a period without it.

Needs the ``playwright`` package and a Chromium binary (Debian's ``chromium``
package; no Playwright browser download). Screenshots of every page land in
test-output/screenshots/.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.browser import chromium, expect, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.local_afternoon  # the recharge is "today's", the filter "yesterday": one local day
def test_browse_an_accounts_entries_and_filter_by_date(live_server, admin_user, book):
    account_no = book.alice.account_no
    serial_no = str(book.recharge.entries.get(account=book.alice).serial_no)
    old_serial_no = str(book.old_recharge.entries.get(account=book.alice).serial_no)
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    with chromium() as browser:
        browse(
            browser.new_page(viewport={"width": 1600, "height": 1000}),
            live_server.url,
            account_no=account_no,
            serial_no=serial_no,
            old_serial_no=old_serial_no,
            yesterday=yesterday,
        )


def browse(page, base_url: str, *, account_no: str, serial_no: str, old_serial_no: str, yesterday: str) -> None:
    def shot(name: str) -> None:
        screenshot(page, f"admin-{name}")

    page.goto(f"{base_url}/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")
    shot("1-login")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_contain_text("Ledger core")
    shot("2-index")

    page.locator("tr.model-account th a").click()
    expect(page.locator("#result_list")).to_contain_text(account_no)
    shot("3-accounts")

    page.get_by_role("link", name=account_no, exact=True).click()
    expect(page.locator("h2", has_text=account_no)).to_be_visible()
    shot("4-account")

    page.get_by_role("link", name="Entries of this account").click()
    rows = page.locator("#result_list tbody tr")
    recharge = rows.filter(has=page.get_by_role("link", name=serial_no, exact=True))
    expect(recharge).to_have_count(1)
    expect(recharge).to_contain_text("recharge (充值)")
    expect(recharge.locator("td.field-amount_display")).to_have_text("250.00")
    expect(recharge.locator("td.field-balance_after_display")).to_have_text("350.00")
    shot("5-entries")

    page.fill("#id_accounting_date__lte", yesterday)
    page.locator("#changelist-filter form.date-range-filter input[type=submit]").click()
    expect(page.locator("#id_accounting_date__lte")).to_have_value(yesterday)
    expect(recharge).to_have_count(0)
    # Still the same account, and its back-dated recharge is in the period.
    expect(rows).to_have_count(1)
    expect(rows.filter(has=page.get_by_role("link", name=old_serial_no, exact=True))).to_contain_text("100.00")
    expect(page.locator("#changelist-filter")).to_contain_text(account_no)
    shot("6-entries-until-yesterday")
