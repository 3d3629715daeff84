"""The webhooks' guards (events/webhooks/sql/webhooks.sql: attempts and
endpoint changes append-only, a delivery delivered only by a 2xx attempt)
and who may see and operate the endpoints: Ledger admin registers, changes,
pauses, resumes and redelivers; Finance staff and Auditors read."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from postings.sql import LoadSqlFiles

REVERSE = """
DROP TRIGGER IF EXISTS webhook_attempt_append_only ON webhooks_attempt;
DROP TRIGGER IF EXISTS webhook_change_append_only ON webhooks_endpointchange;
DROP TRIGGER IF EXISTS webhook_delivery_guard ON webhooks_delivery;
DROP FUNCTION IF EXISTS ledger_webhook_append_only();
DROP FUNCTION IF EXISTS ledger_webhook_delivery_guard();
"""

READ = ["view_endpoint", "view_delivery", "view_attempt", "view_endpointchange"]
GRANTS = {
    "Ledger admin": [*READ, "add_endpoint", "change_endpoint", "operate_endpoint"],
    "Finance staff": READ,
    "Auditor": READ,
}


def grant_roles(apps, schema_editor):
    app_config = apps.get_app_config("webhooks")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="webhooks", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_endpoints"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        LoadSqlFiles(
            {"webhooks.sql": "bd6980c8865a1f3a94fa4105516ea9d90391a4052a01b660eacc60ed76c2d175"},
            reverse_sql=REVERSE,
            directory="events/webhooks/sql",
        ),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
