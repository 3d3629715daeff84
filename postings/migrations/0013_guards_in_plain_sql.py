"""The guards in plain SQL (issue 18, section 1): django-pgtrigger's
triggers first asked _pgtrigger_should_ignore, which any role satisfied by
setting pgtrigger.ignore, so a runtime connection could switch off the
append-only and balance checks. postings/sql/guards.sql installs triggers of
the same names with no such hook (and adds the entry-chain check), before
pgtrigger's are removed, in one transaction: a migrated database is never
without a guard. The accounts triggers are installed here too (accounts
0007 removes pgtrigger's); ledger_refuse_change() serves withdrawals and
reports, whose migrations load their own guards.sql after this one.
"""

import pgtrigger.migrations
from django.db import migrations

from postings.sql import LoadSqlFiles

# Backwards drops what the file created; the reversed RemoveTrigger
# operations put pgtrigger's triggers back.
REVERSE = """
DROP TRIGGER IF EXISTS posting_append_only ON postings_posting;
DROP TRIGGER IF EXISTS posting_has_entries ON postings_posting;
DROP TRIGGER IF EXISTS entry_append_only ON postings_entry;
DROP TRIGGER IF EXISTS entry_applied_once ON postings_entry;
DROP TRIGGER IF EXISTS entries_balanced_and_chained ON postings_entry;
DROP TRIGGER IF EXISTS entries_applied_in_chain ON postings_entry;
DROP TRIGGER IF EXISTS hold_never_deleted ON postings_hold;
DROP TRIGGER IF EXISTS hold_event_append_only ON postings_holdevent;
DROP TRIGGER IF EXISTS account_never_deleted ON accounts_account;
DROP TRIGGER IF EXISTS status_change_append_only ON accounts_accountstatuschange;
DROP TRIGGER IF EXISTS posting_mode_change_append_only ON accounts_accountpostingmodechange;
DROP FUNCTION IF EXISTS ledger_refuse_change();
DROP FUNCTION IF EXISTS ledger_posting_has_entries();
DROP FUNCTION IF EXISTS ledger_entry_applied_once();
DROP FUNCTION IF EXISTS ledger_entries_check();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_account_open_request"),
        ("postings", "0012_one_balance_writer"),
    ]

    operations = [
        LoadSqlFiles(
            {"guards.sql": "53f8bb2e81d779b08f85d9a8384a08bd0ad43fb312e822698d218899fe0046ca"}, reverse_sql=REVERSE
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="entry",
            name="entry_append_only",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="entry",
            name="entry_applied_once",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="entry",
            name="entry_postings_balanced",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="hold",
            name="hold_never_deleted",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="holdevent",
            name="hold_event_append_only",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="posting",
            name="posting_append_only",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="posting",
            name="posting_has_entries",
        ),
    ]
