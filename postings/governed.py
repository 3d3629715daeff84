"""Posting rules as governed settings (``accounts.kernel.governance``): a
proposal carries the rule and all its legs, and is refused unless every
leg's amount parses and the legs balance for every input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from accounts.governed import AccountTypeSetting
from accounts.kernel.governance import GovernedSetting, SettingRefused, refusal_from, register
from accounts.models import Account, AccountType, PostingMode

from .expressions import InvalidAmountExpression, rule_balance_problem
from .models import Direction, MerchantReserve, PostingRule, PostingRuleLeg, RefundPolicy
from .services.buffers import posting_mode_set

LEG_FIELDS = ("position", "direction", "account_param", "internal_account_type", "amount_expr")


def legs_description(legs: list[Mapping[str, Any]]) -> str:
    """What the legs do, as a rule's description: "Dr member_account amount+fee / Cr FEE_INCOME fee"."""
    types = dict(
        AccountType.objects.filter(pk__in=[leg["internal_account_type"] for leg in legs]).values_list("pk", "code")
    )
    return " / ".join(
        f"{'Dr' if leg['direction'] == Direction.DEBIT else 'Cr'} "
        f"{leg['account_param'] or types.get(leg['internal_account_type'], '?')} {leg['amount_expr']}"
        for leg in sorted(legs, key=lambda leg: leg["position"])
    )


class PostingRuleSetting(GovernedSetting):
    model = PostingRule
    fields = ("business_type", "description", "active")

    def values(self, instance):
        values = super().values(instance)
        legs = getattr(instance, "proposed_legs", None)
        if legs is None:
            legs = list(instance.legs.order_by("position", "id").values(*LEG_FIELDS)) if instance.pk else []
        values["legs"] = [{name: leg[name] for name in LEG_FIELDS} for leg in legs]
        return values

    def build(self, instance, values):
        instance = super().build(instance, values)
        instance.proposed_legs = [dict(leg) for leg in values.get("legs", [])]
        return instance

    def derive(self, old, new):
        # A description that said what the old legs did would outlive them.
        if new.get("legs") != old.get("legs") and new.get("description") in ("", old.get("description")):
            new["description"] = legs_description(new.get("legs", []))[:255]
        return new

    def check(self, instance, values):
        super().check(instance, values)
        legs = values.get("legs", [])
        for number, leg in enumerate(legs, start=1):
            row = PostingRuleLeg(**{f"{n}_id" if n == "internal_account_type" else n: leg.get(n) for n in LEG_FIELDS})
            try:
                row.full_clean(exclude=["rule"])
            except ValidationError as exc:
                refusal = refusal_from(exc)
                raise SettingRefused(f"Leg {number}: {refusal.message}", **refusal.fields) from None
        try:
            problem = rule_balance_problem((leg["direction"], leg["amount_expr"]) for leg in legs)
        except InvalidAmountExpression as exc:  # already refused per leg above; kept for callers without legs' clean
            raise SettingRefused(exc.message) from None
        if problem:
            raise SettingRefused(problem, legs="unbalanced")

    def save(self, instance, values):
        instance.save()
        instance.legs.all().delete()
        PostingRuleLeg.objects.bulk_create(
            PostingRuleLeg(
                rule=instance, **{f"{n}_id" if n == "internal_account_type" else n: leg[n] for n in LEG_FIELDS}
            )
            for leg in values.get("legs", [])
        )

    def display(self, values):
        shown = super().display(values)
        legs = values.get("legs")
        if legs is not None:
            shown["legs"] = legs_description(legs) or "—"
        return shown


class RefundPolicySetting(GovernedSetting):
    """How a business type's payments are refunded: window, rounding, the
    amount above which a second person approves (postings.services.refunds)."""

    model = RefundPolicy
    fields = ("business_type", "window_days", "rounding", "approval_above")


class MerchantReserveSetting(GovernedSetting):
    """A merchant whose short refunds are paid from its reserve account."""

    model = MerchantReserve
    fields = ("account", "reserve_account")


class AccountTypeWithPostingMode(AccountTypeSetting):
    """The chart line with its posting mode (real-time or buffered, 缓冲记账):
    switching a type moves every account of it, which only the posting
    side knows how to do (postings.services.buffers), so it registers this
    in place of accounts' own AccountTypeSetting."""

    fields = (*AccountTypeSetting.fields, "posting_mode")

    def check(self, instance, values):
        super().check(instance, values)
        if instance.pk and values.get("posting_mode") == PostingMode.BUFFERED:
            frozen = list(
                Account.objects.filter(account_type_id=instance.pk, frozen__gt=0).values_list("account_no", flat=True)[
                    :5
                ]
            )
            if frozen:
                raise SettingRefused(
                    f"Money is frozen on {', '.join(frozen)}: settle or release the holds before buffering the type.",
                    posting_mode="frozen",
                )

    def save(self, instance, values):
        mode = instance.posting_mode
        if instance.pk:
            # The type's mode is written by posting_mode_set, with its accounts and their history.
            instance.posting_mode = AccountType.objects.values_list("posting_mode", flat=True).get(pk=instance.pk)
        super().save(instance, values)
        if mode != instance.posting_mode:
            posting_mode_set(mode=mode, actor=getattr(instance, "changed_by", ""), account_type=instance)


def register_settings() -> None:
    register(PostingRuleSetting())
    register(RefundPolicySetting())
    register(MerchantReserveSetting())
    register(AccountTypeWithPostingMode())
