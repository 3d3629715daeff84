"""posting_create_by_rule: a business event posted through its configured rule."""

from __future__ import annotations

from datetime import date

from accounts.kernel.errors import LedgerValidationError
from accounts.kernel.money import to_amount
from accounts.selectors import account_get, internal_account_for

from ..exceptions import RuleNotConfigured
from ..expressions import parse_amount
from ..models import Posting, PostingRule, PostingRuleLeg
from .drafts import DEFAULT_SOURCE, Leg
from .postings import posting_create


def posting_create_by_rule(
    *,
    business_type: str,
    request_no: str,
    params: dict,
    posted_by: str,
    source_system: str = DEFAULT_SOURCE,
    memo: str = "",
    accounting_date: date | None = None,
    trade_no: str | None = None,
    metadata: dict | None = None,
) -> Posting:
    """Post a business event through its configured rule (记账规则), e.g.
    ``recharge(member_account=..., channel_account=..., amount=...)``;
    ``trade_no`` and ``metadata`` as posting_create takes them."""
    # The legs and the rule's version in one statement, so they are of one
    # version even while an approved change replaces the legs: the posting
    # records the version whose legs it was booked by.
    rule_legs = list(
        PostingRuleLeg.objects.filter(rule__business_type=business_type, rule__active=True)
        .select_related("rule", "internal_account_type")
        .order_by("position", "id")
    )
    if not rule_legs:
        if PostingRule.objects.filter(business_type=business_type, active=True).exists():
            raise RuleNotConfigured(f"The rule for {business_type!r} has no legs.", business_type=business_type)
        raise RuleNotConfigured(f"No active posting rule for {business_type!r}.", business_type=business_type)
    rule_version = rule_legs[0].rule.version
    accounts = {leg.account_param for leg in rule_legs if leg.account_param}
    needed = set(accounts)
    amounts = [parse_amount(leg.amount_expr) for leg in rule_legs]
    needed |= {name for amount in amounts for name in amount.names}
    missing = sorted(name for name in needed if params.get(name) in (None, ""))
    if missing:
        raise LedgerValidationError(
            f"Parameters missing for rule {business_type}: {', '.join(missing)}.",
            **{name: "required" for name in missing},
        )
    anchor = next((params[leg.account_param] for leg in rule_legs if leg.account_param), None)
    anchor_account = account_get(account_no=str(anchor)) if anchor else None
    legs = []
    currency = anchor_account.currency if anchor_account else "CNY"
    values = {
        name: to_amount(params[name], currency, field=name, allow_zero=True) for name in sorted(needed - accounts)
    }
    for leg, expression in zip(rule_legs, amounts, strict=True):
        if leg.account_param:
            account_no = str(params[leg.account_param])
        else:
            if anchor_account is None:
                raise RuleNotConfigured(f"The rule for {business_type} names no parameter account.")
            internal = internal_account_for(
                entity=anchor_account.entity, account_type=leg.internal_account_type, currency=anchor_account.currency
            )
            if internal is None:
                raise RuleNotConfigured(
                    f"Entity {anchor_account.entity.code} needs exactly one open {leg.internal_account_type.code} "
                    f"account in {anchor_account.currency} for rule {business_type}.",
                    account_type=leg.internal_account_type.code,
                )
            account_no = internal.account_no
        amount = expression.evaluate(values)
        if amount < 0:
            raise LedgerValidationError(
                f"Leg {leg.position} of rule {business_type} ({leg.amount_expr}) comes to {amount}: "
                "a leg's amount cannot be negative.",
                amount_expr=leg.amount_expr,
            )
        if amount:
            legs.append(Leg(account_no, leg.direction, amount))
    return posting_create(
        request_no=request_no,
        business_type=business_type,
        legs=legs,
        posted_by=posted_by,
        source_system=source_system,
        memo=memo,
        accounting_date=accounting_date,
        external_ref=str(params.get("channel_serial_no") or params.get("external_ref") or ""),
        rule_version=rule_version,
        trade_no=trade_no,
        metadata=metadata,
    )
