"""Setting changes are the control settings' history with values, so
PostgreSQL keeps them: a row is never deleted, and once decided it never
changes again; an open one changes only by being decided. A plain trigger,
which no session setting switches off (docs/operations.md, "What the
database refuses"; django-pghistory's triggers could be, by SET
pgtrigger.ignore, which is why the history is kept here instead).

Roles: the Ledger admin proposes (the change permission of each setting,
granted in withdrawals/0002) and approves another admin's proposal; the
Auditor reads every change."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION kernel_setting_change_decided_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'setting change % is history: it cannot be deleted', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.status <> 'proposed'
       OR NEW.status = 'proposed'
       OR (NEW.id, NEW.model, NEW.old_values, NEW.new_values, NEW.reason, NEW.proposed_by_id, NEW.proposed_at)
          IS DISTINCT FROM
          (OLD.id, OLD.model, OLD.old_values, OLD.new_values, OLD.reason, OLD.proposed_by_id, OLD.proposed_at)
       OR (OLD.object_id <> '' AND NEW.object_id IS DISTINCT FROM OLD.object_id)
    THEN
        RAISE EXCEPTION 'setting change % is history: only an open proposal is decided, once', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS setting_change_decided_once ON kernel_settingchange;
CREATE TRIGGER setting_change_decided_once BEFORE UPDATE OR DELETE ON kernel_settingchange
    FOR EACH ROW EXECUTE FUNCTION kernel_setting_change_decided_once();
"""

UNGUARD = """
DROP TRIGGER IF EXISTS setting_change_decided_once ON kernel_settingchange;
DROP FUNCTION IF EXISTS kernel_setting_change_decided_once();
"""

GRANTS = {
    "Ledger admin": ["view_settingchange", "approve_settingchange"],
    "Auditor": ["view_settingchange"],
}


def grant(apps, schema_editor):
    app_config = apps.get_app_config("kernel")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="kernel", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("kernel", "0003_settingchange"),
        ("kernel", "0002_auditor_reads_everything"),
    ]

    operations = [
        migrations.RunSQL(GUARD, UNGUARD),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
