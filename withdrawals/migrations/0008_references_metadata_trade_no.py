"""A withdrawal carries the caller's trade number and metadata (issue 23 §3),
given to its hold and so to its settlement posting; the database refuses
malformed ones as for postings (postings/sql/metadata.sql)."""

import django.db.models.lookups
from django.db import migrations, models

import postings.models


class Migration(migrations.Migration):
    dependencies = [
        ("postings", "0028_references_metadata_trade_no"),
        ("withdrawals", "0007_fee_rule_version_fixed"),
    ]

    operations = [
        migrations.AddField(
            model_name="withdrawal",
            name="metadata",
            field=models.JSONField(
                blank=True, db_default={}, default=dict, help_text="The caller's own keys and values."
            ),
        ),
        migrations.AddField(
            model_name="withdrawal",
            name="trade_no",
            field=models.CharField(
                blank=True,
                help_text="The caller's trade (order) number.",
                max_length=64,
                null=True,
                verbose_name="trade number",
            ),
        ),
        migrations.AddConstraint(
            model_name="withdrawal",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("metadata", {}),
                    django.db.models.lookups.IsNull(postings.models.MetadataRefusal("metadata"), True),
                    _connector="OR",
                ),
                name="withdrawal_metadata_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="withdrawal",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("trade_no__isnull", True), models.Q(("trade_no", ""), _negated=True), _connector="OR"
                ),
                name="withdrawal_trade_no_not_empty",
            ),
        ),
    ]
