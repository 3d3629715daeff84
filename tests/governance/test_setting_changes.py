"""Maker-checker on control settings (issue 19 §1): one ledger admin
proposes, another approves, the change is validated twice and recorded with
its old and new values; postings and withdrawals record the version they
were booked under."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.utils import IntegrityError, InternalError

from accounts.kernel.errors import NotAllowed
from accounts.kernel.governance import (
    SettingChangedMeanwhile,
    SettingChangeNotOpen,
    SettingRefused,
    setting_change_approve,
    setting_change_propose,
    setting_change_reject,
    setting_change_rows,
)
from accounts.kernel.models import SettingChange
from postings.governed import PostingRuleSetting
from postings.models import PostingRule
from withdrawals.governed import FeeRuleSetting, ReviewRuleSetting
from withdrawals.models import FeeRule, ReviewRule

pytestmark = pytest.mark.django_db


def fee_values(rule: FeeRule, **changes) -> dict:
    return {**FeeRuleSetting().values(rule), **changes}


def rule_values(rule: PostingRule, legs=None, **changes) -> dict:
    values = PostingRuleSetting().values(rule)
    if legs is not None:
        values["legs"] = [
            {"position": n, "direction": d, "account_param": p, "internal_account_type": None, "amount_expr": e}
            for n, (d, p, e) in enumerate(legs)
        ]
    return {**values, **changes}


# ------------------------------------------------------------ validation ----


@pytest.mark.parametrize(
    "changes, said",
    [
        ({"minimum": "10.00", "maximum": "5.00"}, "maximum fee (5.00) is below the minimum fee (10.00)"),
        ({"rate_percent": "150"}, "between 0 and 100"),
        ({"rate_percent": "-1"}, "between 0 and 100"),
        ({"fixed": "-1.00"}, "fixed fee cannot be negative"),
    ],
)
def test_a_fee_rule_that_makes_no_sense_is_refused_in_a_sentence(people, changes, said):
    rule = FeeRule.objects.get(currency="CNY")
    with pytest.raises(SettingRefused) as refused:
        setting_change_propose(
            acting_user=people["maker"], model=FeeRule, object_id=rule.pk, values=fee_values(rule, **changes)
        )
    assert said in refused.value.message
    assert "Constraint" not in refused.value.message
    assert not SettingChange.objects.exists()


@pytest.mark.parametrize("field, value", [("amount", "0"), ("amount", "-5"), ("count", 0), ("days", 0)])
def test_review_thresholds_and_limits_must_be_positive(people, field, value):
    kind = {"amount": "amount_over", "count": "daily_count", "days": "young_account"}[field]
    rule = ReviewRule.objects.filter(kind=kind).first()
    values = {**ReviewRuleSetting().values(rule), field: value}
    with pytest.raises(SettingRefused, match="must be above zero"):
        setting_change_propose(acting_user=people["maker"], model=ReviewRule, object_id=rule.pk, values=values)


@pytest.mark.parametrize(
    "legs, said",
    [
        ([("D", "member_account", "amount")], "at least one debit leg and one credit leg"),
        ([("D", "channel_account", "amount * 2"), ("C", "member_account", "amount")], "contains '*'"),
        ([("D", "channel_account", "amount+amount"), ("C", "member_account", "amount")], "refused as unbalanced"),
        (
            [("D", "channel_account", "__import__('os').system('id')"), ("C", "member_account", "amount")],
            "only parameter names",
        ),
    ],
)
def test_a_posting_rule_that_cannot_balance_is_refused(people, legs, said):
    rule = PostingRule.objects.get(business_type="recharge")
    with pytest.raises(SettingRefused) as refused:
        setting_change_propose(
            acting_user=people["maker"], model=PostingRule, object_id=rule.pk, values=rule_values(rule, legs)
        )
    assert said in refused.value.message


# --------------------------------------------------------- maker-checker ----


def test_a_change_takes_effect_only_when_another_admin_approves_it(people):
    rule = FeeRule.objects.get(currency="CNY")
    before = rule.minimum
    change = setting_change_propose(
        acting_user=people["maker"],
        model=FeeRule,
        object_id=rule.pk,
        values=fee_values(rule, minimum="3.00"),
        reason="cost of the bank rose",
    )
    rule.refresh_from_db()
    assert rule.minimum == before and rule.version == 1  # only proposed

    with pytest.raises(NotAllowed, match="another ledger admin"):
        setting_change_approve(acting_user=people["maker"], change_id=change.pk)
    for role in ("Finance staff", "Reviewer", "Cashier", "Auditor"):
        with pytest.raises(NotAllowed):
            setting_change_approve(acting_user=people[role], change_id=change.pk)

    approved = setting_change_approve(acting_user=people["checker"], change_id=change.pk, note="checked with treasury")
    rule.refresh_from_db()
    assert rule.minimum == Decimal("3.00") and rule.version == 2
    assert (approved.status, approved.version, approved.decided_by, approved.proposed_by) == (
        "approved",
        2,
        people["checker"],
        people["maker"],
    )
    assert approved.effective_from is not None
    changed = [(name, old, new) for name, old, new, differs in setting_change_rows(approved) if differs]
    assert changed == [("minimum", f"{before:,.2f}", "3.00")]

    with pytest.raises(SettingChangeNotOpen):
        setting_change_reject(acting_user=people["checker"], change_id=change.pk)


def test_roles_without_the_settings_permission_cannot_propose(people):
    rule = FeeRule.objects.get(currency="CNY")
    for role in ("Finance staff", "Reviewer", "Cashier", "Auditor"):
        with pytest.raises(NotAllowed):
            setting_change_propose(
                acting_user=people[role], model=FeeRule, object_id=rule.pk, values=fee_values(rule, minimum="3.00")
            )


def test_a_rejected_change_changes_nothing(people):
    rule = FeeRule.objects.get(currency="CNY")
    change = setting_change_propose(
        acting_user=people["maker"], model=FeeRule, object_id=rule.pk, values=fee_values(rule, minimum="3.00")
    )
    setting_change_reject(acting_user=people["checker"], change_id=change.pk, note="no")
    rule.refresh_from_db()
    assert rule.minimum != Decimal("3.00") and rule.version == 1


def test_a_proposal_overtaken_by_another_approved_change_is_refused(people):
    rule = FeeRule.objects.get(currency="CNY")
    first = setting_change_propose(
        acting_user=people["maker"], model=FeeRule, object_id=rule.pk, values=fee_values(rule, minimum="3.00")
    )
    second = setting_change_propose(
        acting_user=people["maker"], model=FeeRule, object_id=rule.pk, values=fee_values(rule, fixed="1.50")
    )
    setting_change_approve(acting_user=people["checker"], change_id=first.pk)
    with pytest.raises(SettingChangedMeanwhile):
        setting_change_approve(acting_user=people["checker"], change_id=second.pk)
    rule.refresh_from_db()
    assert rule.fixed != Decimal("1.50")


def test_a_new_setting_is_created_by_its_approval(people):
    values = {
        "name": "USD standard",
        "currency": "USD",
        "fixed": "0.50",
        "rate_percent": "0.1",
        "minimum": "1.00",
        "maximum": None,
        "active": True,
    }
    change = setting_change_propose(acting_user=people["maker"], model=FeeRule, values=values)
    assert not FeeRule.objects.filter(currency="USD").exists()
    approved = setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    created = FeeRule.objects.get(currency="USD")
    assert approved.object_id == str(created.pk) and created.version == 1


# ----------------------------------------------------- versions recorded ----


def test_a_posting_rule_change_raises_the_rules_version(people):
    rule = PostingRule.objects.get(business_type="recharge")
    legs = [("D", "channel_account", "amount"), ("C", "member_account", "amount")]
    change = setting_change_propose(
        acting_user=people["maker"],
        model=PostingRule,
        object_id=rule.pk,
        values=rule_values(rule, legs, description="Recharge v2"),
    )
    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    rule.refresh_from_db()
    assert (rule.version, rule.description, change.pk) == (2, "Recharge v2", SettingChange.objects.get().pk)


def test_a_withdrawal_records_the_fee_rule_version_that_priced_it(people, desk):
    rule = FeeRule.objects.get(currency="CNY")
    before = desk.request("100.00")
    change = setting_change_propose(
        acting_user=people["maker"], model=FeeRule, object_id=rule.pk, values=fee_values(rule, fixed="9.00")
    )
    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    after = desk.request("100.00")
    assert (before.fee_rule_version, after.fee_rule_version) == (1, 2)
    assert after.fee > before.fee


# ----------------------------------------------------------- names -------


def test_a_review_rules_name_follows_its_threshold(people):
    rule = ReviewRule.objects.filter(kind="dual_approval").first()
    values = {**ReviewRuleSetting().values(rule), "amount": "25000.00"}
    change = setting_change_propose(acting_user=people["maker"], model=ReviewRule, object_id=rule.pk, values=values)
    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    rule.refresh_from_db()
    assert rule.name == f"Above 25,000.00 {rule.currency or 'any currency'}: two reviewers"


def test_a_name_written_with_the_change_is_kept(people):
    rule = ReviewRule.objects.filter(kind="dual_approval").first()
    values = {**ReviewRuleSetting().values(rule), "amount": "25000.00", "name": "Big ones: two pairs of eyes"}
    change = setting_change_propose(acting_user=people["maker"], model=ReviewRule, object_id=rule.pk, values=values)
    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    rule.refresh_from_db()
    assert rule.name == "Big ones: two pairs of eyes"


# ------------------------------------------------------ history is kept ----


def test_the_database_keeps_the_history(people):
    rule = FeeRule.objects.get(currency="CNY")
    change = setting_change_propose(
        acting_user=people["maker"], model=FeeRule, object_id=rule.pk, values=fee_values(rule, minimum="3.00")
    )
    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    for statement in (
        "DELETE FROM kernel_settingchange WHERE id = %s",
        "UPDATE kernel_settingchange SET new_values = '{}' WHERE id = %s",
        "UPDATE kernel_settingchange SET status = 'rejected' WHERE id = %s",
    ):
        with pytest.raises((IntegrityError, InternalError)), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [change.pk])
    assert SettingChange.objects.get(pk=change.pk).status == "approved"
