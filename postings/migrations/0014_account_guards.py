"""The database refuses forged balances, frozen amounts and holds at COMMIT
(issue 18, section 1): postings/sql/account_guards.sql. An account's balance
is its latest applied entry's balance after, its frozen amount the sum of its
active holds' remaining amounts, and a hold moves only with its events.

The partial index is what the frozen check reads: an account's active holds.
"""

from django.db import migrations, models

from postings.sql import LoadSqlFiles

DROP = """
DROP TRIGGER IF EXISTS account_guard_insert ON accounts_account;
DROP TRIGGER IF EXISTS account_guard_update ON accounts_account;
DROP TRIGGER IF EXISTS hold_guard_insert ON postings_hold;
DROP TRIGGER IF EXISTS hold_guard_update ON postings_hold;
DROP TRIGGER IF EXISTS hold_amount_and_account_fixed ON postings_hold;
DROP TRIGGER IF EXISTS hold_event_guard_insert ON postings_holdevent;
DROP FUNCTION IF EXISTS ledger_account_guard(), ledger_hold_guard(), ledger_hold_event_guard(), ledger_hold_fixed(),
    ledger_balance_drift(bigint), ledger_frozen_drift(bigint), ledger_hold_drift(bigint);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_account_open_request"),
        ("postings", "0013_guards_in_plain_sql"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="hold",
            index=models.Index(
                condition=models.Q(("status__in", ("held", "partially_settled"))),
                fields=["account"],
                include=("remaining",),
                name="hold_active_account_idx",
            ),
        ),
        LoadSqlFiles(
            {"account_guards.sql": "4ea08c2ecb359d4c77bf557f2262a2f864cfb88f15d320086c377a0b1d077db7"},
            reverse_sql=DROP,
        ),
    ]
