"""The outbox's events of agreements (events/sql/agreement_events.sql):
agreement.status_changed for each step of an agreement's history and
agreement.debit_attempted for each debit attempt, in their transactions."""

from django.db import migrations

from postings.sql import LoadSqlFiles

REVERSE = """
DROP TRIGGER IF EXISTS agreement_status_events ON agreements_agreementevent;
DROP TRIGGER IF EXISTS agreement_attempt_events ON agreements_debitattempt;
DROP FUNCTION IF EXISTS ledger_agreement_events();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0002_outbox_triggers"),
        ("agreements", "0001_agreements"),
    ]

    operations = [
        LoadSqlFiles(
            {"agreement_events.sql": "81a4795bcad064ba42b38adb5dfeb845dfaf5430ae177137d79ee0c6d9e772d1"},
            reverse_sql=REVERSE,
            directory="events/sql",
        ),
    ]
