"""The withdrawals' guards in plain SQL (withdrawals/sql/guards.sql, issue
18, section 1), installed before pgtrigger's are removed: the append-only
history and approvals as before, and new: what was requested is never
edited, a status moves only with its history row, a payout instruction
keeps what was sent and the bank's answer."""

import pgtrigger.migrations
from django.db import migrations

from postings.sql import LoadSqlFiles

# Backwards drops what the file created; the reversed RemoveTrigger
# operations put pgtrigger's triggers back.
REVERSE = """
DROP TRIGGER IF EXISTS withdrawal_fixed_at_request ON withdrawals_withdrawal;
DROP TRIGGER IF EXISTS withdrawal_never_deleted ON withdrawals_withdrawal;
DROP TRIGGER IF EXISTS withdrawal_requested_with_history ON withdrawals_withdrawal;
DROP TRIGGER IF EXISTS withdrawal_status_has_history ON withdrawals_withdrawal;
DROP TRIGGER IF EXISTS withdrawal_event_append_only ON withdrawals_withdrawalevent;
DROP TRIGGER IF EXISTS approval_append_only ON withdrawals_approval;
DROP TRIGGER IF EXISTS payout_instruction_fixed ON withdrawals_payoutinstruction;
DROP TRIGGER IF EXISTS payout_instruction_never_deleted ON withdrawals_payoutinstruction;
DROP FUNCTION IF EXISTS withdrawal_fixed_at_request();
DROP FUNCTION IF EXISTS withdrawal_status_has_history();
DROP FUNCTION IF EXISTS payout_instruction_fixed();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("postings", "0013_guards_in_plain_sql"),
        ("withdrawals", "0004_payout_flag_resolution"),
    ]

    operations = [
        LoadSqlFiles(
            {"guards.sql": "9103d4c4abf8cf529d746c2d4585dd76ed43ca753c3aef9aa1f0a754c4d7b8b7"},
            reverse_sql=REVERSE,
            directory="withdrawals/sql",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="approval",
            name="approval_append_only",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="withdrawalevent",
            name="withdrawal_event_append_only",
        ),
    ]
