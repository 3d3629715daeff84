"""The outbox's functions and triggers (events/sql/events.sql): every
posting, hold event, withdrawal status change, account status or limit
change and flush of buffered entries writes its event in its own
transaction; the sequencer numbers them."""

from django.db import migrations

from postings.sql import LoadSqlFiles

REVERSE = """
DROP TRIGGER IF EXISTS posting_events ON postings_entry;
DROP TRIGGER IF EXISTS entries_applied_events ON postings_entry;
DROP TRIGGER IF EXISTS hold_events ON postings_holdevent;
DROP TRIGGER IF EXISTS account_events ON accounts_account;
DROP TRIGGER IF EXISTS withdrawal_events ON withdrawals_withdrawalevent;
DROP TRIGGER IF EXISTS event_append_only ON events_event;
DROP FUNCTION IF EXISTS ledger_posting_events();
DROP FUNCTION IF EXISTS ledger_entries_applied_events();
DROP FUNCTION IF EXISTS ledger_hold_events();
DROP FUNCTION IF EXISTS ledger_account_events();
DROP FUNCTION IF EXISTS ledger_withdrawal_events();
DROP FUNCTION IF EXISTS ledger_event_guard();
DROP FUNCTION IF EXISTS ledger_events_sequence();
DROP FUNCTION IF EXISTS ledger_event_emit(text, bigint, text, bigint, jsonb);
DROP FUNCTION IF EXISTS ledger_event_version(text, bigint);
DROP FUNCTION IF EXISTS ledger_event_xid();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0001_outbox"),
        ("accounts", "0007_guards_in_plain_sql"),
        ("postings", "0019_guarantee_orders"),
        ("withdrawals", "0007_fee_rule_version_fixed"),
    ]

    operations = [
        LoadSqlFiles(
            {"events.sql": "25acb0944f0e783fed37eabb74b0967fa5b416f1d08d7f24bf496ac7e1ea7196"},
            reverse_sql=REVERSE,
            directory="events/sql",
        ),
    ]
