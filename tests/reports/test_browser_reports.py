"""In a real browser, a finance clerk's morning with the reports: the
balance sheet by account, then by subject; the check results with a red
check; a GL trial balance uploaded with one difference, drilled down from
the subject to its account and to the account's entries of the day; the
charts. Screenshots land in test-output/screenshots/reports-*.png."""

from __future__ import annotations

import re

import pytest

from tests.browser import chromium, expect, log_in, screenshot

from .reporting import ensure_report_roles, make_books, staff_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_finance_reads_the_reports_and_reconciles_the_gl(live_server, ledger):
    # Everything the database has to give is read before the browser opens.
    ensure_report_roles()
    finance = staff_user("finance", "Finance staff").username
    books = make_books(ledger)
    books.vouchers_from_entries()
    books.check("identity", True, summary="CNY 0 = 1000 + -1000")
    books.check(
        "entry_chain",
        False,
        [
            {
                "entry": books.bob.entries.get().serial_no,
                "account_no": books.bob.account_no,
                "problem": "balance before 5.00 != previous balance after 0.00",
            }
        ],
        summary="1 entries break their account's chain",
    )
    day, alice, bob = books.day.isoformat(), books.alice.account_no, books.bob.account_no
    # The GL's channel clearing closes 10.00 off the ledger's -1,000.00.
    gl_file = (
        "\ufeffsubject_code,currency,opening,debit,credit,closing,accounting_date\n"
        f"2241,CNY,0.00,300.00,1300.00,1000.00,{day}\n"
        f"1002,CNY,0.00,1000.00,0.00,-990.00,{day}\n"
    ).encode()

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        walk_through(page, live_server.url, finance=finance, day=day, alice=alice, bob=bob, gl_file=gl_file)


def walk_through(page, base: str, *, finance: str, day: str, alice: str, bob: str, gl_file: bytes) -> None:
    def shot(name: str) -> None:
        screenshot(page, f"reports-{name}")

    log_in(page, base, finance)
    page.goto(f"{base}/withdrawals/")
    page.locator("header.top nav").get_by_role("link", name="Reports").click()

    # 1. The balance sheet of the latest day, by account.
    expect(page.locator("h1")).to_contain_text("Balance sheet")
    expect(page.locator("h1")).to_contain_text(day)
    table = page.locator("#balance-sheet")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table).to_contain_text(alice)
    expect(table).to_contain_text("700.00")
    expect(page.locator("#totals")).to_contain_text("identity holds")
    shot("01-balance-sheet-by-account")

    # 2. ... switched to subjects.
    page.select_option("#id_group_by", "subject")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("h1")).to_contain_text("by subject")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").nth(1)).to_contain_text("2241")
    expect(table.locator("tbody tr").nth(1)).to_contain_text("1,000.00")
    shot("02-balance-sheet-by-subject")

    # 3. The check results: one red, naming the account and the entry.
    page.locator("nav.subnav").get_by_role("link", name="Checks").click()
    expect(page.locator("#check-summary")).to_contain_text("1 failed")
    red = page.locator("#checks tr.bad")
    expect(red).to_have_count(1)
    expect(red).to_contain_text("entry_chain")
    expect(red.get_by_role("link", name=bob)).to_be_visible()
    expect(page.locator("#checks tr.ok")).to_contain_text("identity")
    shot("03-check-results")

    # 4. The GL trial balance, with a difference on 1002.
    page.locator("nav.subnav").get_by_role("link", name="GL reconciliation").click()
    page.get_by_role("link", name="Upload a GL trial balance").click()
    page.select_option("#id_entity", label="MAIN · Main operating entity")
    page.fill("#id_accounting_date", day)
    page.set_input_files("#id_file", files=[{"name": "trial-balance.csv", "mimeType": "text/csv", "buffer": gl_file}])
    shot("04-gl-upload")
    page.get_by_role("button", name="Read and preview").click()
    expect(page).to_have_url(re.compile(r"/reports/gl/upload/\d+/$"))
    expect(page.locator("#preview-lines")).to_have_text("2")
    expect(page.locator("#preview-edges")).to_contain_text("2241")
    shot("04b-gl-preview")
    page.get_by_role("button", name="Confirm import").click()
    expect(page).to_have_url(re.compile(r"/reports/gl/\d+/$"))
    expect(page.locator(".messages")).to_contain_text("2 rows of trial-balance.csv")
    expect(page.locator("#gl-verdict")).to_contain_text("1 difference")
    row = page.locator("#diff-1002-CNY")
    expect(row).to_contain_text("closing")
    expect(row).to_contain_text("-990.00")
    expect(page.locator("#differences")).to_contain_text("-1,000.00")
    expect(page.locator("#differences")).to_contain_text("10.00")
    expect(page.locator("#differences")).not_to_contain_text("2241")
    shot("05-gl-differences")

    # 5. Drill down: the subject's accounts, then the account's entries of the day.
    row.get_by_role("link", name="1 account").click()
    expect(page.locator("h1")).to_contain_text("by account")
    accounts = page.locator("#balance-sheet tbody tr")
    expect(accounts).to_have_count(1)
    expect(accounts).to_contain_text("CHANNEL_CLEARING")
    expect(accounts).to_contain_text("-1,000.00")
    shot("06-subject-accounts")
    accounts.locator("td.mono a").first.click()
    expect(page.locator("h1")).to_contain_text("Account")
    expect(page.locator("#daily-balances")).to_contain_text("-1,000.00")
    expect(page.locator("#entries tbody tr")).to_have_count(1)
    expect(page.locator("#entries")).to_contain_text("recharge")
    shot("07-account-entries")
    page.locator("#entries tbody tr a").first.click()
    expect(page.locator("#request-no")).to_contain_text("rc-")
    shot("08-entry-posting-request")

    # 6. The charts, drawn on the server.
    page.locator("nav.subnav").get_by_role("link", name="Charts").click()
    expect(page.locator("svg.chart")).to_have_count(2)
    expect(page.locator("#chart-turnover .legend")).to_contain_text("recharge")
    shot("09-charts")
