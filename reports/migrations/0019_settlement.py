"""Settlement (issue 20 section 3): merchants' T+N terms and moves, the
business-day calendar, channel settlement batches and the entries each
settlement covers (once: a unique key), reserve-fund bank accounts and their
balances. reports/sql/settlement.sql keeps settlements append-only and their
figures equal to their covered entries; the staff roles get the settlement
permissions."""

from decimal import Decimal

import django.db.models.deletion
import django.db.models.expressions
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

from postings.sql import LoadSqlFiles

DROP = """
DROP TRIGGER IF EXISTS merchant_settlement_append_only ON reports_merchantsettlement;
DROP TRIGGER IF EXISTS channel_settlement_append_only ON reports_channelsettlement;
DROP TRIGGER IF EXISTS settled_entry_append_only ON reports_settledentry;
DROP TRIGGER IF EXISTS reserve_balance_append_only ON reports_reservebalance;
DROP TRIGGER IF EXISTS merchant_settlement_stamped ON reports_merchantsettlement;
DROP TRIGGER IF EXISTS channel_settlement_stamped ON reports_channelsettlement;
DROP TRIGGER IF EXISTS settled_entry_check ON reports_settledentry;
DROP TRIGGER IF EXISTS merchant_settlement_figures ON reports_merchantsettlement;
DROP TRIGGER IF EXISTS channel_settlement_figures ON reports_channelsettlement;
DROP FUNCTION IF EXISTS settlement_figures_check(), settled_entry_check(), settlement_stamped(),
    ledger_settlement_drift(text, bigint);
"""

VIEW = [
    "view_merchantsettlement",
    "view_channelsettlement",
    "view_settledentry",
    "view_settlementterm",
    "view_channelsettlementsetup",
    "view_businessdayoverride",
    "view_reservebankaccount",
    "view_reservebalance",
]
# Finance staff run channel settlements and record the banks' reserve-fund
# balances; everyone who reads the ledger reads settlement; the ledger admin
# proposes the T+N terms and channel setups (maker-checker) and keeps the
# business-day calendar and the reserve-fund bank accounts.
GRANTS = {
    "Finance staff": [*VIEW, "settle_channel", "add_reservebalance"],
    "Auditor": VIEW,
    "Ledger admin": [
        *VIEW,
        "add_settlementterm",
        "change_settlementterm",
        "add_channelsettlementsetup",
        "change_channelsettlementsetup",
        "add_businessdayoverride",
        "change_businessdayoverride",
        "delete_businessdayoverride",
        "add_reservebankaccount",
        "change_reservebankaccount",
    ],
}


