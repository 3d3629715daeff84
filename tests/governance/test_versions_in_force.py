"""Which version of a control setting a posting or a withdrawal was booked
under (issue 19 §1): each posting made through a posting rule records the
rule's version, on the one call (ledger_post) and on the full path alike; a
change approved with a later effective-from time leaves the version in force
until then, and the apply job puts the new one in force when it is due."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.db.utils import IntegrityError, InternalError
from django.test import override_settings
from django.utils import timezone

from accounts.kernel.governance import (
    SettingChangeScheduled,
    SettingRefused,
    setting_change_approve,
    setting_change_propose,
    setting_changes_apply_due,
)
from accounts.kernel.models import SettingChange
from postings.models import Posting, PostingRule
from postings.services import FULL_PATH_FALLBACKS, Leg, PostingRequest, posting_create, posting_create_batch
from withdrawals.models import FeeRule

from .test_setting_changes import fee_values, rule_values

pytestmark = pytest.mark.django_db

# The recharge rule's second version: the channel also pays the member a bonus.
BONUS_LEGS = [("D", "channel_account", "amount+bonus"), ("C", "member_account", "amount+bonus")]


def bonus_rule_change(people, *, effective_from=None) -> SettingChange:
    rule = PostingRule.objects.get(business_type="recharge")
    return setting_change_propose(
        acting_user=people["maker"],
        model=PostingRule,
        object_id=rule.pk,
        values=rule_values(rule, BONUS_LEGS, description="Recharge with a bonus"),
        effective_from=effective_from,
    )


def by_rule(ledger, member, request_no: str, **params) -> Posting:
    from postings.services import posting_create_by_rule

    return posting_create_by_rule(
        business_type="recharge",
        request_no=request_no,
        params={
            "member_account": member.account_no,
            "channel_account": ledger.channel().account_no,
            "amount": "100.00",
            **params,
        },
        posted_by="trade",
    )


# ------------------------------------------------- the version recorded ----


@pytest.mark.parametrize("one_call", [True, False], ids=["ledger_post", "full_path"])
def test_a_posting_records_the_rule_version_it_was_booked_under(people, ledger, one_call):
    member = ledger.cash()
    ledger.recharge(member, "1.00")  # the entity's first posting (it opens the calendar) is behind us
    with override_settings(POSTING_ONE_CALL=one_call):
        fallbacks = sum(FULL_PATH_FALLBACKS.values())
        old = by_rule(ledger, member, "v1")
        setting_change_approve(acting_user=people["checker"], change_id=bonus_rule_change(people).pk)
        new = by_rule(ledger, member, "v2", bonus="5.00")
        if one_call:  # it took both, without a fall back to the full path
            assert sum(FULL_PATH_FALLBACKS.values()) == fallbacks

    assert (old.rule_version, new.rule_version) == (1, 2)
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.rule_version, new.rule_version) == (1, 2)  # as stored, not only as returned
    assert ledger.balance(member) == 1 + 100 + 105  # version 2's legs booked the bonus


def test_a_back_dated_posting_by_rule_takes_the_full_path_and_records_the_version(people, ledger):
    member = ledger.cash()
    ledger.recharge(member, "1.00")
    from postings.services import posting_create_by_rule

    day = Posting.objects.latest("serial_no").accounting_date
    posting = posting_create_by_rule(
        business_type="recharge",
        request_no="back-dated",
        params={"member_account": member.account_no, "channel_account": ledger.channel().account_no, "amount": "3"},
        posted_by="trade",
        accounting_date=day,
    )
    assert Posting.objects.get(pk=posting.pk).rule_version == 1


def test_legs_given_by_the_caller_record_no_rule_version(people, ledger):
    member, other = ledger.cash(), ledger.cash()
    ledger.recharge(member, "100.00")
    single = posting_create(
        request_no="legs",
        business_type="transfer",
        legs=[Leg(member.account_no, "D", "1"), Leg(other.account_no, "C", "1")],
        posted_by="t",
    )
    (item,) = posting_create_batch(
        [
            PostingRequest(
                request_no="batch-1",
                business_type="transfer",
                legs=[Leg(member.account_no, "D", "1"), Leg(other.account_no, "C", "1")],
            )
        ],
        posted_by="t",
    )
    assert item.error is None
    assert list(Posting.objects.filter(request_no__in=["legs", "batch-1"]).values_list("rule_version", flat=True)) == [
        None,
        None,
    ]
    assert single.rule_version is None


# --------------------------------------------------------- effective-from ----


def test_a_change_approved_for_later_leaves_the_version_in_force_until_then(people, ledger):
    member = ledger.cash()
    ledger.recharge(member, "1.00")
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        change = bonus_rule_change(people, effective_from=start + timedelta(hours=1))
        approved = setting_change_approve(acting_user=people["checker"], change_id=change.pk)
        assert (approved.status, approved.version, approved.applied_at) == ("scheduled", None, None)
        assert PostingRule.objects.get(business_type="recharge").version == 1

        before = by_rule(ledger, member, "before-due", bonus="5.00")
        clock.move_to(start + timedelta(minutes=59))
        assert setting_changes_apply_due() == []
        clock.move_to(start + timedelta(hours=1, seconds=1))
        assert setting_changes_apply_due() == [change.pk]
        assert setting_changes_apply_due() == []  # once
        after = by_rule(ledger, member, "after-due", bonus="5.00")

    change.refresh_from_db()
    assert (change.status, change.version, change.effective_from) == ("approved", 2, start + timedelta(hours=1))
    assert change.applied_at == start + timedelta(hours=1, seconds=1)
    assert change.decided_by == people["checker"]
    assert [p.rule_version for p in Posting.objects.filter(pk__in=[before.pk, after.pk]).order_by("pk")] == [1, 2]
    # Version 1 had no bonus leg: the bonus given before the time was not booked.
    assert ledger.balance(member) == 1 + 100 + 105


def test_withdrawal_fees_follow_the_fee_rule_in_force_when_requested(people, desk):
    rule = FeeRule.objects.get(currency="CNY")
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        change = setting_change_propose(
            acting_user=people["maker"],
            model=FeeRule,
            object_id=rule.pk,
            values=fee_values(rule, fixed="9.00"),
            effective_from=start + timedelta(days=1),
        )
        setting_change_approve(acting_user=people["checker"], change_id=change.pk)
        before = desk.request("100.00")
        clock.move_to(start + timedelta(days=1))
        setting_changes_apply_due()
        after = desk.request("100.00")
    assert (before.fee_rule_version, after.fee_rule_version) == (1, 2)
    assert after.fee > before.fee


def test_an_effective_time_already_past_is_refused_and_empty_means_at_approval(people):
    with pytest.raises(SettingRefused, match="has passed"):
        bonus_rule_change(people, effective_from=timezone.now() - timedelta(minutes=1))
    approved = setting_change_approve(acting_user=people["checker"], change_id=bonus_rule_change(people).pk)
    assert approved.status == "approved" and approved.version == 2
    assert approved.effective_from == approved.applied_at == approved.decided_at


def test_nothing_else_changes_a_setting_while_a_change_of_it_is_scheduled(people):
    waiting = bonus_rule_change(people)  # proposed before the other is scheduled
    scheduled = bonus_rule_change(people, effective_from=timezone.now() + timedelta(hours=1))
    setting_change_approve(acting_user=people["checker"], change_id=scheduled.pk)
    with pytest.raises(SettingChangeScheduled, match=f"C{scheduled.pk}"):
        bonus_rule_change(people)
    with pytest.raises(SettingChangeScheduled):
        setting_change_approve(acting_user=people["checker"], change_id=waiting.pk)
    assert PostingRule.objects.get(business_type="recharge").version == 1


def test_the_database_lets_a_scheduled_change_only_be_applied_once(people):
    change = bonus_rule_change(people, effective_from=timezone.now() + timedelta(hours=1))
    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    for statement in (
        "UPDATE kernel_settingchange SET effective_from = now() WHERE id = %s",
        "UPDATE kernel_settingchange SET decided_by_id = proposed_by_id + 0 * id, status = 'approved' WHERE id = %s",
        "UPDATE kernel_settingchange SET status = 'rejected' WHERE id = %s",
        "UPDATE kernel_settingchange SET new_values = '{}', status = 'approved' WHERE id = %s",
    ):
        with pytest.raises((IntegrityError, InternalError)), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [change.pk])
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert setting_changes_apply_due() == [change.pk]
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE kernel_settingchange SET applied_at = now() WHERE id = %s", [change.pk])


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_redis_puts_a_due_change_in_force(ledger, celery_worker_on_redis):
    from .conftest import ensure_governance_roles, staff

    ensure_governance_roles()
    people = {"maker": staff("maker", "Ledger admin"), "checker": staff("checker", "Ledger admin")}
    # Proposed and approved an hour ago, to take effect half an hour ago: due
    # for the worker, whose clock is the real one.
    an_hour_ago = timezone.now() - timedelta(hours=1)
    with time_machine.travel(an_hour_ago, tick=False):
        change = bonus_rule_change(people, effective_from=an_hour_ago + timedelta(minutes=30))
        setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    assert PostingRule.objects.get(business_type="recharge").version == 1

    assert celery_worker_on_redis("accounts.kernel.tasks.setting_changes_apply_due") == [change.pk]
    assert celery_worker_on_redis("accounts.kernel.tasks.setting_changes_apply_due") == []
    rule = PostingRule.objects.get(business_type="recharge")
    assert (rule.version, rule.description) == (2, "Recharge with a bonus")
    assert [leg.amount_expr for leg in rule.legs.order_by("position")] == ["amount+bonus", "amount+bonus"]
    assert SettingChange.objects.get(pk=change.pk).status == "approved"


def test_a_postings_admin_page_names_the_rule_version_and_links_its_history(people, ledger):
    from django.test import Client
    from django.urls import reverse

    member = ledger.cash()
    posting = ledger.recharge(member, "1.00")
    client = Client()
    client.force_login(people["Auditor"])
    page = client.get(reverse("admin:postings_posting_change", args=[posting.pk])).content.decode()
    rule = PostingRule.objects.get(business_type="recharge")
    assert f'href="{reverse("admin:postings_postingrule_history", args=[rule.pk])}">v1 of {rule}</a>' in page
