"""Metadata and trade numbers (issue 23 §3): postings and holds carry the
caller's ``trade_no`` (the order their postings belong to) and ``metadata``
(its own searchable keys), refused by the database when malformed
(postings/sql/metadata.sql, the CHECK constraints). ledger_post and
ledger_post_batch take them as new last arguments; their old signatures are
dropped first, or the new ones would be overloads beside them. The search
indexes follow in 0027, built without blocking postings."""

import django.db.models.lookups
from django.db import migrations, models

import postings.models
from postings.sql import LoadSqlFiles

OLD_POST = "ledger_post(text, text, text, text, text, text, text, text, text[], text[], numeric[], text[], integer)"
NEW_POST = (
    "ledger_post(text, text, text, text, text, text, text, text, text[], text[], numeric[], text[], integer, "
    "text, jsonb)"
)
OLD_BATCH = (
    "ledger_post_batch(text, text, text[], text[], text[], text[], text[], text[], text[], integer[], text[], "
    "text[], numeric[])"
)
NEW_BATCH = (
    "ledger_post_batch(text, text, text[], text[], text[], text[], text[], text[], text[], integer[], text[], "
    "text[], numeric[], text[], jsonb[])"
)


def _metadata_valid(prefix):
    return models.CheckConstraint(
        condition=models.Q(
            ("metadata", {}),
            django.db.models.lookups.IsNull(postings.models.MetadataRefusal("metadata"), True),
            _connector="OR",
        ),
        name=f"{prefix}_metadata_valid",
    )


def _trade_no_not_empty(prefix):
    return models.CheckConstraint(
        condition=models.Q(("trade_no__isnull", True), models.Q(("trade_no", ""), _negated=True), _connector="OR"),
        name=f"{prefix}_trade_no_not_empty",
    )


def _fields(model_name):
    return [
        migrations.AddField(
            model_name=model_name,
            name="metadata",
            field=models.JSONField(
                blank=True, db_default={}, default=dict, help_text="The caller's own keys and values."
            ),
        ),
        migrations.AddField(
            model_name=model_name,
            name="trade_no",
            field=models.CharField(
                blank=True,
                help_text="The caller's trade (order) number.",
                max_length=64,
                null=True,
                verbose_name="trade number",
            ),
        ),
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0010_period_close_account_types"),
        ("postings", "0027_entry_hash_chain"),
    ]

    operations = [
        *_fields("hold"),
        *_fields("posting"),
        # The constraints call the function: it comes first.
        LoadSqlFiles(
            {"metadata.sql": "5bfccbef2c8bc0de2fc94824166fec0ffb33eb8e828ce8b16c5a1e3089927c0d"},
            reverse_sql="DROP FUNCTION IF EXISTS ledger_metadata_refusal(jsonb);",
        ),
        migrations.AddConstraint(model_name="hold", constraint=_metadata_valid("hold")),
        migrations.AddConstraint(model_name="hold", constraint=_trade_no_not_empty("hold")),
        migrations.AddConstraint(model_name="posting", constraint=_metadata_valid("posting")),
        migrations.AddConstraint(model_name="posting", constraint=_trade_no_not_empty("posting")),
        migrations.RunSQL(f"DROP FUNCTION IF EXISTS {OLD_POST};", migrations.RunSQL.noop),
        migrations.RunSQL(f"DROP FUNCTION IF EXISTS {OLD_BATCH};", migrations.RunSQL.noop),
        # Backwards drops the new functions only: the old text is in git, not
        # in a file a migration could read again.
        LoadSqlFiles(
            {
                "ledger_post.sql": "8dd6c0f9ab09451737f8209fdb175681c9e954392130c7245f860ff976d4aca2",
                "ledger_post_batch.sql": "14e4e91623738223247d96820da4d7891a1d5232decf2bb5e6b0a24cae450731",
            },
            reverse_sql=f"DROP FUNCTION IF EXISTS {NEW_POST}; DROP FUNCTION IF EXISTS {NEW_BATCH};",
        ),
    ]
