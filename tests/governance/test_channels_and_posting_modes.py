"""Payment channels and an account type's posting mode are control settings
too (issue 19 §1): a ledger admin proposes, another approves, nobody else
may do either, and the history keeps the values."""

from __future__ import annotations

import pytest
from django.forms.models import model_to_dict

from accounts.kernel.governance import (
    SettingRefused,
    governed,
    setting_change_approve,
    setting_change_propose,
    setting_change_rows,
)
from accounts.kernel.models import SettingChange
from accounts.models import AccountPostingModeChange, AccountType
from reports.channel.models import Channel

from .conftest import ROLES
from .test_setting_admin import admin_url, as_user

pytestmark = pytest.mark.django_db
OTHERS = [role for role in ROLES if role != "Ledger admin"]


def channel_data(channel: Channel, **changes) -> dict:
    data = {}
    for name, value in {**model_to_dict(channel), **changes}.items():
        if name == "id":
            continue
        if name == "clearing_accounts":
            data[name] = [getattr(account, "pk", account) for account in value]
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else value
    return data


@pytest.fixture
def channel(ledger):
    channel = Channel.objects.order_by("pk").first()
    channel.clearing_accounts.set([ledger.channel()])
    return channel


# ------------------------------------------------------------- channels ----


def test_a_channel_change_is_proposed_by_a_ledger_admin_and_in_force_once_another_approves(people, channel, ledger):
    url = admin_url(Channel, "change", channel.pk)
    form = as_user(people["maker"]).get(url).content.decode()
    assert 'name="change_reason"' in form and 'name="change_effective_from"' in form
    read_only = as_user(people["Auditor"]).get(url)
    assert read_only.status_code == 200 and 'name="change_reason"' not in read_only.content.decode()
    data = channel_data(channel, pending_window_minutes=45, change_reason="the bank answers later now")
    for role in OTHERS:
        assert as_user(people[role]).post(url, data).status_code == 403, role
    assert not SettingChange.objects.exists()

    response = as_user(people["maker"]).post(url, data, follow=True)
    assert "proposed; it takes effect when another ledger admin approves it" in response.content.decode()
    change = SettingChange.objects.get()
    assert Channel.objects.get(pk=channel.pk).pending_window_minutes == channel.pending_window_minutes

    as_user(people["checker"]).post(admin_url(SettingChange, "approve", change.pk))
    changed = Channel.objects.get(pk=channel.pk)
    assert changed.pending_window_minutes == 45
    assert list(changed.clearing_accounts.all()) == [ledger.channel()]  # the accounts came through the proposal

    history = as_user(people["Auditor"]).get(admin_url(Channel, "history", channel.pk), follow=True).content.decode()
    assert f"{channel.pending_window_minutes} → 45" in history and "checker" in history


def test_a_channels_clearing_accounts_are_part_of_the_change(people, channel, ledger):
    second = ledger.internal("CHANNEL_CLEARING", currency="USD")
    values = {**governed(Channel).values(channel), "clearing_accounts": [ledger.channel().pk, second.pk]}
    change = setting_change_propose(acting_user=people["maker"], model=Channel, object_id=channel.pk, values=values)
    assert list(channel.clearing_accounts.all()) == [ledger.channel()]
    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    assert set(channel.clearing_accounts.all()) == {ledger.channel(), second}
    shown = {name: (old, new) for name, old, new, changed in setting_change_rows(change) if changed}
    assert shown["clearing accounts"] == (
        ledger.channel().account_no,
        f"{ledger.channel().account_no}, {second.account_no}",
    )


def test_a_clearing_account_of_another_channel_is_refused_when_proposed(people, channel, ledger):
    other = Channel.objects.exclude(pk=channel.pk).first()
    values = {**governed(Channel).values(other), "clearing_accounts": [ledger.channel().pk]}
    with pytest.raises(SettingRefused, match=f"already the clearing account of {channel.code}"):
        setting_change_propose(acting_user=people["maker"], model=Channel, object_id=other.pk, values=values)


# -------------------------------------------------------- posting modes ----


def test_a_types_posting_mode_changes_only_when_a_second_ledger_admin_approves(people, ledger):
    fee_income = ledger.internal("FEE_INCOME")
    fee_type = AccountType.objects.get(code="FEE_INCOME")
    changelist = admin_url(AccountType, "changelist")
    action = {"action": "make_buffered", "_selected_action": [fee_type.pk]}
    for role in OTHERS:
        as_user(people[role]).post(changelist, action)
    assert not SettingChange.objects.exists()

    response = as_user(people["maker"]).post(changelist, action, follow=True)
    assert "proposed: buffered" in response.content.decode()
    change = SettingChange.objects.get()
    fee_type.refresh_from_db()
    fee_income.refresh_from_db()
    assert (fee_type.posting_mode, fee_income.posting_mode) == ("realtime", "realtime")
    assert (change.old_values["posting_mode"], change.new_values["posting_mode"]) == ("realtime", "buffered")

    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    fee_type.refresh_from_db()
    fee_income.refresh_from_db()
    assert (fee_type.posting_mode, fee_income.posting_mode) == ("buffered", "buffered")
    switch = AccountPostingModeChange.objects.get(account=fee_income)
    assert (switch.to_mode, switch.via_type) == ("buffered", "FEE_INCOME")
    assert switch.changed_by == f"checker (C{change.pk} by maker)"


def test_a_type_with_money_frozen_on_an_account_cannot_be_proposed_buffered(people, ledger):
    from postings.services import hold_place

    member = ledger.cash()
    ledger.recharge(member, "10.00")
    hold_place(account_no=member.account_no, amount="1.00", request_no="h1", reason="test", actor="t")
    cash_type = member.account_type
    values = {**governed(AccountType).values(cash_type), "posting_mode": "buffered"}
    with pytest.raises(SettingRefused, match=f"Money is frozen on {member.account_no}"):
        setting_change_propose(acting_user=people["maker"], model=AccountType, object_id=cash_type.pk, values=values)
