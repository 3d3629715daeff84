"""The default chart of accounts shipped with the ledger: the entity and the
account types. The default posting rules that use them are postings'
(``postings/chart.py``): accounts, the ground floor, knows nothing of rules.

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
    ("RESERVE_FUND", "Reserve funds at the bank (备付金)", "internal", "1002", True),
    ("CHANNEL_FEE", "Channel fee cost (渠道手续费支出)", "internal", "6603", True),
    ("OPENING_BALANCE", "Opening balances in transit (期初建账过渡户)", "internal", "3999", True),
    ("CURRENT_YEAR_PROFIT", "Current-year profit (本年利润)", "internal", "4103", True),
    ("RETAINED_EARNINGS", "Retained earnings (利润分配-未分配利润)", "internal", "4104", True),
    # The credit product's daily accruals (postings.credit): both are income
    # (class 6, carried forward at the month close); a bank books 罚息 as a
    # line of 利息收入, so both map to 6011 and the type tells them apart.
    ("INTEREST_INCOME", "Interest income (利息收入)", "internal", "6011", True),
    ("PENALTY_INCOME", "Penalty interest income (罚息收入)", "internal", "6011", True),
]

# The period close (reports/periods). Subjects of class 6 are profit and loss
# (损益类: income and expense) in the PRC chart of accounts; the month-end
# carry-forward (损益结转) empties them into the current-year profit subject,
# and the year-end close moves that to retained earnings.
PROFIT_AND_LOSS_SUBJECT_PREFIX = "6"
CURRENT_YEAR_PROFIT_TYPE = "CURRENT_YEAR_PROFIT"
RETAINED_EARNINGS_TYPE = "RETAINED_EARNINGS"


def install_default_chart(Entity, AccountType):
    Entity.objects.get_or_create(code=DEFAULT_ENTITY["code"], defaults=DEFAULT_ENTITY)
    for code, name, category, subject, negative in DEFAULT_ACCOUNT_TYPES:
        AccountType.objects.get_or_create(
            code=code,
            defaults={"name": name, "category": category, "subject_code": subject, "allow_negative": negative},
        )


def install_default_chart_now():
    """With the live models (tests, demo). The posting rules that go with
    the chart are postings' to install: ``postings.chart.install_defaults``."""
    from accounts.models import AccountType, Entity

    install_default_chart(Entity, AccountType)
