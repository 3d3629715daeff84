"""The two sample channels (reports/channel/sample_channels.py) and the reconciliation
permissions of the staff roles: everyone who reads the reports reads the
reconciliation; finance staff import statements and work differences; the
ledger admin edits channels."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from reports.channel.sample_channels import install_sample_channels

MODELS = ("channel", "statementimport", "statementline", "reconrun", "difference", "differenceevent")
GRANTS = {
    "Finance staff": ["view", "reports.import_statement", "reports.work_difference"],
    "Auditor": ["view"],
    "Ledger admin": ["view", "reports.add_channel", "reports.change_channel"],
}


def install(apps, schema_editor):
    install_sample_channels(apps.get_model("reports", "Channel"), apps.get_model("accounts", "Entity"))
    app_config = apps.get_app_config("reports")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, grants in GRANTS.items():
        group = Group.objects.filter(name=group_name).first()
        if group is None:
            continue
        for grant in grants:
            if grant == "view":
                group.permissions.add(
                    *Permission.objects.filter(
                        content_type__app_label="reports", codename__in=[f"view_{m}" for m in MODELS]
                    )
                )
            else:
                app_label, codename = grant.split(".")
                group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [("reports", "0005_channel_reconciliation"), ("accounts", "0002_default_chart")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
