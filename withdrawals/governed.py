"""Fee rules, review rules and paying banks as governed settings
(``accounts.kernel.governance``). Their checks are the models' ``clean``."""

from __future__ import annotations

from accounts.kernel.governance import GovernedSetting, register

from .models import FeeRule, PayingBank, ReviewRule

REVIEW_RULE_SETTINGS = ("kind", "currency", "amount", "count", "days")


class FeeRuleSetting(GovernedSetting):
    model = FeeRule
    fields = ("name", "currency", "fixed", "rate_percent", "minimum", "maximum", "active")


class ReviewRuleSetting(GovernedSetting):
    model = ReviewRule
    fields = ("code", "kind", "name", "currency", "amount", "count", "days", "active")

    def derive(self, old, new):
        # "Above 50,000 CNY: two reviewers" must not stay when the threshold
        # becomes 25,000: unless the proposer wrote a new name, it follows.
        settings_changed = any(new.get(name) != old.get(name) for name in REVIEW_RULE_SETTINGS)
        if settings_changed and (not new.get("name") or new.get("name") == old.get("name")):
            new["name"] = self.build(None, new).derived_name()
        return new


class PayingBankSetting(GovernedSetting):
    model = PayingBank
    fields = ("code", "name", "gateway", "clearing_account", "active")


def register_settings() -> None:
    register(FeeRuleSetting())
    register(ReviewRuleSetting())
    register(PayingBankSetting())
