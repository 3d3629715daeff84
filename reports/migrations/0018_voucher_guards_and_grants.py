"""What the database refuses on vouchers (reports/sql/vouchers.sql: every
voucher balances per currency at COMMIT; an exported voucher never changes
but for its acknowledgement; exports are append-only), and who may do what
with them: everyone who reads the reports reads vouchers and exports;
finance staff export and record the GL's numbers; the ledger admin edits the
grouping and the auxiliary dimensions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from postings.sql import LoadSqlFiles

READ = [
    "view_voucherline",
    "view_voucherexport",
    "view_voucherackimport",
    "view_vouchergrouping",
    "view_subjectdimensions",
]
GRANTS = {
    "Finance staff": [*READ, "export_voucher", "acknowledge_voucher"],
    "Auditor": READ,
    "Ledger admin": [
        *READ,
        "add_vouchergrouping",
        "change_vouchergrouping",
        "delete_vouchergrouping",
        "add_subjectdimensions",
        "change_subjectdimensions",
        "delete_subjectdimensions",
    ],
}

REVERSE = """
DROP TRIGGER IF EXISTS voucher_balanced ON reports_voucher;
DROP TRIGGER IF EXISTS voucher_frozen ON reports_voucher;
DROP TRIGGER IF EXISTS voucher_lines_inserted ON reports_voucherline;
DROP TRIGGER IF EXISTS voucher_lines_updated_from ON reports_voucherline;
DROP TRIGGER IF EXISTS voucher_lines_updated_to ON reports_voucherline;
DROP TRIGGER IF EXISTS voucher_lines_deleted ON reports_voucherline;
DROP TRIGGER IF EXISTS voucher_export_append_only ON reports_voucherexport;
DROP TRIGGER IF EXISTS voucher_export_vouchers_append_only ON reports_voucherexport_vouchers;
DROP TRIGGER IF EXISTS voucher_ack_import_append_only ON reports_voucherackimport;
DROP FUNCTION IF EXISTS voucher_check_balanced();
DROP FUNCTION IF EXISTS voucher_frozen_once_exported();
DROP FUNCTION IF EXISTS voucher_lines_of_drafts_only();
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
    dependencies = [("reports", "0017_balanced_vouchers"), ("postings", "0013_guards_in_plain_sql")]

    operations = [
        LoadSqlFiles(
            {"vouchers.sql": "2ce534da7f6386fd394db54d7db3c8c84be7a72e6bf0853bb3ee592085c319ee"},
            reverse_sql=REVERSE,
            directory="reports/sql",
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
