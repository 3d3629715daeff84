"""The entries' guard names its posting-mode refusal (issue 19): a pending
entry on an account that is not buffered, or an applied one inserted on a
buffered account, is raised as the constraint ``entry_follows_posting_mode``
with the account number in DETAIL. A posting that read its hot account as
buffered just before a switch back to real-time committed meets this refusal,
and the posting service now tells it from any other integrity error: it
tries the posting again, or refuses it with ``posting_mode_changed``
(postings.services.idempotency). What the guard refuses is unchanged."""

from django.db import migrations

from postings.sql import LoadSqlFiles


class Migration(migrations.Migration):
    dependencies = [
        ("postings", "0019_guarantee_orders"),
    ]

    operations = [
        # Backwards leaves this text in force: it refuses exactly what 0013's did.
        LoadSqlFiles({"guards.sql": "6b2e21eb1386382b414b1a7a86e7df6700f59373582ae69a3541393f584148eb"}),
    ]
