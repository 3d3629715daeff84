"""The entries' hash chain (issue 22 section 5): each applied entry carries
sha256(its canonical content || the previous entry's hash on its account),
set by a row trigger wherever entries are written (postings/sql/entry_hash.sql,
docs/hash_chain.md). Existing entries are chained here, per account in
sequence order, by the same trigger: an UPDATE that sets account_seq to
itself fires it, with the two guards that refuse any update of an applied
entry switched off for this migration only (it changes no column they keep)."""

from django.db import migrations, models

from postings.sql import LoadSqlFiles

REVERSE = """
DROP TRIGGER IF EXISTS entry_hash_chained ON postings_entry;
DROP FUNCTION IF EXISTS ledger_entry_hash();
DROP FUNCTION IF EXISTS ledger_entries_apply(bigint[], bigint[], numeric[], numeric[], numeric);
DROP FUNCTION IF EXISTS ledger_entry_digest(postings_entry, bytea);
DROP FUNCTION IF EXISTS ledger_entry_content(postings_entry);
"""

BACKFILL = """
ALTER TABLE postings_entry DISABLE TRIGGER entry_applied_once;
ALTER TABLE postings_entry DISABLE TRIGGER entries_applied_in_chain;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT serial_no FROM postings_entry WHERE account_seq IS NOT NULL ORDER BY account_id, account_seq LOOP
        UPDATE postings_entry SET account_seq = account_seq WHERE serial_no = r.serial_no;
    END LOOP;
END $$;
ALTER TABLE postings_entry ENABLE TRIGGER entries_applied_in_chain;
ALTER TABLE postings_entry ENABLE TRIGGER entry_applied_once;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("postings", "0026_monthly_statements"),
    ]

    operations = [
        migrations.AddField(
            model_name="entry",
            name="entry_hash",
            field=models.BinaryField(blank=True, editable=False, null=True),
        ),
        LoadSqlFiles(
            {
                "entry_hash.sql": "1ad74abbb6a8feb7fdd10abba27c14f96b8f75f33831d8611b856d6ae33049f9",
                "guards.sql": "b6662ddc5ab9e9036b53389a5c43d8078f9660c87b4448cd8837a1d06662e0a5",
            },
            reverse_sql=REVERSE,
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
