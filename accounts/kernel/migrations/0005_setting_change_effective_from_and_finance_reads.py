"""Setting changes with an effective-from time (issue 19 §1): a change
approved before its time is *scheduled* and written by the apply job when
the time comes (accounts.kernel.governance). The history guard of 0004 lets
a scheduled change move once more, to approved, setting only what writing
it records (when, the version, the new setting's id and name); who decided,
when, the note and the effective time stay as approved.

Finance staff read the changes (with the Auditor and the Ledger admin):
they are asked about the settings their postings and fees follow."""

from django.contrib.auth.management import create_permissions
from django.db import migrations, models

GUARD = """
CREATE OR REPLACE FUNCTION kernel_setting_change_decided_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'setting change % is history: it cannot be deleted', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.id, NEW.model, NEW.old_values, NEW.new_values, NEW.reason, NEW.proposed_by_id, NEW.proposed_at)
          IS DISTINCT FROM
          (OLD.id, OLD.model, OLD.old_values, OLD.new_values, OLD.reason, OLD.proposed_by_id, OLD.proposed_at)
       OR (OLD.object_id <> '' AND NEW.object_id IS DISTINCT FROM OLD.object_id)
       OR NOT (
            -- an open proposal is decided, once
            (OLD.status = 'proposed' AND NEW.status <> 'proposed')
            -- a scheduled change is written when its time has come, once
            OR (OLD.status = 'scheduled' AND NEW.status = 'approved' AND OLD.applied_at IS NULL
                AND (NEW.decided_by_id, NEW.decided_at, NEW.decision_note, NEW.effective_from)
                    IS NOT DISTINCT FROM (OLD.decided_by_id, OLD.decided_at, OLD.decision_note, OLD.effective_from))
       )
    THEN
        RAISE EXCEPTION 'setting change % is history: only an open proposal is decided, once', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
"""

# As 0004 left it.
UNGUARD = """
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
"""

GRANTS = {"Finance staff": ["view_settingchange"]}


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


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        for group in Group.objects.filter(name=name):
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="kernel", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("kernel", "0004_setting_change_history_guard_and_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="settingchange",
            name="applied_at",
            field=models.DateTimeField(
                blank=True, help_text="When the values were written into the setting (in force since).", null=True
            ),
        ),
        migrations.AlterField(
            model_name="settingchange",
            name="effective_from",
            field=models.DateTimeField(
                blank=True,
                help_text="Proposed: when the values are to take effect (empty: at approval). "
                "Approved: the time they are in force from.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="settingchange",
            name="status",
            field=models.CharField(
                choices=[
                    ("proposed", "proposed (待复核)"),
                    ("scheduled", "approved, effective later (待生效)"),
                    ("approved", "approved (已生效)"),
                    ("rejected", "rejected (已驳回)"),
                ],
                default="proposed",
                max_length=16,
            ),
        ),
        migrations.RunSQL(GUARD, UNGUARD),
        migrations.RunPython(grant, revoke),
    ]
