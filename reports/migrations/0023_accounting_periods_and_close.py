"""Accounting periods and their close (issue 22 section 2): the periods, the
postings their close made, the database's rules on them
(reports/sql/periods.sql) and who may propose and approve a close: finance
staff propose and another finance clerk approves (the database refuses a close
approved by its proposer)."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

from postings.sql import LoadSqlFiles

READ = ["view_accountingperiod", "view_periodclosingposting"]
GRANTS = {
    "Finance staff": [*READ, "propose_period_close", "approve_period_close"],
    "Auditor": READ,
    "Ledger admin": READ,
}

REVERSE = """
DROP TRIGGER IF EXISTS period_closed_final ON reports_accountingperiod;
DROP TRIGGER IF EXISTS period_close_moves_calendar ON reports_accountingperiod;
DROP TRIGGER IF EXISTS calendar_closed_through_is_a_closed_month ON postings_accountingcalendar;
DROP TRIGGER IF EXISTS period_closing_posting_append_only ON reports_periodclosingposting;
DROP FUNCTION IF EXISTS period_closed_is_final();
DROP FUNCTION IF EXISTS period_close_moves_calendar();
DROP FUNCTION IF EXISTS period_closed_through_is_a_closed_month();
"""


def grant(apps, schema_editor):
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
        ("accounts", "0010_period_close_account_types"),
        ("postings", "0024_closed_periods_refuse_postings"),
        ("reports", "0022_voucher_red_ink_of_corrections"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="vouchergrouping",
            name="business_type",
            field=models.CharField(
                choices=[
                    ("recharge", "recharge (充值)"),
                    ("withdrawal", "withdrawal (提现)"),
                    ("transfer", "transfer (转账)"),
                    ("fee", "fee (手续费)"),
                    ("credit_purchase", "credit purchase (信用消费)"),
                    ("credit_repayment", "credit repayment (还款)"),
                    ("agreement_debit", "agreement debit (代扣)"),
                    ("guarantee_settlement", "guarantee settlement (担保交易结算)"),
                    ("refund", "refund (退款)"),
                    ("settlement", "merchant settlement (商户结算: 待结算 → 可用)"),
                    ("channel_settlement", "channel settlement (渠道结算)"),
                    ("coupon", "coupon (红包/券)"),
                    ("adjustment", "adjustment (调账)"),
                    ("reversal", "reversal (冲正)"),
                    ("pl_carry_forward", "profit and loss carry-forward (损益结转)"),
                    ("year_end_close", "year-end close (年结: 本年利润 → 未分配利润)"),
                ],
                max_length=32,
                unique=True,
            ),
        ),
        migrations.CreateModel(
            name="AccountingPeriod",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("month", "month (月)"), ("year", "year (年)")], max_length=8)),
                ("start_date", models.DateField()),
                ("end_date", models.DateField()),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("open", "open (未结账)"),
                            ("closing", "closing (结账待复核)"),
                            ("closed", "closed (已结账)"),
                        ],
                        default="open",
                        max_length=8,
                    ),
                ),
                ("proposed_at", models.DateTimeField(blank=True, null=True)),
                ("proposal_note", models.CharField(blank=True, max_length=255)),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "approved_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "entity",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="periods", to="accounts.entity"
                    ),
                ),
                (
                    "proposed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "accounting period (会计期间)",
                "ordering": ["-start_date", "kind"],
                "permissions": [
                    ("propose_period_close", "Can propose a period close (结账)"),
                    ("approve_period_close", "Can approve a period close (结账复核)"),
                ],
            },
        ),
        migrations.CreateModel(
            name="PeriodClosingPosting",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("currency", models.CharField(max_length=3)),
                (
                    "period",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="closing_postings",
                        to="reports.accountingperiod",
                    ),
                ),
                (
                    "posting",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="postings.posting"
                    ),
                ),
            ],
        ),
        migrations.AddConstraint(
            model_name="accountingperiod",
            constraint=models.UniqueConstraint(fields=("entity", "kind", "start_date"), name="period_unique"),
        ),
        migrations.AddConstraint(
            model_name="accountingperiod",
            constraint=models.CheckConstraint(
                condition=models.Q(("end_date__gte", models.F("start_date"))), name="period_dates_ordered"
            ),
        ),
        migrations.AddConstraint(
            model_name="accountingperiod",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "closed"), _negated=True),
                    models.Q(
                        ("approved_by__isnull", False),
                        ("closed_at__isnull", False),
                        ("proposed_by__isnull", False),
                        models.Q(("approved_by", models.F("proposed_by")), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="period_closed_by_a_second_person",
            ),
        ),
        migrations.AddConstraint(
            model_name="accountingperiod",
            constraint=models.CheckConstraint(
                condition=models.Q(("status", "open"), ("proposed_by__isnull", False), _connector="OR"),
                name="period_closing_was_proposed",
            ),
        ),
        migrations.AddConstraint(
            model_name="periodclosingposting",
            constraint=models.UniqueConstraint(fields=("period", "currency"), name="period_closing_posting_unique"),
        ),
        migrations.AlterField(
            model_name="vouchergrouping",
            name="business_type",
            field=models.CharField(
                choices=[
                    ("recharge", "recharge (充值)"),
                    ("withdrawal", "withdrawal (提现)"),
                    ("transfer", "transfer (转账)"),
                    ("fee", "fee (手续费)"),
                    ("credit_purchase", "credit purchase (信用消费)"),
                    ("credit_repayment", "credit repayment (还款)"),
                    ("agreement_debit", "agreement debit (代扣)"),
                    ("guarantee_settlement", "guarantee settlement (担保交易结算)"),
                    ("refund", "refund (退款)"),
                    ("settlement", "merchant settlement (商户结算: 待结算 → 可用)"),
                    ("channel_settlement", "channel settlement (渠道结算)"),
                    ("coupon", "coupon (红包/券)"),
                    ("adjustment", "adjustment (调账)"),
                    ("opening", "opening balances (期初建账)"),
                    ("reversal", "reversal (冲正)"),
                    ("pl_carry_forward", "profit and loss carry-forward (损益结转)"),
                    ("year_end_close", "year-end close (年结: 本年利润 → 未分配利润)"),
                ],
                max_length=32,
                unique=True,
            ),
        ),
        LoadSqlFiles(
            {"periods.sql": "d170769f0e32916e0a025dfb7a8fe9a36b212de4b1bf7bf49174b0d549271c99"},
            reverse_sql=REVERSE,
            directory="reports/sql",
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
