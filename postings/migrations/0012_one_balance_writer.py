"""One balance writer (issue 17, section 3): ledger_balances_write
(postings/sql/balances.sql) is the only statement that updates an account's
balance, frozen amount and entry sequence; ledger_post and ledger_post_batch
call it, and so does postings.balances for every Python path.

Backwards leaves the functions as they are: 0011's text of the two is not
on record in one piece (the files moved on), and they work as they are.
"""

from django.db import migrations

from postings.sql import LoadSqlFiles


class Migration(migrations.Migration):
    dependencies = [("postings", "0011_posting_rules_stated_once")]

    operations = [
        LoadSqlFiles(
            {
                "balances.sql": "5ef3b80f53b6d06b92cd066ad5f8ce283cba38a7e019f3aa8d39d3763e4e894f",
                "ledger_post.sql": "1bb38bd56c1f0c4ef440ce263b906a3467e590a13ec0926bbfddad10124bff41",
                "ledger_post_batch.sql": "bffe282a9780e18617e1f0f5f79cac6d761f34dc9f170d935e1c11f45a7abe03",
            }
        )
    ]
