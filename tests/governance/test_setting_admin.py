"""The admin side of governed settings, role by role (issue 19 §1): a
ledger admin's save proposes, a second one approves on the change's page,
the auditor reads every change with its values, and nobody else may do
either. Refusals come back on the form in finance sentences."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.kernel.models import SettingChange
from postings.models import PostingRule
from withdrawals.models import FeeRule, ReviewRule

from .conftest import ROLES

pytestmark = pytest.mark.django_db
OTHERS = [role for role in ROLES if role not in ("Ledger admin", "Auditor")]


def admin_url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def review_rule_data(rule: ReviewRule, **changes) -> dict:
    data = {"kind": rule.kind, "name": rule.name, "currency": rule.currency, "amount": str(rule.amount), "active": "on"}
    return {**data, **changes}


def fee_rule_data(rule: FeeRule, **changes) -> dict:
    data = {
        "name": rule.name,
        "currency": rule.currency,
        "fixed": str(rule.fixed),
        "rate_percent": str(rule.rate_percent),
        "minimum": str(rule.minimum),
        "maximum": "" if rule.maximum is None else str(rule.maximum),
        "active": "on",
    }
    return {**data, **changes}


def posting_rule_data(rule: PostingRule, legs) -> dict:
    data = {
        "business_type": rule.business_type,
        "description": rule.description,
        "active": "on",
        "legs-TOTAL_FORMS": len(legs),
        "legs-INITIAL_FORMS": 0,
        "legs-MIN_NUM_FORMS": 0,
        "legs-MAX_NUM_FORMS": 1000,
    }
    for n, (direction, param, expression) in enumerate(legs):
        data.update(
            {
                f"legs-{n}-position": n,
                f"legs-{n}-direction": direction,
                f"legs-{n}-account_param": param,
                f"legs-{n}-internal_account_type": "",
                f"legs-{n}-amount_expr": expression,
            }
        )
    rule.legs.all().delete()  # the form's legs replace them (INITIAL_FORMS 0)
    return data


def test_a_ledger_admins_save_is_a_proposal_and_changes_nothing(people):
    rule = ReviewRule.objects.get(kind="dual_approval")
    url = admin_url(ReviewRule, "change", rule.pk)
    data = review_rule_data(rule, amount="25000", change_reason="fraud losses are smaller than feared")
    for role in [*OTHERS, "Auditor"]:
        assert as_user(people[role]).post(url, data).status_code == 403, role

    response = as_user(people["maker"]).post(url, data, follow=True)
    change = SettingChange.objects.get()
    assert response.redirect_chain[-1][0] == admin_url(SettingChange, "change", change.pk)
    assert "proposed; it takes effect when another ledger admin approves it" in response.content.decode()
    assert ReviewRule.objects.get(pk=rule.pk).amount == rule.amount
    assert (change.proposed_by, change.reason, change.new_values["amount"]) == (
        people["maker"],
        "fraud losses are smaller than feared",
        "25000.0000",
    )
    assert change.new_values["name"].startswith("Above 25,000.00")  # the name follows the threshold


def test_a_fee_rule_that_makes_no_sense_is_explained_on_the_form(people):
    rule = FeeRule.objects.get(currency="CNY")
    response = as_user(people["maker"]).post(
        admin_url(FeeRule, "change", rule.pk), fee_rule_data(rule, minimum="10", maximum="5", rate_percent="101")
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "is below the minimum fee" in page and "between 0 and 100" in page
    assert "Constraint" not in page and "fee_rule_max_at_least_min" not in page
    assert not SettingChange.objects.exists()


@pytest.mark.parametrize(
    "legs, said",
    [
        ([("D", "channel_account", "amount")], "at least one debit leg and one credit leg"),
        ([("D", "channel_account", "amount+amount"), ("C", "member_account", "amount")], "refused as unbalanced"),
        (
            [("D", "channel_account", "__import__('os').system('id')"), ("C", "member_account", "amount")],
            "only parameter names",
        ),
    ],
)
def test_a_posting_rule_that_cannot_balance_is_explained_on_the_form(people, legs, said):
    rule = PostingRule.objects.get(business_type="recharge")
    url = admin_url(PostingRule, "change", rule.pk)
    response = as_user(people["maker"]).post(url, posting_rule_data(rule, legs))
    assert response.status_code == 200
    assert said in response.content.decode()
    assert not SettingChange.objects.exists()


def test_a_balanced_posting_rule_form_is_proposed_with_its_legs(people):
    rule = PostingRule.objects.get(business_type="recharge")
    legs = [("D", "channel_account", "amount"), ("C", "member_account", "amount-fee"), ("C", "fee_account", "fee")]
    response = as_user(people["maker"]).post(admin_url(PostingRule, "change", rule.pk), posting_rule_data(rule, legs))
    assert response.status_code == 302
    change = SettingChange.objects.get()
    assert [leg["amount_expr"] for leg in change.new_values["legs"]] == ["amount", "amount-fee", "fee"]


def proposed(people) -> SettingChange:
    rule = FeeRule.objects.get(currency="CNY")
    as_user(people["maker"]).post(admin_url(FeeRule, "change", rule.pk), fee_rule_data(rule, minimum="3.00"))
    return SettingChange.objects.get()


@pytest.mark.parametrize("role", [*ROLES, "maker", "checker"])
def test_who_reads_the_changes_and_who_may_decide(people, role):
    change = proposed(people)
    client = as_user(people[role])
    reads = role in ("Finance staff", "Auditor", "Ledger admin", "maker", "checker")
    listing = client.get(admin_url(SettingChange, "changelist"))
    page = client.get(admin_url(SettingChange, "change", change.pk))
    assert (listing.status_code, page.status_code) == ((200, 200) if reads else (403, 403))
    if reads:
        assert "3.00" in listing.content.decode()  # old → new in the list
        assert (">Approve</button>" in page.content.decode()) == (role in ("Ledger admin", "checker"))

    response = client.post(admin_url(SettingChange, "approve", change.pk), follow=True)
    change.refresh_from_db()
    if role in ("Ledger admin", "checker"):
        assert change.status == "approved" and change.decided_by == people[role]
        assert FeeRule.objects.get(currency="CNY").minimum == 3
    else:
        assert change.status == "proposed"
        assert FeeRule.objects.get(currency="CNY").minimum != 3
        if role == "maker":
            assert "another ledger admin than the one who proposed it" in response.content.decode()


def test_reject_closes_the_proposal(people):
    change = proposed(people)
    as_user(people["checker"]).post(admin_url(SettingChange, "reject", change.pk), {"decision_note": "not now"})
    change.refresh_from_db()
    assert (change.status, change.decision_note) == ("rejected", "not now")


def test_approve_and_reject_take_only_a_post(people):
    change = proposed(people)
    assert as_user(people["checker"]).get(admin_url(SettingChange, "approve", change.pk)).status_code == 405


def test_a_settings_history_shows_who_changed_what_from_what_to_what(people):
    change = proposed(people)
    as_user(people["checker"]).post(admin_url(SettingChange, "approve", change.pk))
    auditor = as_user(people["Auditor"])
    rule = FeeRule.objects.get(currency="CNY")
    history = auditor.get(admin_url(FeeRule, "history", rule.pk), follow=True)
    page = history.content.decode()
    assert history.status_code == 200
    assert f"C{change.pk}" in page and "minimum" in page and "3.00" in page
    assert "maker" in page and "checker" in page


def test_an_effective_from_time_is_proposed_on_the_form_and_shown_in_the_history(people):
    from datetime import timedelta

    from django.utils import timezone

    rule = ReviewRule.objects.get(kind="dual_approval")
    later = timezone.localtime() + timedelta(days=1)
    data = review_rule_data(rule, amount="25000", change_effective_from=later.strftime("%Y-%m-%dT%H:%M"))
    response = as_user(people["maker"]).post(admin_url(ReviewRule, "change", rule.pk), data, follow=True)
    assert f"(at {later:%Y-%m-%d %H:%M} if that is later)" in response.content.decode()
    change = SettingChange.objects.get()
    approved = as_user(people["checker"]).post(admin_url(SettingChange, "approve", change.pk), follow=True)
    assert f"it takes effect at {later:%Y-%m-%d %H:%M}, until then the version in force stays" in (
        approved.content.decode()
    )
    assert ReviewRule.objects.get(pk=rule.pk).amount == rule.amount
    history = as_user(people["Finance staff"]).get(admin_url(ReviewRule, "history", rule.pk), follow=True)
    assert f"{later:%Y-%m-%d %H:%M} (scheduled)" in history.content.decode()
