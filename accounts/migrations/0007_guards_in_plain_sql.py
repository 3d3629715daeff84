"""pgtrigger's triggers on the accounts tables go: postings 0013 installed
the same guards in plain SQL (postings/sql/guards.sql) before this runs."""

import pgtrigger.migrations
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("postings", "0013_guards_in_plain_sql"),
        ("accounts", "0006_account_open_request"),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name="account",
            name="account_never_deleted",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="accountpostingmodechange",
            name="posting_mode_change_append_only",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="accountstatuschange",
            name="status_change_append_only",
        ),
    ]