def grant_roles(apps, schema_editor):
    app_config = apps.get_app_config("reports")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="reports", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_settlement_account_types"),
        ("postings", "0021_settlement_business_types"),
        ("reports", "0018_voucher_guards_and_grants"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="stagedupload",
            name="kind",
            field=models.CharField(
                choices=[
                    ("statement", "channel statement"),
                    ("gl", "GL trial balance"),
                    ("reserve", "reserve-fund bank balances"),
                ],
                max_length=16,
            ),
        ),
        migrations.CreateModel(
            name="ChannelSettlement",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("cut_off", models.DateTimeField()),
                ("currency", models.CharField(max_length=3)),
                ("gross_in", models.DecimalField(decimal_places=4, default=Decimal("0"), max_digits=20)),
                ("gross_out", models.DecimalField(decimal_places=4, default=Decimal("0"), max_digits=20)),
                ("fee", models.DecimalField(decimal_places=4, default=Decimal("0"), max_digits=20)),
                ("net", models.DecimalField(decimal_places=4, default=0, max_digits=20)),
                ("entry_count", models.PositiveIntegerField()),
                ("request_no", models.CharField(max_length=64, unique=True)),
                ("settled_by", models.CharField(max_length=150)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "bank_account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.account"
                    ),
                ),
                (
                    "channel",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="settlements", to="reports.channel"
                    ),
                ),
                (
                    "fee_account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.account"
                    ),
                ),
                (
                    "posting",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="postings.posting",
                    ),
                ),
            ],
            options={
                "verbose_name": "channel settlement batch (渠道结算批次)",
                "ordering": ["-id"],
                "permissions": [("settle_channel", "Can run a channel settlement batch")],
            },
        ),
        migrations.CreateModel(
            name="ChannelSettlementSetup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "bank_account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.account",
                        verbose_name="bank / reserve-fund account (备付金)",
                    ),
                ),
                (
                    "channel",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="settlement_setup",
                        to="reports.channel",
                    ),
                ),
                (
                    "fee_account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.account",
                        verbose_name="fee cost account (渠道手续费)",
                    ),
                ),
            ],
            options={
                "verbose_name": "channel settlement setup (渠道结算)",
                "ordering": ["channel_id"],
            },
        ),
        migrations.CreateModel(
            name="MerchantSettlement",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("currency", models.CharField(max_length=3)),
                ("amount", models.DecimalField(decimal_places=4, default=Decimal("0"), max_digits=20)),
                (
                    "settled_on",
                    models.DateField(help_text="The open accounting day on which the funds became available."),
                ),
                ("funds_through", models.DateField(help_text="The latest accounting date of the credits it moved.")),
                ("request_no", models.CharField(max_length=64, unique=True)),
                ("entry_count", models.PositiveIntegerField()),
                ("settled_by", models.CharField(max_length=150)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.account"
                    ),
                ),
                (
                    "pending_account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.account"
                    ),
                ),
                (
                    "posting",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="postings.posting"
                    ),
                ),
            ],
            options={
                "verbose_name": "merchant settlement (商户结算)",
                "ordering": ["-id"],
            },
        ),
        migrations.CreateModel(
            name="ReserveBankAccount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "currency",
                    models.CharField(
                        choices=[("CNY", "CNY"), ("USD", "USD"), ("HKD", "HKD"), ("EUR", "EUR"), ("JPY", "JPY")],
                        default="CNY",
                        max_length=3,
                    ),
                ),
                ("bank", models.CharField(max_length=64)),
                ("account_no", models.CharField(max_length=40, unique=True, verbose_name="bank account number")),
                ("name", models.CharField(blank=True, max_length=128)),
                ("active", models.BooleanField(default=True)),
                (
                    "entity",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.entity"
                    ),
                ),
            ],
            options={
                "verbose_name": "reserve-fund bank account (备付金账户)",
                "ordering": ["entity_id", "bank", "account_no"],
            },
        ),
        migrations.CreateModel(
            name="ReserveBalance",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("balance_date", models.DateField()),
                ("balance", models.DecimalField(decimal_places=4, max_digits=20)),
                ("source", models.CharField(choices=[("entered", "entered"), ("imported", "imported")], max_length=10)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "entered_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "bank_account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="balances",
                        to="reports.reservebankaccount",
                    ),
                ),
            ],
            options={
                "verbose_name": "reserve-fund bank balance (备付金余额)",
                "ordering": ["-balance_date", "bank_account_id"],
            },
        ),
        migrations.CreateModel(
            name="SettledEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("fee", models.DecimalField(decimal_places=4, default=Decimal("0"), max_digits=20)),
                (
                    "statement_line_id",
                    models.BigIntegerField(blank=True, help_text="The statement line the fee is from.", null=True),
                ),
                (
                    "channel_settlement",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="entries",
                        to="reports.channelsettlement",
                    ),
                ),
                (
                    "entry",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT, related_name="settled_by", to="postings.entry"
                    ),
                ),
                (
                    "merchant_settlement",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="entries",
                        to="reports.merchantsettlement",
                    ),
                ),
            ],
            options={
                "verbose_name": "settled entry",
                "ordering": ["entry_id"],
            },
        ),
        migrations.CreateModel(
            name="SettlementTerm",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("days", models.PositiveSmallIntegerField(default=1, verbose_name="N (business days)")),
                (
                    "account",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="settlement_term",
                        to="accounts.account",
                        verbose_name="available account (可用)",
                    ),
                ),
                (
                    "pending_account",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="pending_for",
                        to="accounts.account",
                        verbose_name="pending account (待结算)",
                    ),
                ),
            ],
            options={
                "verbose_name": "merchant settlement term (T+N 结算周期)",
                "ordering": ["account_id"],
            },
        ),
        migrations.CreateModel(
            name="BusinessDayOverride",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("date", models.DateField()),
                (
                    "business_day",
                    models.BooleanField(
                        default=False, help_text="Unticked: a holiday (节假日). Ticked: a weekend day worked (调休)."
                    ),
                ),
                ("name", models.CharField(blank=True, help_text="e.g. National Day (国庆节).", max_length=64)),
                (
                    "entity",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.entity"
                    ),
                ),
            ],
            options={
                "verbose_name": "business-day calendar day (节假日/调休)",
                "verbose_name_plural": "business-day calendar (节假日/调休)",
                "ordering": ["entity_id", "date"],
                "constraints": [
                    models.UniqueConstraint(fields=("entity", "date"), name="business_day_override_unique")
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="channelsettlement",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "net",
                        django.db.models.expressions.CombinedExpression(
                            models.F("gross_in"), "-", models.F("gross_out")
                        ),
                    )
                ),
                name="cs_net",
            ),
        ),
        migrations.AddConstraint(
            model_name="channelsettlement",
            constraint=models.CheckConstraint(condition=models.Q(("entry_count__gt", 0)), name="cs_covers_entries"),
        ),
        migrations.AddConstraint(
            model_name="channelsettlement",
            constraint=models.CheckConstraint(
                condition=models.Q(("posting__isnull", False), models.Q(("fee", 0), ("net", 0)), _connector="OR"),
                name="cs_posting_unless_nothing_moves",
            ),
        ),
        migrations.AddConstraint(
            model_name="channelsettlementsetup",
            constraint=models.CheckConstraint(
                condition=models.Q(("bank_account", models.F("fee_account")), _negated=True),
                name="channel_settlement_setup_two_accounts",
            ),
        ),
        migrations.AddIndex(
            model_name="merchantsettlement",
            index=models.Index(fields=["settled_on"], name="merchant_settlement_day_idx"),
        ),
        migrations.AddConstraint(
            model_name="merchantsettlement",
            constraint=models.CheckConstraint(
                condition=models.Q(("amount__gt", 0)), name="merchant_settlement_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="reservebalance",
            constraint=models.UniqueConstraint(
                fields=("bank_account", "balance_date"), name="reserve_balance_one_per_day"
            ),
        ),
        migrations.AddConstraint(
            model_name="settledentry",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("channel_settlement__isnull", False), ("merchant_settlement__isnull", True)),
                    models.Q(("channel_settlement__isnull", True), ("merchant_settlement__isnull", False)),
                    _connector="OR",
                ),
                name="settled_entry_one_settlement",
            ),
        ),
        migrations.AddConstraint(
            model_name="settledentry",
            constraint=models.CheckConstraint(
                condition=models.Q(("fee__gte", 0)), name="settled_entry_fee_not_negative"
            ),
        ),
        migrations.AddConstraint(
            model_name="settlementterm",
            constraint=models.CheckConstraint(
                condition=models.Q(("days__gte", 1), ("days__lte", 30)), name="settlement_term_days_1_30"
            ),
        ),
        migrations.AddConstraint(
            model_name="settlementterm",
            constraint=models.CheckConstraint(
                condition=models.Q(("account", models.F("pending_account")), _negated=True),
                name="settlement_term_not_itself",
            ),
        ),
        LoadSqlFiles(
            {"settlement.sql": "bae17146ef813e6a5fec4be5827898a796a105edde5938e0c4e499431a0ad500"},
            reverse_sql=DROP,
            directory="reports/sql",
        ),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
