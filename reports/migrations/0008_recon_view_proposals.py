"""Everyone who reads the reconciliation reads the proposals made to resolve
its differences (the maker-checker trail): finance staff, auditors, the
ledger admin. reports/0006 granted the other reconciliation models."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Finance staff": ["reports.view_differenceproposal"],
    "Auditor": ["reports.view_differenceproposal"],
    "Ledger admin": ["reports.view_differenceproposal"],
}


def install(apps, schema_editor):
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
            app_label, codename = grant.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [("reports", "0007_difference_proposal")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
