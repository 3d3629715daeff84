"""The default posting rules shipped with the ledger, on top of the default
chart of accounts (``accounts/chart.py``).

Used by the data migration and by tests and the demo that need the chart and
rules back after a transactional test truncated the tables. Idempotent: a
rule that exists is left as finance edited it.
"""

from accounts.chart import install_default_chart_now

# business type, description, [(direction, account parameter or None, internal type or None, amount)]
DEFAULT_RULES = [
    (
        "recharge",
        "Recharge: Dr channel clearing / Cr member cash",
        [("D", "channel_account", None, "amount"), ("C", "member_account", None, "amount")],
    ),
    (
        "withdrawal",
        "Withdrawal: Dr member cash amount+fee / Cr channel amount / Cr fee income fee",
        [
            ("D", "member_account", None, "amount+fee"),
            ("C", "channel_account", None, "amount"),
            ("C", None, "FEE_INCOME", "fee"),
        ],
    ),
    (
        "transfer",
        "Transfer: Dr payer cash / Cr payee cash",
        [("D", "payer_account", None, "amount"), ("C", "payee_account", None, "amount")],
    ),
    (
        "fee",
        "Fee: Dr member cash / Cr fee income",
        [("D", "member_account", None, "amount"), ("C", None, "FEE_INCOME", "amount")],
    ),
    (
        "credit_purchase",
        "Credit purchase: Dr member credit line / Cr merchant cash",
        [("D", "credit_account", None, "amount"), ("C", "merchant_account", None, "amount")],
    ),
    (
        "credit_repayment",
        "Credit repayment: Dr member cash / Cr member credit line",
        [("D", "cash_account", None, "amount"), ("C", "credit_account", None, "amount")],
    ),
    (
        "agreement_debit",
        "Agreement debit (代扣): Dr payer cash / Cr payee account",
        [("D", "payer_account", None, "amount"), ("C", "payee_account", None, "amount")],
    ),
    (
        "credit_interest",
        "Credit interest: Dr member credit line / Cr interest income",
        [("D", "credit_account", None, "amount"), ("C", None, "INTEREST_INCOME", "amount")],
    ),
    (
        "credit_penalty",
        "Credit penalty interest (罚息): Dr member credit line / Cr penalty income",
        [("D", "credit_account", None, "amount"), ("C", None, "PENALTY_INCOME", "amount")],
    ),
    (
        "coupon",
        "Coupon: Dr coupon account / Cr member cash",
        [("D", None, "COUPON", "amount"), ("C", "member_account", None, "amount")],
    ),
]


def install_default_rules(PostingRule, PostingRuleLeg, AccountType):
    for business_type, description, legs in DEFAULT_RULES:
        rule, created = PostingRule.objects.get_or_create(
            business_type=business_type, defaults={"description": description}
        )
        if not created:
            continue
        for position, (direction, param, internal_type, amount_expr) in enumerate(legs):
            PostingRuleLeg.objects.create(
                rule=rule,
                position=position,
                direction=direction,
                account_param=param or "",
                internal_account_type=AccountType.objects.get(code=internal_type) if internal_type else None,
                amount_expr=amount_expr,
            )


def install_defaults():
    """The chart and the rules, with the live models (tests, demo)."""
    from accounts.models import AccountType

    from .models import PostingRule, PostingRuleLeg

    install_default_chart_now()
    install_default_rules(PostingRule, PostingRuleLeg, AccountType)
