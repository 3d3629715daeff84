"""The default fee rule, review rules and the staff roles (groups).

Permissions are created after migrations by Django; on a fresh database
they do not exist yet when this runs, so they are created here first.
"""

from decimal import Decimal

from django.contrib.auth.management import create_permissions
from django.db import migrations

FEE_RULES = [
    # name, currency, fixed, rate %, minimum, maximum
    ("Standard CNY withdrawal fee", "CNY", "1.00", "0.1", "2.00", "25.00"),
    ("Standard HKD withdrawal fee", "HKD", "0.00", "0.1", "2.00", "50.00"),
]

REVIEW_RULES = [
    # code, kind, name, currency, amount, count, days
    ("large-amount", "amount_over", "Amount above 5,000 CNY", "CNY", "5000", None, None),
    ("daily-count", "daily_count", "More than 5 withdrawals today", "", None, 5, None),
    ("daily-amount", "daily_amount", "More than 20,000 CNY withdrawn today", "CNY", "20000", None, None),
    ("new-card", "new_card", "First withdrawal to this card", "", None, None, None),
    ("watch-list", "watch_list", "Member on the watch list", "", None, None, None),
    ("young-account", "young_account", "Account opened less than 7 days ago", "", None, None, 7),
    ("dual-approval", "dual_approval", "Above 50,000 CNY: two reviewers", "CNY", "50000", None, None),
]

LEDGER_APPS = ["accounts", "postings", "withdrawals", "reports"]

# group -> permission codenames (app_label.codename). "view:<app>" is every
# view permission of the app.
ROLES = {
    "Finance staff": ["view:accounts", "view:postings", "view:withdrawals", "withdrawals.request_withdrawal"],
    "Reviewer": [
        "withdrawals.view_withdrawal",
        "withdrawals.view_withdrawalevent",
        "withdrawals.view_approval",
        "withdrawals.review_withdrawal",
        "accounts.view_account",
        "accounts.view_member",
        "postings.view_entry",
    ],
    "Cashier": [
        "withdrawals.view_withdrawal",
        "withdrawals.view_withdrawalevent",
        "withdrawals.view_payoutinstruction",
        "withdrawals.view_payingbank",
        "withdrawals.pay_withdrawal",
        "accounts.view_account",
    ],
    "Auditor": ["view:accounts", "view:postings", "view:withdrawals", "view:reports"],
    "Ledger admin": [
        "view:accounts",
        "view:postings",
        "view:withdrawals",
        "accounts.add_accounttype",
        "accounts.change_accounttype",
        "accounts.add_entity",
        "accounts.change_entity",
        "postings.add_postingrule",
        "postings.change_postingrule",
        "postings.add_postingruleleg",
        "postings.change_postingruleleg",
        "postings.delete_postingruleleg",
        "withdrawals.add_feerule",
        "withdrawals.change_feerule",
        "withdrawals.add_reviewrule",
        "withdrawals.change_reviewrule",
        "withdrawals.add_watchlistentry",
        "withdrawals.change_watchlistentry",
        "withdrawals.add_payingbank",
        "withdrawals.change_payingbank",
    ],
}


def install(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    FeeRule = apps.get_model("withdrawals", "FeeRule")
    ReviewRule = apps.get_model("withdrawals", "ReviewRule")
    for name, currency, fixed, rate, minimum, maximum in FEE_RULES:
        FeeRule.objects.get_or_create(
            name=name,
            currency=currency,
            defaults=dict(
                fixed=Decimal(fixed), rate_percent=Decimal(rate), minimum=Decimal(minimum), maximum=Decimal(maximum)
            ),
        )
    for code, kind, name, currency, amount, count, days in REVIEW_RULES:
        ReviewRule.objects.get_or_create(
            code=code,
            defaults=dict(
                kind=kind, name=name, currency=currency, amount=amount and Decimal(amount), count=count, days=days
            ),
        )

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, grants in ROLES.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        perms = []
        for grant in grants:
            if grant.startswith("view:"):
                perms += Permission.objects.filter(content_type__app_label=grant[5:], codename__startswith="view_")
            else:
                app_label, codename = grant.split(".")
                perms.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.add(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("withdrawals", "0001_withdrawals"),
        ("accounts", "0002_default_chart"),
        ("postings", "0002_default_rules"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
