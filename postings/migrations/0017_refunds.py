"""Refunds (退款, issue 20 section 1): refunds linked to the payment they
refund, the legs each took back, the refund policies per business type and
the merchants' reserve accounts; postings/sql/refunds.sql keeps every leg's
refunds within what it moved; the staff roles get the refund permissions."""

from decimal import Decimal

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

from postings.sql import LoadSqlFiles

DROP = """
DROP TRIGGER IF EXISTS refund_leg_within_original ON postings_refundleg;
DROP TRIGGER IF EXISTS refund_leg_append_only ON postings_refundleg;
DROP TRIGGER IF EXISTS refund_decided_once ON postings_refund;
DROP TRIGGER IF EXISTS refund_never_deleted ON postings_refund;
DROP FUNCTION IF EXISTS ledger_refund_leg_check(), ledger_refund_decided_once();
"""

# Finance staff refund from the staff pages and approve each other's late or
# large refunds (never their own: the service refuses it); everyone who reads
# the ledger reads the refunds; the ledger admin proposes the refund policies.
GRANTS = {
    "Finance staff": [
        "view_refund",
        "refund_posting",
        "approve_refund",
        "view_refundleg",
        "view_refundpolicy",
        "view_merchantreserve",
    ],
    "Auditor": ["view_refund", "view_refundleg", "view_refundpolicy", "view_merchantreserve"],
    "Ledger admin": [
        "view_refund",
        "view_refundleg",
        "view_refundpolicy",
        "add_refundpolicy",
        "change_refundpolicy",
        "view_merchantreserve",
        "add_merchantreserve",
        "change_merchantreserve",
    ],
}


def grant_roles(apps, schema_editor):
    app_config = apps.get_app_config("postings")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="postings", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_guards_in_plain_sql"),
        ("postings", "0016_posting_rule_version"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Refund",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("amount", models.DecimalField(decimal_places=4, default=Decimal("0"), max_digits=20)),
                ("currency", models.CharField(max_length=3)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending_approval", "awaiting approval (待复核)"),
                            ("posted", "refunded (已退款)"),
                            ("rejected", "rejected (已驳回)"),
                        ],
                        max_length=20,
                    ),
                ),
                ("needs_approval", models.CharField(blank=True, max_length=32)),
                ("reason", models.CharField(blank=True, max_length=255)),
                ("source_system", models.CharField(default="ledger", max_length=32)),
                ("request_no", models.CharField(max_length=64)),
                ("fingerprint", models.CharField(editable=False, max_length=64)),
                ("requested_by", models.CharField(max_length=150)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("decision_note", models.CharField(blank=True, max_length=255)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "decided_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "original",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="refunds", to="postings.posting"
                    ),
                ),
                (
                    "posting",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="refund",
                        to="postings.posting",
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
                "verbose_name": "refund (退款)",
                "ordering": ["-id"],
                "permissions": [
                    ("refund_posting", "Can refund a posting from the staff pages"),
                    ("approve_refund", "Can approve a late or large refund"),
                ],
            },
        ),
        migrations.CreateModel(
            name="RefundLeg",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("amount", models.DecimalField(decimal_places=4, default=Decimal("0"), max_digits=20)),
                ("from_reserve", models.DecimalField(decimal_places=4, default=Decimal("0"), max_digits=20)),
                (
                    "original_entry",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="refund_legs", to="postings.entry"
                    ),
                ),
                (
                    "refund",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="legs", to="postings.refund"
                    ),
                ),
            ],
            options={
                "ordering": ["refund_id", "original_entry_id"],
            },
        ),
        migrations.CreateModel(
            name="RefundPolicy",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "business_type",
                    models.CharField(
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
                            ("coupon", "coupon (红包/券)"),
                            ("adjustment", "adjustment (调账)"),
                            ("reversal", "reversal (冲正)"),
                        ],
                        max_length=32,
                        unique=True,
                    ),
                ),
                (
                    "window_days",
                    models.PositiveIntegerField(
                        default=365,
                        help_text="A payment older than this is refunded only by staff, with a reason and a second person's approval.",
                        verbose_name="refund window (days)",
                    ),
                ),
                (
                    "rounding",
                    models.CharField(
                        choices=[
                            ("largest_remainder", "largest remainder (最大余数)"),
                            ("fees_down", "fees and shares rounded down, principal takes the rest"),
                        ],
                        default="largest_remainder",
                        max_length=32,
                    ),
                ),
                (
                    "approval_above",
                    models.DecimalField(
                        blank=True,
                        decimal_places=4,
                        default=None,
                        help_text="A refund above this amount needs a second person's approval; empty: never.",
                        max_digits=20,
                        null=True,
                    ),
                ),
            ],
            options={
                "verbose_name": "refund policy (退款规则)",
                "verbose_name_plural": "refund policies (退款规则)",
                "ordering": ["business_type"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("window_days__gt", 0)), name="refund_policy_window_positive"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("approval_above__isnull", True), ("approval_above__gte", 0), _connector="OR"
                        ),
                        name="refund_policy_approval_above_not_negative",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="MerchantReserve",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "account",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="refund_reserve",
                        to="accounts.account",
                    ),
                ),
                (
                    "reserve_account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.account"
                    ),
                ),
            ],
            options={
                "verbose_name": "merchant refund reserve (退款保证金)",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("account", models.F("reserve_account")), _negated=True),
                        name="merchant_reserve_not_itself",
                    )
                ],
            },
        ),
        migrations.AddIndex(
            model_name="refund",
            index=models.Index(fields=["status", "created_at"], name="refund_status_idx"),
        ),
        migrations.AddConstraint(
            model_name="refund",
            constraint=models.UniqueConstraint(fields=("source_system", "request_no"), name="refund_unique_request"),
        ),
        migrations.AddConstraint(
            model_name="refund",
            constraint=models.CheckConstraint(condition=models.Q(("amount__gt", 0)), name="refund_amount_positive"),
        ),
        migrations.AddConstraint(
            model_name="refund",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("posting__isnull", False), ("status", "posted")),
                    models.Q(models.Q(("status", "posted"), _negated=True), ("posting__isnull", True)),
                    _connector="OR",
                ),
                name="refund_posted_iff_posting",
            ),
        ),
        migrations.AddConstraint(
            model_name="refund",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("needs_approval", ""),
                    models.Q(("status", "posted"), _negated=True),
                    models.Q(
                        ("decided_by__isnull", False),
                        models.Q(
                            ("proposed_by__isnull", True),
                            models.Q(("decided_by", models.F("proposed_by")), _negated=True),
                            _connector="OR",
                        ),
                    ),
                    _connector="OR",
                ),
                name="refund_approved_by_another",
            ),
        ),
        migrations.AddConstraint(
            model_name="refundleg",
            constraint=models.UniqueConstraint(fields=("refund", "original_entry"), name="refund_leg_once_per_entry"),
        ),
        migrations.AddConstraint(
            model_name="refundleg",
            constraint=models.CheckConstraint(condition=models.Q(("amount__gt", 0)), name="refund_leg_amount_positive"),
        ),
        migrations.AddConstraint(
            model_name="refundleg",
            constraint=models.CheckConstraint(
                condition=models.Q(("from_reserve__gte", 0), ("from_reserve__lte", models.F("amount"))),
                name="refund_leg_reserve_within_amount",
            ),
        ),
        LoadSqlFiles(
            {"refunds.sql": "1139d996c6eee25f03283b2c6e32b121d78f7bd78f2ef1d3570b1e927d28e0bf"}, reverse_sql=DROP
        ),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
