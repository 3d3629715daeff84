"""Fewer indexes to maintain on every posting: each posting inserts one
posting row and two or more entries, and every index is written each time.

- entry.account_id alone: (account_id, account_seq) and (account_id,
  accounting_date) lead with it.
- posting.entity_id: a handful of entities; no query wants it selective.
- posting.external_ref's LIKE (varchar_pattern_ops) twin: the serial is only
  looked up by equality. The plain index is kept, renamed.

The fields change in the migration state only; in the database the indexes
are dropped by name, so the foreign keys are not dropped and re-validated
over the whole entry table (what AlterField would do).
"""

import django.db.models.deletion
from django.db import migrations, models

DROPPED = [
    "postings_entry_account_id_8662da6a",
    "postings_posting_entity_id_cf494511",
    "postings_posting_external_ref_a323fee8_like",
]
OLD_REF, NEW_REF = "postings_posting_external_ref_a323fee8", "posting_external_ref_idx"


def forwards(apps, schema_editor):
    q = schema_editor.quote_name
    for name in DROPPED:
        schema_editor.execute(f"DROP INDEX IF EXISTS {q(name)}")
    schema_editor.execute(f"ALTER INDEX IF EXISTS {q(OLD_REF)} RENAME TO {q(NEW_REF)}")
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {q(NEW_REF)} ON postings_posting (external_ref)")


def backwards(apps, schema_editor):
    q = schema_editor.quote_name
    schema_editor.execute(f"DROP INDEX IF EXISTS {q(NEW_REF)}")
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {q(OLD_REF)} ON postings_posting (external_ref)")
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {q(DROPPED[0])} ON postings_entry (account_id)")
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {q(DROPPED[1])} ON postings_posting (entity_id)")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {q(DROPPED[2])} ON postings_posting (external_ref varchar_pattern_ops)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_suspense_account_type"),
        ("postings", "0004_pending_entries"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="entry",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="entries",
                        to="accounts.account",
                    ),
                ),
                migrations.AlterField(
                    model_name="posting",
                    name="entity",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="postings",
                        to="accounts.entity",
                    ),
                ),
                migrations.AlterField(
                    model_name="posting",
                    name="external_ref",
                    field=models.CharField(blank=True, max_length=64, verbose_name="external reference"),
                ),
                migrations.AddIndex(
                    model_name="posting",
                    index=models.Index(fields=["external_ref"], name="posting_external_ref_idx"),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
