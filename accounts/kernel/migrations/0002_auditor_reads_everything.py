"""The Auditor reads everything, read-only, as the README promises: every
model of the ledger's apps (withdrawals/0002 granted those that existed
then; the accounting calendar and days, for one, came later), the API's
clients, keys and call log, the staff users and their roles, and the task
outbox. View permissions only: the admin then shows every form read-only
and refuses a change on the server (403)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

AUDITOR = "Auditor"
READS = ["accounts", "postings", "withdrawals", "reports", "api", "auth", "kernel"]


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=AUDITOR)
    group.permissions.add(*Permission.objects.filter(content_type__app_label__in=READS, codename__startswith="view_"))


class Migration(migrations.Migration):
    dependencies = [
        ("kernel", "0001_initial"),
        ("accounts", "0006_account_open_request"),
        ("postings", "0012_one_balance_writer"),
        ("withdrawals", "0004_payout_flag_resolution"),
        ("reports", "0009_sheet_of_movers"),
        ("api", "0003_account_request_moved"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    # Backwards: the earlier grants are not told apart from these, so none is taken back.
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
