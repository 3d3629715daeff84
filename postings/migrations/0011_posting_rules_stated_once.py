"""The posting rules stated once (issue 17): posting_rules.sql holds them as
two SQL functions, ledger_leg_refusal and ledger_balance_refusal, which answer
a stable code; ledger_post raises the code as a refusal (SQLSTATE LR001)
instead of handing the posting to the service's full path, and
ledger_post_batch asks the same functions. The service's full path asks them
too (postings.services, "One call"), so no rule has a second copy.

Backwards: the functions as migrations 0006 and 0009 left them."""

from importlib import import_module

from django.db import migrations

from postings.sql import LoadSqlFiles

_POST = import_module("postings.migrations.0006_ledger_post_function")
_BATCH = import_module("postings.migrations.0009_batch_stops_at_the_refused_item")

BACKWARDS = "\n".join(
    [
        _POST.FUNCTION + ";",
        _BATCH._edited(_BATCH._BEFORE.FUNCTION) + ";",
        "DROP FUNCTION IF EXISTS ledger_leg_refusal(bigint, text, bigint, text, text, text, text, boolean, text, "
        "boolean);",
        "DROP FUNCTION IF EXISTS ledger_balance_refusal(text, boolean, numeric, numeric, numeric);",
    ]
)


class Migration(migrations.Migration):
    dependencies = [("postings", "0010_sql_functions_from_files")]

    operations = [
        LoadSqlFiles(
            {
                "posting_rules.sql": "25b46084789acbac8c1744f25eeb1a7d1439d77b1db22aaf28b5bb3dce997083",
                "ledger_post.sql": "69aeb99e7997bd52d68a1d12c4e5871e743043adebe7643191b5733ce0ab7efa",
                "ledger_post_batch.sql": "6a04f56befc35fa6b0bc57805083da9d141f7631b36d1dc69452d026a054faad",
            },
            reverse_sql=BACKWARDS,
        )
    ]
