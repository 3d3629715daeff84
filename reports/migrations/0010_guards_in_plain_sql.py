"""Channel reconciliation's guards in plain SQL (reports/sql/guards.sql,
issue 18, section 1), installed before pgtrigger's are removed."""

import pgtrigger.migrations
from django.db import migrations

from postings.sql import LoadSqlFiles

# Backwards drops what the file created; the reversed RemoveTrigger
# operations put pgtrigger's triggers back.
REVERSE = """
DROP TRIGGER IF EXISTS channel_never_deleted ON reports_channel;
DROP TRIGGER IF EXISTS statement_import_append_only ON reports_statementimport;
DROP TRIGGER IF EXISTS statement_line_append_only ON reports_statementline;
DROP TRIGGER IF EXISTS recon_run_never_deleted ON reports_reconrun;
DROP TRIGGER IF EXISTS difference_never_deleted ON reports_difference;
DROP TRIGGER IF EXISTS difference_event_append_only ON reports_differenceevent;
DROP TRIGGER IF EXISTS difference_proposal_never_deleted ON reports_differenceproposal;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("postings", "0013_guards_in_plain_sql"),
        ("reports", "0009_sheet_of_movers"),
    ]

    operations = [
        LoadSqlFiles(
            {"guards.sql": "01b33ca54f42a2efcfddb8a713c7089fb2b9f780296418d58fbe22980c549a73"},
            reverse_sql=REVERSE,
            directory="reports/sql",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="channel",
            name="channel_never_deleted",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="difference",
            name="difference_never_deleted",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="differenceevent",
            name="difference_event_append_only",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="differenceproposal",
            name="difference_proposal_never_deleted",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="reconrun",
            name="recon_run_never_deleted",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="statementimport",
            name="statement_import_append_only",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="statementline",
            name="statement_line_append_only",
        ),
    ]
