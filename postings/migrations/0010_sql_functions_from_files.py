"""ledger_post() and ledger_post_batch() from postings/sql/, each written
in one piece: ledger_post as migration 0006 wrote it, ledger_post_batch as
0008 wrote it with 0009's edits applied. The functions do not change here;
from now on a change is an edit of the file and a migration that loads it
with the file's new hash (postings/sql/__init__.py)."""

from django.db import migrations

from postings.sql import LoadSqlFiles


class Migration(migrations.Migration):
    dependencies = [("postings", "0009_batch_stops_at_the_refused_item")]

    operations = [
        LoadSqlFiles(
            {
                "ledger_post.sql": "6ce8d46e0eb79a3ca7afd4cbc45ebc28716d44380ecc5445e09146917ee4162f",
                "ledger_post_batch.sql": "fab0da98a91457bd78e2947b373141974ace7e3abea6cd3c596783fc0054c4fa",
            }
        )
    ]
