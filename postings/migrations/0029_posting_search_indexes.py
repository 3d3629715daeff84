"""The indexes of GET /api/v1/postings (issue 23 §3), each search one index
scan: request_no across source systems, a trade's postings newest first
(partial: postings with a trade number), metadata containment (GIN,
jsonb_path_ops, partial: postings with metadata), created_at ranges. Built
concurrently: the posting table is among the ledger's largest."""

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("postings", "0028_references_metadata_trade_no"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="posting",
            index=models.Index(fields=["request_no"], name="posting_request_no_idx"),
        ),
        AddIndexConcurrently(
            model_name="posting",
            index=models.Index(
                condition=models.Q(("trade_no__isnull", False)),
                fields=["trade_no", "serial_no"],
                name="posting_trade_no_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="posting",
            index=django.contrib.postgres.indexes.GinIndex(
                condition=models.Q(("metadata", {}), _negated=True),
                fields=["metadata"],
                name="posting_metadata_gin",
                opclasses=["jsonb_path_ops"],
            ),
        ),
        AddIndexConcurrently(
            model_name="posting",
            index=models.Index(fields=["created_at"], name="posting_created_at_idx"),
        ),
    ]
