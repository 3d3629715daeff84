"""Cancelling a scheduled setting change (issue 19 §1): a ledger admin
withdraws a change approved for later, with a reason, before it takes
effect; the history says who, when and why, the apply job passes it by, and
the setting's next change can be proposed, which a scheduled change that
can no longer be written used to block for good. The database lets a
scheduled change be cancelled once, and nothing else."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
import time_machine
from django.utils import timezone

from accounts.kernel.errors import NotAllowed
from accounts.kernel.governance import (
    SettingChangeNotScheduled,
    SettingChangeScheduled,
    SettingRefused,
    setting_change_approve,
    setting_change_cancel,
    setting_change_propose,
    setting_changes_apply_due,
)
from accounts.kernel.models import SettingChange
from withdrawals.models import FeeRule

from .conftest import ROLES
from .test_setting_admin import admin_url, as_user
from .test_setting_changes import fee_values

pytestmark = pytest.mark.django_db
LEDGER_ADMINS = ("Ledger admin", "maker", "checker")


def scheduled_fee_change(people, *, fixed="9.00", hours=1) -> SettingChange:
    rule = FeeRule.objects.get(currency="CNY")
    change = setting_change_propose(
        acting_user=people["maker"],
        model=FeeRule,
        object_id=rule.pk,
        values=fee_values(rule, fixed=fixed),
        effective_from=timezone.now() + timedelta(hours=hours),
    )
    return setting_change_approve(acting_user=people["checker"], change_id=change.pk)


def test_a_cancelled_change_is_never_written_and_its_history_says_who_when_and_why(people):
    fixed_in_force = FeeRule.objects.get(currency="CNY").fixed
    change = scheduled_fee_change(people)
    assert change.status == "scheduled"

    cancelled = setting_change_cancel(acting_user=people["Ledger admin"], change_id=change.pk, reason=" wrong fee ")
    assert (cancelled.status, cancelled.cancelled_by, cancelled.cancel_reason) == (
        "cancelled",
        people["Ledger admin"],
        "wrong fee",
    )
    assert cancelled.cancelled_at is not None
    # The approval stays as it was: who approved, and the time it was meant for.
    assert (cancelled.decided_by, cancelled.effective_from) == (people["checker"], change.effective_from)

    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert setting_changes_apply_due() == []
    rule = FeeRule.objects.get(currency="CNY")
    assert (rule.fixed, rule.version) == (fixed_in_force, 1)
    assert SettingChange.objects.get(pk=change.pk).applied_at is None


def test_a_change_that_can_no_longer_be_written_is_cancelled_and_the_setting_changes_again(people):
    change = scheduled_fee_change(people)
    # Written under the change by something that bypassed governance (a
    # restored backup, a data fix): the change's "before" is no longer true.
    FeeRule.objects.filter(currency="CNY").update(minimum="1.50")
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert setting_changes_apply_due() == []
    assert SettingChange.objects.get(pk=change.pk).status == "scheduled"
    with pytest.raises(SettingChangeScheduled):
        scheduled_fee_change(people, fixed="7.00")

    setting_change_cancel(acting_user=people["maker"], change_id=change.pk, reason="overtaken by the data fix")
    again = scheduled_fee_change(people, fixed="7.00")
    assert again.status == "scheduled"
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert setting_changes_apply_due() == [again.pk]
    assert FeeRule.objects.get(currency="CNY").fixed == 7


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_cancel_without_a_reason_is_refused_and_changes_nothing(people, reason):
    change = scheduled_fee_change(people)
    with pytest.raises(SettingRefused, match="Say why"):
        setting_change_cancel(acting_user=people["checker"], change_id=change.pk, reason=reason)
    assert SettingChange.objects.get(pk=change.pk).status == "scheduled"


def test_only_a_scheduled_change_is_cancelled_and_only_once(people):
    rule = FeeRule.objects.get(currency="CNY")
    proposal = setting_change_propose(
        acting_user=people["maker"], model=FeeRule, object_id=rule.pk, values=fee_values(rule, fixed="8.00")
    )
    with pytest.raises(SettingChangeNotScheduled, match="proposed"):
        setting_change_cancel(acting_user=people["checker"], change_id=proposal.pk, reason="x")
    in_force = setting_change_approve(acting_user=people["checker"], change_id=proposal.pk)
    with pytest.raises(SettingChangeNotScheduled, match="approved"):
        setting_change_cancel(acting_user=people["checker"], change_id=in_force.pk, reason="x")

    change = scheduled_fee_change(people)
    setting_change_cancel(acting_user=people["checker"], change_id=change.pk, reason="first")
    with pytest.raises(SettingChangeNotScheduled, match="cancelled"):
        setting_change_cancel(acting_user=people["maker"], change_id=change.pk, reason="second")
    assert SettingChange.objects.get(pk=change.pk).cancel_reason == "first"


@pytest.mark.parametrize("role", [role for role in ROLES if role != "Ledger admin"])
def test_no_other_role_cancels(people, role):
    change = scheduled_fee_change(people)
    with pytest.raises(NotAllowed):
        setting_change_cancel(acting_user=people[role], change_id=change.pk, reason="x")
    assert SettingChange.objects.get(pk=change.pk).status == "scheduled"


# ------------------------------------------------------------- the admin ----


@pytest.mark.parametrize("role", [*ROLES, "maker", "checker"])
def test_who_sees_the_cancel_button_and_who_may_cancel(people, role):
    change = scheduled_fee_change(people)
    client = as_user(people[role])
    page = client.get(admin_url(SettingChange, "change", change.pk))
    reads = role in ("Finance staff", "Auditor", *LEDGER_ADMINS)
    assert page.status_code == (200 if reads else 403)
    if reads:
        assert (">Cancel the change</button>" in page.content.decode()) == (role in LEDGER_ADMINS)

    response = client.post(
        admin_url(SettingChange, "cancel", change.pk), {"cancel_reason": "the bank withdrew its offer"}, follow=True
    )
    change.refresh_from_db()
    if role in LEDGER_ADMINS:
        assert (change.status, change.cancelled_by) == ("cancelled", people[role])
        assert "cancelled; the version in force stays" in response.content.decode()
    else:
        assert change.status == "scheduled"
        if reads:  # told on the page they read
            assert "may not cancel a scheduled change of a control setting" in response.content.decode()
        else:
            assert response.status_code == 403


def test_the_history_shows_the_cancel_to_finance_and_the_auditor(people):
    change = scheduled_fee_change(people)
    as_user(people["checker"]).post(
        admin_url(SettingChange, "cancel", change.pk), {"cancel_reason": "the bank withdrew its offer"}
    )
    for role in ("Finance staff", "Auditor"):
        client = as_user(people[role])
        page = client.get(admin_url(SettingChange, "change", change.pk)).content.decode()
        assert "the bank withdrew its offer" in page and "checker" in page
        assert "Cancel the change" not in page
        listing = client.get(admin_url(SettingChange, "changelist") + "?status__exact=cancelled").content.decode()
        assert f"C{change.pk}" in listing and "cancelled, never in force" in listing


def test_a_blank_reason_on_the_page_is_said_and_nothing_changes(people):
    change = scheduled_fee_change(people)
    response = as_user(people["checker"]).post(
        admin_url(SettingChange, "cancel", change.pk), {"cancel_reason": ""}, follow=True
    )
    assert "Say why the change is cancelled" in response.content.decode()
    assert SettingChange.objects.get(pk=change.pk).status == "scheduled"


def test_cancel_takes_only_a_post(people):
    change = scheduled_fee_change(people)
    assert as_user(people["checker"]).get(admin_url(SettingChange, "cancel", change.pk)).status_code == 405


# ------------------------------------------------------------ the database ----

CANCEL = (
    "UPDATE kernel_settingchange SET status = 'cancelled', cancelled_by_id = %s, cancelled_at = now(), "
    "cancel_reason = %s WHERE id = %s"
)


@pytest.mark.django_db(transaction=True)
def test_the_database_lets_a_scheduled_change_be_cancelled_once_with_a_reason(runtime_sql):
    from .conftest import ensure_governance_roles, staff

    ensure_governance_roles()
    people = {"maker": staff("maker", "Ledger admin"), "checker": staff("checker", "Ledger admin")}
    change = scheduled_fee_change(people)
    admin_id = people["maker"].pk
    forgeries = [
        (CANCEL, [admin_id, "  ", change.pk]),  # no reason
        (CANCEL.replace("%s WHERE", "%s, version = 2 WHERE"), [admin_id, "r", change.pk]),
        (CANCEL.replace("%s WHERE", "%s, decision_note = 'forged' WHERE"), [admin_id, "r", change.pk]),
        (CANCEL.replace("%s WHERE", "%s, applied_at = now() WHERE"), [admin_id, "r", change.pk]),
        ("UPDATE kernel_settingchange SET status = 'cancelled' WHERE id = %s", [change.pk]),  # by nobody
        ("UPDATE kernel_settingchange SET cancel_reason = 'x' WHERE id = %s", [change.pk]),  # still scheduled
    ]
    for sql, params in forgeries:
        with pytest.raises(psycopg.errors.RestrictViolation):
            runtime_sql(sql, params)

    runtime_sql(CANCEL, [admin_id, "real reason", change.pk])
    for sql, params in [
        (CANCEL, [admin_id, "another reason", change.pk]),  # once
        ("UPDATE kernel_settingchange SET status = 'approved', applied_at = now() WHERE id = %s", [change.pk]),
        ("UPDATE kernel_settingchange SET status = 'scheduled' WHERE id = %s", [change.pk]),
        ("DELETE FROM kernel_settingchange WHERE id = %s", [change.pk]),
    ]:
        with pytest.raises(psycopg.errors.RestrictViolation):
            runtime_sql(sql, params)
    row = SettingChange.objects.get(pk=change.pk)
    assert (row.status, row.cancel_reason, row.cancelled_by_id) == ("cancelled", "real reason", admin_id)


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_cancelling_a_proposal_and_cancel_fields_on_a_decision(runtime_sql):
    from .conftest import ensure_governance_roles, staff

    ensure_governance_roles()
    maker = staff("maker", "Ledger admin")
    checker = staff("checker", "Ledger admin")
    rule = FeeRule.objects.get(currency="CNY")
    proposal = setting_change_propose(
        acting_user=maker, model=FeeRule, object_id=rule.pk, values=fee_values(rule, fixed="8.00")
    )
    for sql, params in [
        (CANCEL, [checker.pk, "r", proposal.pk]),
        (
            "UPDATE kernel_settingchange SET status = 'rejected', decided_by_id = %s, decided_at = now(), "
            "cancel_reason = 'r' WHERE id = %s",
            [checker.pk, proposal.pk],
        ),
    ]:
        with pytest.raises(psycopg.errors.RestrictViolation):
            runtime_sql(sql, params)
    assert SettingChange.objects.get(pk=proposal.pk).status == "proposed"


# ------------------------------------------------------------ the browser ----


@pytest.mark.django_db(transaction=True)
def test_a_ledger_admin_cancels_a_scheduled_change_in_the_browser(live_server, ledger):
    from tests.browser import chromium, expect, log_in, screenshot

    from .conftest import ensure_governance_roles, staff

    ensure_governance_roles()
    people = {"maker": staff("maker", "Ledger admin"), "checker": staff("checker", "Ledger admin")}
    staff("auditor", "Auditor")
    change = scheduled_fee_change(people)
    url = f"{live_server.url}{admin_url(SettingChange, 'change', change.pk)}"
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        log_in(page, live_server.url, "maker")
        page.goto(url)
        page.get_by_role("button", name="Cancel the change").click()
        expect(page.locator("ul.messagelist")).to_contain_text("Say why the change is cancelled")
        page.fill("#id_cancel_reason", "the bank withdrew its offer")
        page.get_by_role("button", name="Cancel the change").click()
        expect(page.locator("ul.messagelist")).to_contain_text("cancelled; the version in force stays")
        expect(page.locator("#cancel")).to_have_count(0)
        screenshot(page, "governance-4-cancelled")
        page.close()

        auditor = browser.new_page(viewport={"width": 1400, "height": 1000})
        log_in(auditor, live_server.url, "auditor")
        auditor.goto(url)
        expect(auditor.locator(".field-cancel_reason")).to_contain_text("the bank withdrew its offer")
        expect(auditor.locator(".field-cancelled_by")).to_contain_text("maker")
        expect(auditor.locator(".field-status")).to_contain_text("cancelled before taking effect (已撤销)")
        auditor.close()
    assert SettingChange.objects.get(pk=change.pk).status == "cancelled"
