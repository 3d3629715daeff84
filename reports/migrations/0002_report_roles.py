"""Report permissions for the staff roles: everyone reads the reports;
finance staff upload GL trial balances; the ledger admin runs and retries
the end of day."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Finance staff": ["view:reports", "reports.import_gl"],
    "Reviewer": [],
    "Cashier": [],
    "Auditor": ["view:reports"],
    "Ledger admin": ["view:reports", "reports.run_eod"],
}


def install(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, grants in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for grant in grants:
            if grant.startswith("view:"):
                group.permissions.add(
                    *Permission.objects.filter(content_type__app_label=grant[5:], codename__startswith="view_")
                )
            else:
                app_label, codename = grant.split(".")
                group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_reports"), ("withdrawals", "0002_defaults_and_roles")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
