"""A scheduled setting change can be cancelled before its time (issue 19
§1): by a ledger admin, with a reason, recorded on the change (who, when,
why). Until now a scheduled change that could no longer be written (its
setting changed under it, or its values stopped being valid) stayed
scheduled and blocked every new proposal of its setting for good.

The history guard (0004, 0005) lets a scheduled change that was not written
move exactly once more to cancelled, setting only the three cancel fields,
the reason not blank; a decision or a write of a change leaves them empty,
and nothing else ever sets them. An open proposal is still rejected, not
cancelled: it was never approved."""

import importlib

import django.db.models.deletion
from django.conf import settings
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
            (OLD.status = 'proposed' AND NEW.status IN ('scheduled', 'approved', 'rejected')
                AND NEW.cancelled_by_id IS NULL AND NEW.cancelled_at IS NULL AND NEW.cancel_reason = '')
            -- a scheduled change is written when its time has come, once
            OR (OLD.status = 'scheduled' AND NEW.status = 'approved' AND OLD.applied_at IS NULL
                AND (NEW.decided_by_id, NEW.decided_at, NEW.decision_note, NEW.effective_from,
                     NEW.cancelled_by_id, NEW.cancelled_at, NEW.cancel_reason)
                    IS NOT DISTINCT FROM (OLD.decided_by_id, OLD.decided_at, OLD.decision_note, OLD.effective_from,
                                          OLD.cancelled_by_id, OLD.cancelled_at, OLD.cancel_reason))
            -- or cancelled before it was written, once, by someone, with a reason
            OR (OLD.status = 'scheduled' AND NEW.status = 'cancelled' AND OLD.applied_at IS NULL
                AND (NEW.decided_by_id, NEW.decided_at, NEW.decision_note, NEW.effective_from,
                     NEW.applied_at, NEW.version, NEW.object_id, NEW.object_repr)
                    IS NOT DISTINCT FROM (OLD.decided_by_id, OLD.decided_at, OLD.decision_note, OLD.effective_from,
                                          OLD.applied_at, OLD.version, OLD.object_id, OLD.object_repr)
                AND NEW.cancelled_by_id IS NOT NULL AND NEW.cancelled_at IS NOT NULL
                AND btrim(NEW.cancel_reason) <> '')
       )
    THEN
        RAISE EXCEPTION 'setting change % is history: only an open proposal is decided, once', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
"""

# As 0005 left it.
UNGUARD = importlib.import_module(
    "accounts.kernel.migrations.0005_setting_change_effective_from_and_finance_reads"
).GUARD


class Migration(migrations.Migration):
    dependencies = [
        ("kernel", "0005_setting_change_effective_from_and_finance_reads"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="settingchange",
            name="cancel_reason",
            field=models.CharField(blank=True, max_length=255, verbose_name="reason for cancelling"),
        ),
        migrations.AddField(
            model_name="settingchange",
            name="cancelled_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="settingchange",
            name="cancelled_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
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
                    ("cancelled", "cancelled before taking effect (已撤销)"),
                ],
                default="proposed",
                max_length=16,
            ),
        ),
        migrations.RunSQL(GUARD, UNGUARD),
    ]
