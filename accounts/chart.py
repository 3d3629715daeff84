"""The default chart of accounts shipped with the ledger.

Used by the data migration and by tests that need the chart back after a
transactional test truncated the tables. ``install_default_chart`` is
idempotent: it adds what is missing and never changes what finance edited.
"""

DEFAULT_ENTITY = {"code": "MAIN", "name": "Main operating entity", "base_currency": "CNY"}

# code, name, category, subject code, may go negative
DEFAULT_ACCOUNT_TYPES = [
    ("USER_CASH", "Member cash balance (用户余额)", "liability", "2241", False),
    ("USER_CREDIT", "Member credit line (用户授信)", "asset", "1221", False),
    ("CHANNEL_CLEARING", "Channel clearing (渠道清算)", "internal", "1002", True),
    ("FEE_INCOME", "Fee income (手续费收入)", "internal", "6051", True),
    ("ESCROW", "Guarantee / escrow intermediate (担保中间户)", "internal", "2202", True),
    ("COUPON", "Coupons and marketing (营销券)", "internal", "6601", True),
]

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
        "coupon",
        "Coupon: Dr coupon account / Cr member cash",
        [("D", None, "COUPON", "amount"), ("C", "member_account", None, "amount")],
    ),
]


def install_default_chart(Entity, AccountType):
    Entity.objects.get_or_create(code=DEFAULT_ENTITY["code"], defaults=DEFAULT_ENTITY)
    for code, name, category, subject, negative in DEFAULT_ACCOUNT_TYPES:
        AccountType.objects.get_or_create(
            code=code,
            defaults={"name": name, "category": category, "subject_code": subject, "allow_negative": negative},
        )


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
    """Both, with the live models (tests, demo)."""
    from accounts.models import AccountType, Entity
    from postings.models import PostingRule, PostingRuleLeg

    install_default_chart(Entity, AccountType)
    install_default_rules(PostingRule, PostingRuleLeg, AccountType)
