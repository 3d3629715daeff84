"""In a real browser, the three steps of a withdrawal by three people:

finance staff take a request by phone (the first withdrawal to a card, so
the "new-card" rule sends it to manual review); a reviewer approves it on
the review queue; a cashier pays it on the payout desk through a chosen
bank, and the detail page shows it paid with its settlement entries.

The live server commits each request, so the work queued on commit runs
(Celery eager): the auto-review after the request, the bank instruction and
the sandbox bank's answer after the payout. Screenshots of every page land
in test-output/screenshots/withdrawals-*.png.
"""

from __future__ import annotations

import re

import pytest

from tests.browser import chromium, expect, log_in, screenshot
from withdrawals.models import Status, Withdrawal

from .conftest import CARD_OK

pytestmark = pytest.mark.django_db(transaction=True)


def test_request_review_and_pay_in_the_browser(live_server, desk):
    # Everything the database has to give is read before the browser opens:
    # Playwright's event loop in this thread forbids ORM calls meanwhile.
    finance, reviewer, cashier = (
        desk.user("Finance staff").username,
        desk.user("Reviewer").username,
        desk.user("Cashier").username,
    )
    account_no = desk.member_account.account_no
    bank_label = f"{desk.bank_b.name} · CNY"

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        withdrawal_id = walk_through(
            page,
            live_server.url,
            finance=finance,
            reviewer=reviewer,
            cashier=cashier,
            account_no=account_no,
            bank_label=bank_label,
        )

    w = Withdrawal.objects.get(pk=withdrawal_id)
    assert w.status == Status.PAID
    assert w.created_by.username == finance and w.source_system == "staff"
    assert w.approvals.get().reviewer.username == reviewer
    assert w.instructions.get().bank == desk.bank_b
    assert w.settlement is not None


def walk_through(
    page, base: str, *, finance: str, reviewer: str, cashier: str, account_no: str, bank_label: str
) -> int:
    def shot(name: str) -> None:
        screenshot(page, f"withdrawals-{name}")

    def log_out() -> None:
        page.get_by_role("button", name="Log out").click()
        expect(page.locator("body")).to_contain_text("Logged out")

    # 1. Finance staff take the request by phone.
    log_in(page, base, finance)
    page.goto(f"{base}/withdrawals/new/")
    expect(page.locator("h1")).to_contain_text("New withdrawal request")
    page.fill("#id_account_no", account_no)
    page.fill("#id_amount", "800")
    page.fill("#id_card_holder", "Alice Zhang")
    page.fill("#id_card_bank", "ICBC")
    page.fill("#id_card_number", "1234")  # a typo first: the form says so and records nothing
    shot("01-new-request")
    page.get_by_role("button", name="Record the request").click()
    expect(page.locator(".errorlist")).to_contain_text("12 to 19 digits")
    expect(page.locator("#id_card_number")).to_have_value("")
    shot("02-new-request-error")
    page.fill("#id_card_number", CARD_OK)
    page.get_by_role("button", name="Record the request").click()
    expect(page).to_have_url(re.compile(r"/withdrawals/\d+/$"))
    withdrawal_id = int(re.search(r"/withdrawals/(\d+)/$", page.url).group(1))
    expect(page.locator(".messages")).to_contain_text("frozen")
    # The auto-review ran after the commit: a new card goes to a reviewer.
    expect(page.locator("#status")).to_contain_text("in manual review")
    expect(page.locator("body")).to_contain_text("new-card")
    expect(page.locator("body")).not_to_contain_text(CARD_OK)
    shot("03-detail-in-review")
    log_out()

    # 2. A reviewer approves it on the review queue.
    log_in(page, base, reviewer)
    page.goto(f"{base}/withdrawals/")
    expect(page.locator("#tile-in-review .n")).to_have_text("1")
    expect(page.locator("#tile-followups")).to_contain_text("0 tasks waiting for the task queue")
    shot("04-dashboard")
    page.locator("header.top nav").get_by_role("link", name="Review queue").click()
    card = page.locator(f"#w-{withdrawal_id}")
    expect(card).to_contain_text("CNY 800.00")
    expect(card).to_contain_text("First withdrawal to this card")
    expect(card).to_contain_text("approvals 0 of 1")
    shot("05-review-queue")
    card.get_by_placeholder("reason (optional)").fill("called the member back")
    card.get_by_role("button", name="Approve").click()
    expect(page.locator(".messages")).to_contain_text(f"W{withdrawal_id} approved")
    expect(page.locator(f"#w-{withdrawal_id}")).to_have_count(0)
    shot("06-review-queue-approved")
    log_out()

    # 3. A cashier pays it through the second bank.
    log_in(page, base, cashier)
    page.goto(f"{base}/withdrawals/payout/")
    row = page.locator(f"#payout-queue #w-{withdrawal_id}")
    expect(row).to_contain_text("approved")
    shot("07-payout-desk")
    row.get_by_role("checkbox").check()
    page.locator("#batch-pay select[name=bank]").select_option(label=bank_label)
    page.get_by_role("button", name="Send payment instructions").click()
    expect(page.locator(".messages")).to_contain_text(f"W{withdrawal_id}")
    expect(page.locator(".messages")).to_contain_text("CMB payouts")
    shot("08-payout-sent")

    page.goto(f"{base}/withdrawals/{withdrawal_id}/")
    page.reload()
    expect(page.locator("#status")).to_contain_text("paid")
    expect(page.locator("#settlement")).to_contain_text("withdrawal")
    expect(page.locator("#settlement-entries tbody tr")).to_have_count(3)  # member, bank clearing, fee income
    expect(page.locator("#instructions")).to_contain_text("CMB payouts")
    expect(page.locator("body")).not_to_contain_text(CARD_OK)
    shot("09-detail-paid")

    page.locator("header.top nav").get_by_role("link", name="All withdrawals").click()
    expect(page.locator(f"#withdrawal-list #w-{withdrawal_id}")).to_contain_text("paid")
    shot("10-all-withdrawals")
    page.goto(f"{base}/withdrawals/")
    expect(page.locator("#tile-paid-today .n")).to_have_text("1")
    shot("11-dashboard-after")
    return withdrawal_id
