# ruff: noqa: F811  (desk is a fixture imported from tests/withdrawals/conftest.py)
"""Withdrawals in the admin: requests and their history are view-only, even
to a superuser, and never show the full card number; the rules finance
edits are editable by the Ledger admin role and nobody else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.kernel.governance import setting_change_approve
from accounts.kernel.models import SettingChange
from tests.withdrawals.conftest import CARD_OK, desk, staff  # noqa: F401  (desk is a fixture)
from withdrawals import services
from withdrawals.models import FeeRule, PayingBank, ReviewRule, WatchListEntry, Withdrawal, WithdrawalEvent

from .conftest import admin_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(desk, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        w = desk.request("250.00")
    services.withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"))
    with django_capture_on_commit_callbacks(execute=True):
        services.payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    w.refresh_from_db()
    assert w.status == "paid"
    return w


def test_withdrawals_are_view_only_and_hide_the_card_number(admin_client, paid):
    assert admin_client.post(admin_url(Withdrawal, "change", paid.pk), {"status": "approved"}).status_code == 403
    assert admin_client.post(admin_url(Withdrawal, "delete", paid.pk), {"post": "yes"}).status_code == 403
    page = admin_client.get(admin_url(Withdrawal, "change", paid.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    assert CARD_OK not in page.text
    assert paid.card_masked in page.text
    # The history is there, ending with the bank's answer.
    assert "bank:callback" in page.text
    assert Withdrawal.objects.get(pk=paid.pk).status == "paid"
    assert WithdrawalEvent.objects.filter(withdrawal=paid).count() == 5


@pytest.mark.local_afternoon  # made and filtered on one local day
def test_created_date_range_includes_the_last_day(admin_client, paid):
    today = timezone.localdate()
    url = admin_url(Withdrawal, "changelist")
    shown = admin_client.get(
        url, {"created_at__date__gte": today.isoformat(), "created_at__date__lte": today.isoformat()}
    )
    assert shown.context["cl"].result_count == 1
    before = admin_client.get(url, {"created_at__date__lte": (today - timedelta(days=1)).isoformat()})
    assert before.context["cl"].result_count == 0


def test_ledger_admin_edits_rules_others_only_look(client, desk):
    rule = ReviewRule.objects.get(code="large-amount")
    url = admin_url(ReviewRule, "change", rule.pk)
    data = {"kind": "amount_over", "name": "Above 8,000", "currency": "CNY", "amount": "8000", "active": "on"}
    for role in ("Reviewer", "Cashier", "Auditor", "Finance staff"):
        client.force_login(desk.user(role))
        assert client.post(url, data).status_code == 403, role
    assert ReviewRule.objects.get(pk=rule.pk).amount == 5000

    client.force_login(desk.user("Ledger admin"))
    assert client.post(url, data).status_code == 302
    assert ReviewRule.objects.get(pk=rule.pk).amount == 5000  # proposed; a second ledger admin approves
    change = SettingChange.objects.get(status="proposed")
    setting_change_approve(acting_user=desk.user("Ledger admin", "checker"), change_id=change.pk)
    rule.refresh_from_db()
    assert (rule.amount, rule.name, rule.code) == (8000, "Above 8,000", "large-amount")


def test_watch_list_records_who_added_the_member(client, desk):
    client.force_login(desk.user("Ledger admin"))
    member = desk.member_account.member
    response = client.post(
        admin_url(WatchListEntry, "add"), {"member": member.pk, "reason": "chargebacks", "active": "on"}
    )
    assert response.status_code == 302
    assert WatchListEntry.objects.get(member=member).added_by == "ledger_admin"


def test_paying_bank_takes_only_a_channel_clearing_account(client, desk):
    client.force_login(desk.user("Ledger admin"))
    response = client.post(
        admin_url(PayingBank, "add"),
        {
            "code": "boc",
            "name": "BOC",
            "gateway": "sandbox",
            "clearing_account": desk.fee_income.pk,
            "active": "on",
        },
    )
    assert response.status_code == 200  # the form again, with an error
    assert "clearing_account" in response.context["adminform"].form.errors
    assert not PayingBank.objects.filter(code="boc").exists()


def test_fee_rules_cannot_be_deleted(admin_client):
    rule = FeeRule.objects.get(currency="CNY")
    assert admin_client.post(admin_url(FeeRule, "delete", rule.pk), {"post": "yes"}).status_code == 403
    assert FeeRule.objects.filter(pk=rule.pk).exists()
