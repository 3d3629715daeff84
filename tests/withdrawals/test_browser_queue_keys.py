"""In a real browser, the quick ways through the queues (issue 19 §5):
select all / none and the ticked count, j/k to move, a to approve, r to
type a rejection reason; the payout desk's select all feeding a batch; and
the phone-request form showing the account's holder, available balance and
past cards as the account number is typed. Screenshots land in
test-output/screenshots/queue-*.png.
"""

from __future__ import annotations

import pytest

from tests.browser import chromium, expect, log_in, screenshot
from withdrawals import services
from withdrawals.models import Status, Withdrawal

from .conftest import CARD_OK, card

pytestmark = pytest.mark.django_db(transaction=True)


def in_review(desk, amount: str, tail: str) -> Withdrawal:
    w = desk.request(amount, card_number=card(tail))
    services.withdrawal_auto_review(withdrawal_id=w.id)
    w = desk.fresh(w)
    assert w.status == Status.IN_REVIEW
    return w


def test_review_queue_select_all_none_and_keys(live_server, desk):
    first, second, third = (
        in_review(desk, a, t) for a, t in (("100.00", "4401"), ("120.00", "4402"), ("90.00", "4403"))
    )
    big = in_review(desk, "60000.00", "4404")  # above the bulk maximum: its box stays disabled
    reviewer = desk.user("Reviewer").username
    base = live_server.url

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        log_in(page, base, reviewer)
        page.goto(f"{base}/withdrawals/review/")
        expect(page.locator("#queue-count")).to_have_text("4 waiting")
        expect(page.locator("#ticked-count")).to_have_text("0")

        page.get_by_role("button", name="Select all").click()
        expect(page.locator("#ticked-count")).to_have_text("3")
        expect(page.locator(f"#w-{big.id} input[type=checkbox]")).not_to_be_checked()
        page.get_by_role("button", name="Select none").click()
        expect(page.locator("#ticked-count")).to_have_text("0")
        expect(page.locator('input[form="bulk-approve"]:checked')).to_have_count(0)

        # The first card is current on arrival; j moves down, k back up, x ticks.
        expect(page.locator(f"#w-{first.id}")).to_have_class("card current")
        page.keyboard.press("j")
        expect(page.locator(f"#w-{second.id}")).to_have_class("card current")
        page.keyboard.press("x")
        expect(page.locator("#ticked-count")).to_have_text("1")
        page.keyboard.press("j")
        page.keyboard.press("k")
        expect(page.locator(f"#w-{second.id}")).to_have_class("card current")
        screenshot(page, "queue-01-review-keys")

        # a approves the current card; the page comes back one fewer.
        page.keyboard.press("a")
        expect(page.locator(".messages")).to_contain_text(f"W{second.id} approved")
        expect(page.locator("#queue-count")).to_have_text("3 waiting")
        expect(page.locator(f"#w-{second.id}")).to_have_count(0)

        # r puts the cursor in the current card's rejection reason; Enter sends it.
        page.keyboard.press("j")
        page.keyboard.press("r")
        expect(page.locator(f'#w-{third.id} input[name="reason"][required]')).to_be_focused()
        page.keyboard.type("card holder differs from the member")
        page.keyboard.press("Enter")
        expect(page.locator(".messages")).to_contain_text(f"W{third.id} rejected")
        expect(page.locator("#queue-count")).to_have_text("2 waiting")
        screenshot(page, "queue-02-review-after")

    assert desk.fresh(second).status == Status.APPROVED
    assert desk.fresh(third).status == Status.REJECTED
    assert desk.fresh(third).closing_reason == "card holder differs from the member"
    assert desk.fresh(first).status == Status.IN_REVIEW


def test_payout_desk_select_all_then_pay_the_batch(live_server, desk):
    reviewer = desk.user("Reviewer")
    ids = []
    for tail in ("4411", "4412"):
        w = in_review(desk, "50.00", tail)
        services.withdrawal_approve(withdrawal_id=w.id, user=reviewer)
        ids.append(w.id)
    cashier = desk.user("Cashier").username
    bank_label = f"{desk.bank_b.name} · CNY"
    base = live_server.url

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        log_in(page, base, cashier)
        page.goto(f"{base}/withdrawals/payout/")
        expect(page.locator("#queue-count")).to_have_text("2")
        page.get_by_role("button", name="Select all").click()
        expect(page.locator("#ticked-count")).to_have_text("2")
        page.get_by_role("button", name="Select none").click()
        expect(page.locator("#ticked-count")).to_have_text("0")
        # a on the current (approved) row ticks it and goes to the bank chooser.
        page.keyboard.press("a")
        expect(page.locator("#ticked-count")).to_have_text("1")
        expect(page.locator("#batch-bank")).to_be_focused()
        page.get_by_role("button", name="Select all").click()
        page.select_option("#batch-bank", label=bank_label)
        screenshot(page, "queue-03-payout-ticked")
        page.get_by_role("button", name="Send payment instructions").click()
        expect(page.locator(".messages")).to_contain_text(f"Sent through {desk.bank_b.name}")
        expect(page.locator("#queue-count")).to_have_text("0")

    assert all(desk.fresh(Withdrawal(pk=i)).instructions.get().bank == desk.bank_b for i in ids)


def test_phone_request_form_looks_the_account_up_as_it_is_typed(live_server, desk, django_capture_on_commit_callbacks):
    earlier = desk.request("20.00", card_number=CARD_OK)  # a card this member used before
    finance = desk.user("Finance staff").username
    account = desk.ledger.fresh(desk.member_account)
    account_no, available, holder = account.account_no, str(account.available_money), account.member.name
    base = live_server.url

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        log_in(page, base, finance)
        page.goto(f"{base}/withdrawals/new/")
        page.locator("#id_account_no").press_sequentially("NOPE-1")
        expect(page.locator("#lookup-none")).to_be_visible()
        page.fill("#id_account_no", "")
        page.locator("#id_account_no").press_sequentially(account_no)
        expect(page.locator("#lookup-holder")).to_have_text(holder)
        expect(page.locator("#lookup-available")).to_have_text(available)
        expect(page.locator("#lookup-cards")).to_contain_text(earlier.card_masked)
        screenshot(page, "queue-04-phone-lookup")
        page.get_by_role("button", name="Use holder and bank").click()
        expect(page.locator("#id_card_holder")).to_have_value(earlier.card_holder)
        expect(page.locator("#id_card_bank")).to_have_value(earlier.card_bank)
        expect(page.locator("#id_card_number")).to_be_focused()
        expect(page.locator("#id_card_number")).to_have_value("")
