"""In a real browser (issue 19 §1): one ledger admin lowers the two-reviewer
threshold, a second one approves it, and the auditor reads the rule's
history with who did what and the values before and after."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from tests.browser import chromium, expect, log_in, screenshot
from withdrawals.models import ReviewRule

from .conftest import ensure_governance_roles, staff

pytestmark = pytest.mark.django_db(transaction=True)


def test_propose_approve_and_audit_a_review_rule_change(live_server, ledger):
    ensure_governance_roles()
    staff("maker", "Ledger admin")
    staff("checker", "Ledger admin")
    staff("auditor", "Auditor")
    rule = ReviewRule.objects.get(kind="dual_approval")
    old_amount = f"{rule.amount:,.2f}"
    with chromium() as browser:
        run(browser, live_server.url, rule.pk, old_amount)
    rule.refresh_from_db()
    assert rule.amount == 25000 and rule.name.startswith("Above 25,000.00")
    assert Group.objects.get(name="Auditor").user_set.get() == User.objects.get(username="auditor")


def run(browser, base: str, rule_id: int, old_amount: str) -> None:
    url = f"{base}/admin/withdrawals/reviewrule/{rule_id}/change/"

    maker = browser.new_page(viewport={"width": 1400, "height": 1000})
    log_in(maker, base, "maker")
    maker.goto(url)
    in_force = maker.locator("#id_amount").input_value()
    maker.fill("#id_amount", "25000")
    maker.fill("#id_change_reason", "fraud team asks for a lower bar")
    maker.get_by_role("button", name="Save", exact=True).click()
    expect(maker.locator("ul.messagelist")).to_contain_text(
        "proposed; it takes effect when another ledger admin approves it"
    )
    expect(maker.locator("#decision")).to_contain_text("Awaiting approval by another ledger admin")
    screenshot(maker, "governance-1-proposed")
    maker.goto(url)
    expect(maker.locator("#id_amount")).to_have_value(in_force)  # not in force before the approval
    maker.close()

    checker = browser.new_page(viewport={"width": 1400, "height": 1000})
    log_in(checker, base, "checker")
    checker.goto(f"{base}/admin/kernel/settingchange/?status__exact=proposed")
    row = checker.locator("#result_list tbody tr").first
    expect(row).to_contain_text(f"amount: {old_amount} → 25,000.00")
    row.locator("th a").click()
    expect(checker.locator("table.setting-change-values")).to_contain_text("25,000.00")
    checker.fill("#id_decision_note", "agreed with risk")
    checker.get_by_role("button", name="Approve").click()
    expect(checker.locator("ul.messagelist")).to_contain_text("approved")
    screenshot(checker, "governance-2-approved")
    checker.close()

    auditor = browser.new_page(viewport={"width": 1400, "height": 1000})
    log_in(auditor, base, "auditor")
    auditor.goto(url)
    expect(auditor.get_by_role("button", name="Save", exact=True)).to_have_count(0)  # reads only
    auditor.get_by_role("link", name="History").click()
    row = auditor.locator("#result_list tbody tr").first
    expect(row).to_contain_text(f"amount: {old_amount} → 25,000.00")
    expect(row).to_contain_text("maker")
    expect(row).to_contain_text("checker")
    expect(row).to_contain_text("approved")
    screenshot(auditor, "governance-3-history")
    auditor.close()
