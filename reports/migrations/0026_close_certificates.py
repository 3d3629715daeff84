"""Close certificates (日结单, issue 22 section 5): the table, the database's
rule on it (reports/sql/certificates.sql: sealed once signed, changed only
by its co-signature, never deleted) and who may do what: finance staff sign
and co-sign (two different people), the auditor verifies the chains and
certificates, finance, the auditor and the ledger admin read them."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

from postings.sql import LoadSqlFiles

GRANTS = {
    "Finance staff": ["view_closecertificate", "sign_certificate"],
    "Auditor": ["view_closecertificate", "verify_ledger"],
    "Ledger admin": ["view_closecertificate"],
}

REVERSE = """
DROP TRIGGER IF EXISTS certificate_sealed ON reports_closecertificate;
DROP FUNCTION IF EXISTS certificate_sealed_once_signed();
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
        ("postings", "0027_entry_hash_chain"),
        ("reports", "0025_opening_append_only"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="CloseCertificate",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("accounting_date", models.DateField()),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("draft", "draft (待签)"),
                            ("signed", "signed, awaiting a co-signature (已签待复核)"),
                            ("cosigned", "co-signed (已复核)"),
                        ],
                        default="draft",
                        max_length=10,
                    ),
                ),
                ("entries_count", models.BigIntegerField(default=0)),
                ("entries_root", models.CharField(max_length=64, verbose_name="entries' root hash")),
                ("sheet_rows", models.BigIntegerField(default=0)),
                ("sheet_hash", models.CharField(max_length=64, verbose_name="balance sheet hash")),
                ("checks", models.JSONField(default=list)),
                ("vouchers", models.JSONField(default=list)),
                ("exports", models.JSONField(default=list)),
                ("reconciliation", models.JSONField(default=dict)),
                ("previous_hash", models.CharField(max_length=64)),
                ("certificate_hash", models.CharField(max_length=64)),
                ("drafted_at", models.DateTimeField()),
                ("drafted_by", models.CharField(max_length=150)),
                ("signed_at", models.DateTimeField(blank=True, null=True)),
                ("cosigned_at", models.DateTimeField(blank=True, null=True)),
                (
                    "cosigned_by",
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
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.entity"
                    ),
                ),
                (
                    "previous",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="reports.closecertificate",
                    ),
                ),
                (
                    "signed_by",
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
                "verbose_name": "close certificate (日结单)",
                "ordering": ["-accounting_date", "entity_id"],
                "permissions": [
                    ("sign_certificate", "Can sign or co-sign a close certificate (日结单签署)"),
                    ("verify_ledger", "Can verify the hash chains and close certificates"),
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("entity", "accounting_date"), name="certificate_unique_day"),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("cosigned_by__isnull", True), ("signed_by__isnull", True), ("status", "draft")),
                            models.Q(
                                ("cosigned_by__isnull", True),
                                ("signed_at__isnull", False),
                                ("signed_by__isnull", False),
                                ("status", "signed"),
                            ),
                            models.Q(
                                ("cosigned_at__isnull", False),
                                ("cosigned_by__isnull", False),
                                ("signed_at__isnull", False),
                                ("signed_by__isnull", False),
                                ("status", "cosigned"),
                                models.Q(("cosigned_by", models.F("signed_by")), _negated=True),
                            ),
                            _connector="OR",
                        ),
                        name="certificate_signed_by_two_people",
                    ),
                ],
            },
        ),
        LoadSqlFiles(
            {"certificates.sql": "e01400eccdfae7cbd5410ea13c9828c69e5a0e8844012e30e3ce303419c77000"},
            reverse_sql=REVERSE,
            directory="reports/sql",
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
