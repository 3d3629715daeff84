"""Settlement's control settings, changed by maker-checker
(``accounts.kernel.governance``): which merchants are paid T+N and how,
where each channel is settled to."""

from __future__ import annotations

from accounts.kernel.governance import GovernedSetting, register

from .models import ChannelSettlementSetup, SettlementTerm


class SettlementTermSetting(GovernedSetting):
    model = SettlementTerm
    fields = ("account", "pending_account", "days")


class ChannelSettlementSetupSetting(GovernedSetting):
    model = ChannelSettlementSetup
    fields = ("channel", "bank_account", "fee_account")


def register_settings() -> None:
    register(SettlementTermSetting())
    register(ChannelSettlementSetupSetting())
