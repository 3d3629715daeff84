"""Opening-balance imports are append-only in the database
(reports/sql/opening.sql)."""

from django.db import migrations

from postings.sql import LoadSqlFiles

REVERSE = """
DROP TRIGGER IF EXISTS opening_import_append_only ON reports_openingimport;
DROP TRIGGER IF EXISTS opening_account_append_only ON reports_openingaccount;
DROP TRIGGER IF EXISTS opening_posting_append_only ON reports_openingposting;
"""


class Migration(migrations.Migration):
    dependencies = [("reports", "0024_gl_import_per_period")]

    operations = [
        LoadSqlFiles(
            {"opening.sql": "50b0e673e89b31a482c11e8a4294bc09f390231ffa4f803b3c0bc50d64a0b847"},
            reverse_sql=REVERSE,
            directory="reports/sql",
        ),
    ]
