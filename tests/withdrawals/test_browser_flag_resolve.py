"""In a real browser, finance resolves the bank's contradictory answers
(issue 18 §3): two withdrawals failed, then the bank said each was paid
after all. Against the bank statement, finance settles one as paid and
closes the other's flag, on each withdrawal's detail page; a cashier looking
at the same page is offered no such form. Screenshots land in
test-output/screenshots/withdrawals-flag-*.png.
"""

from __future__ import annotations

import pytest

from tests.browser import chromium, expect, log_in, screenshot
from withdrawals import selectors, services
from withdrawals.models import PayoutInstruction, Status, Withdrawal

from .conftest import CARD_CLOSED

pytestmark = pytest.mark.django_db(transaction=True)


def flagged(desk) -> Withdrawal:
    w = desk.request("100.00", card_number=CARD_CLOSED)
    if desk.fresh(w).status == Status.IN_REVIEW:
        services.withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer", "flag-reviewer"))
    # Committed: the sandbox bank answers "failed" (card closed) on commit.
    services.payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier", "flag-cashier"))
    assert desk.fresh(w).status == Status.FAILED
    instruction = PayoutInstruction.objects.get(withdrawal=w)
    services.payout_answer_record(
        instruction_no=instruction.instruction_no, outcome="succeeded", bank_ref=f"LATE-{w.id}", source="query"
    )
    return w


def test_finance_resolves_a_flag_each_way_in_the_browser(live_server, desk):
    paid_after_all, never_paid = flagged(desk), flagged(desk)
    finance = desk.user("Finance staff").username
    cashier = desk.user("Cashier", "flag-cashier").username
    base = live_server.url

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})

        log_in(page, base, cashier)
        page.goto(f"{base}/withdrawals/{paid_after_all.id}/")
        expect(page.locator("#payout-blocked")).to_be_visible()
        expect(page.get_by_role("button", name="Resolve")).to_have_count(0)
        page.get_by_role("button", name="Log out").click()

        log_in(page, base, finance)
        page.goto(f"{base}/withdrawals/{paid_after_all.id}/")
        expect(page.locator(".flag-to-resolve")).to_contain_text("succeeded")
        screenshot(page, "withdrawals-flag-01-open")
        # No reason: the browser keeps the form (required), nothing is sent.
        page.get_by_label("The bank paid").check()
        page.get_by_role("button", name="Resolve").click()
        expect(page.locator("#status")).to_contain_text("failed")
        page.get_by_label("Resolution reason").fill("statement 2026-12-06, line 14: paid")
        page.get_by_role("button", name="Resolve").click()
        expect(page.locator(".messages")).to_contain_text(f"W{paid_after_all.id}: the bank paid")
        expect(page.locator("#status")).to_contain_text("paid")
        expect(page.locator("#settlement")).to_be_visible()
        expect(page.locator("#instructions")).to_contain_text("Resolved: the bank paid")
        expect(page.get_by_role("button", name="Resolve")).to_have_count(0)
        screenshot(page, "withdrawals-flag-02-paid")

        page.goto(f"{base}/withdrawals/{never_paid.id}/")
        page.get_by_label("The bank did not pay").check()
        page.get_by_label("Resolution reason").fill("not on the statement of 2026-12-06")
        page.get_by_role("button", name="Resolve").click()
        expect(page.locator(".messages")).to_contain_text(f"W{never_paid.id}: the bank did not pay")
        expect(page.locator("#status")).to_contain_text("failed")
        expect(page.locator("#payout-blocked")).to_have_count(0)
        expect(page.locator("#instructions")).to_contain_text("Resolved: the bank did not pay")
        screenshot(page, "withdrawals-flag-03-not-paid")

    paid_after_all, never_paid = desk.fresh(paid_after_all), desk.fresh(never_paid)
    assert paid_after_all.status == Status.PAID and paid_after_all.settlement is not None
    assert never_paid.status == Status.FAILED and never_paid.settlement is None
    assert not selectors.bank_may_have_paid(never_paid)
    resolutions = dict(PayoutInstruction.objects.values_list("withdrawal_id", "attention_resolution"))
    assert resolutions == {paid_after_all.id: services.BANK_PAID, never_paid.id: services.BANK_NOT_PAID}
