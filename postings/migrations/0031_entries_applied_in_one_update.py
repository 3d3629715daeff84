"""The flush applies a batch of pending entries in one UPDATE again:
ledger_entries_apply chains the batch's hashes itself, the row trigger keeps
the hash an applying UPDATE supplies, and the chain guard checks each one at
the end of the statement (postings/sql/entry_hash.sql, guards.sql). The
statement triggers fire once per batch: one entries.applied event per account
and flush, one chain check."""

from django.db import migrations

from postings.sql import LoadSqlFiles


class Migration(migrations.Migration):
    dependencies = [
        ("postings", "0030_credit_product_bills_accruals"),
    ]

    operations = [
        LoadSqlFiles(
            {
                "entry_hash.sql": "ee69e50607aff707e047090da2427d5fb56083b388e9f704a1bde16157f62c00",
                "guards.sql": "8d7be770d82ebe3759afd084ae6636146a2823b98dfd3ff5bebaea778c427fdd",
            },
        ),
    ]
