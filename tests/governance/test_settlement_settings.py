"""Merchants' T+N terms and channels' settlement setups are control
settings: a ledger admin proposes, another approves, and only then does
settlement follow them."""

from __future__ import annotations

from datetime import date

import pytest

from accounts.kernel.errors import NotAllowed
from accounts.kernel.governance import SettingRefused, setting_change_approve, setting_change_propose
from reports.channel.models import Channel
from reports.settlement.models import ChannelSettlementSetup, SettlementTerm
from reports.settlement.services import merchant_settlements_run
from tests.settlement.books import D, balances, ensure_settlement_roles, on_day, pay

pytestmark = pytest.mark.django_db


def test_a_t_plus_n_term_takes_effect_when_a_second_admin_approves_it(people, ledger):
    ensure_settlement_roles()
    merchant = ledger.member("Shop")
    available, pending = ledger.cash(merchant), ledger.cash(merchant)
    buyer = ledger.cash()
    ledger.recharge(buyer, "100")
    on_day(ledger.entity, date(2026, 11, 2))
    pay(ledger, buyer, pending, "10.00")
    on_day(ledger.entity, date(2026, 11, 4))
    values = {"account": available.pk, "pending_account": pending.pk, "days": 1}
    with pytest.raises(NotAllowed):
        setting_change_propose(acting_user=people["Finance staff"], model=SettlementTerm, values=values)
    change = setting_change_propose(acting_user=people["maker"], model=SettlementTerm, values=values)
    assert merchant_settlements_run().settled == []  # not in force yet
    with pytest.raises(NotAllowed):
        setting_change_approve(acting_user=people["maker"], change_id=change.pk)
    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    assert [s.amount for s in merchant_settlements_run().settled] == [D("10.00")]
    assert balances(available, pending) == [D("10.00"), D("0")]


def test_a_term_between_two_merchants_or_a_setup_on_customer_accounts_is_refused(people, ledger):
    ensure_settlement_roles()
    available, stranger = ledger.cash(), ledger.cash()
    for values in (
        {"account": available.pk, "pending_account": stranger.pk, "days": 1},  # another member's account
        {"account": available.pk, "pending_account": ledger.cash(available.member, currency="USD").pk, "days": 1},
        {"account": available.pk, "pending_account": ledger.cash(available.member).pk, "days": 0},
    ):
        with pytest.raises(SettingRefused):
            setting_change_propose(acting_user=people["maker"], model=SettlementTerm, values=values)
    channel = Channel.objects.create(
        code="c1", name="c1", entity=ledger.entity, col_serial="s", col_time="t", col_amount="a"
    )
    with pytest.raises(SettingRefused):
        setting_change_propose(
            acting_user=people["maker"],
            model=ChannelSettlementSetup,
            values={
                "channel": channel.pk,
                "bank_account": available.pk,
                "fee_account": ledger.internal("CHANNEL_FEE").pk,
            },
        )
    change = setting_change_propose(
        acting_user=people["maker"],
        model=ChannelSettlementSetup,
        values={
            "channel": channel.pk,
            "bank_account": ledger.internal("RESERVE_FUND").pk,
            "fee_account": ledger.internal("CHANNEL_FEE").pk,
        },
    )
    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    assert ChannelSettlementSetup.objects.get().bank_account.account_type.code == "RESERVE_FUND"
