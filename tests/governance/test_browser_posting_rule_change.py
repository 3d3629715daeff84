"""In a real browser (issue 19 §1): one ledger admin changes the recharge
posting rule's legs, a second one approves, the auditor reads the rule's
history with the legs before and after, and a posting booked after it
records the new version."""

from __future__ import annotations

import pytest

from postings.models import PostingRule
from postings.services import posting_create_by_rule
from tests.browser import chromium, expect, log_in, screenshot

from .conftest import ensure_governance_roles, staff

pytestmark = pytest.mark.django_db(transaction=True)

OLD_LEGS = "Dr channel_account amount / Cr member_account amount"
NEW_LEGS = "Dr channel_account amount+bonus / Cr member_account amount+bonus"


def test_propose_approve_and_audit_a_posting_rule_change(live_server, ledger):
    ensure_governance_roles()
    staff("maker", "Ledger admin")
    staff("checker", "Ledger admin")
    staff("auditor", "Auditor")
    member = ledger.cash()
    before = ledger.recharge(member, "10.00")
    rule = PostingRule.objects.get(business_type="recharge")
    with chromium() as browser:
        run(browser, live_server.url, rule.pk)

    rule.refresh_from_db()
    assert rule.version == 2
    assert [leg.amount_expr for leg in rule.legs.order_by("position")] == ["amount+bonus", "amount+bonus"]
    after = posting_create_by_rule(
        business_type="recharge",
        request_no="after-the-change",
        params={
            "member_account": member.account_no,
            "channel_account": ledger.channel().account_no,
            "amount": "10.00",
            "bonus": "1.00",
        },
        posted_by="trade",
    )
    before.refresh_from_db()
    assert (before.rule_version, after.rule_version) == (1, 2)
    assert ledger.balance(member) == 21


def run(browser, base: str, rule_id: int) -> None:
    url = f"{base}/admin/postings/postingrule/{rule_id}/change/"

    maker = browser.new_page(viewport={"width": 1400, "height": 1000})
    log_in(maker, base, "maker")
    maker.goto(url)
    maker.fill("#id_legs-0-amount_expr", "amount+bonus")
    maker.fill("#id_legs-1-amount_expr", "amount+bonus")
    maker.fill("#id_change_reason", "marketing pays a recharge bonus")
    maker.get_by_role("button", name="Save", exact=True).click()
    expect(maker.locator("ul.messagelist")).to_contain_text(
        "proposed; it takes effect when another ledger admin approves it"
    )
    expect(maker.locator("#decision")).to_contain_text("Awaiting approval by another ledger admin")
    screenshot(maker, "governance-rule-1-proposed")
    maker.goto(url)
    expect(maker.locator("#id_legs-0-amount_expr")).to_have_value("amount")  # not in force before the approval
    maker.close()

    checker = browser.new_page(viewport={"width": 1400, "height": 1000})
    log_in(checker, base, "checker")
    checker.goto(f"{base}/admin/kernel/settingchange/?status__exact=proposed")
    row = checker.locator("#result_list tbody tr").first
    expect(row).to_contain_text(f"legs: {OLD_LEGS} → {NEW_LEGS}")
    row.locator("th a").click()
    expect(checker.locator("table.setting-change-values")).to_contain_text(NEW_LEGS)
    checker.fill("#id_decision_note", "budget approved")
    checker.get_by_role("button", name="Approve").click()
    expect(checker.locator("ul.messagelist")).to_contain_text("approved")
    screenshot(checker, "governance-rule-2-approved")
    checker.close()

    auditor = browser.new_page(viewport={"width": 1400, "height": 1000})
    log_in(auditor, base, "auditor")
    auditor.goto(url)
    expect(auditor.get_by_role("button", name="Save", exact=True)).to_have_count(0)  # reads only
    auditor.get_by_role("link", name="History").click()
    row = auditor.locator("#result_list tbody tr").first
    expect(row).to_contain_text(f"legs: {OLD_LEGS} → {NEW_LEGS}")
    expect(row).to_contain_text("maker")
    expect(row).to_contain_text("checker")
    expect(row).to_contain_text("approved")
    row.locator("th a").click()
    values = auditor.locator("table.setting-change-values")
    expect(values).to_contain_text(OLD_LEGS)
    expect(values).to_contain_text(NEW_LEGS)
    screenshot(auditor, "governance-rule-3-history")
    auditor.close()
