"""A posting records the version of the posting rule it was booked under
(issue 19 §1): postings_posting.rule_version, NULL for postings whose legs the
caller gave. ledger_post takes the version as one more argument and writes it
with the posting; its old signature is dropped first, or the new one would be
an overload beside it. ledger_post_batch is unchanged: batches are given legs,
never a rule."""

from django.db import migrations, models

from postings.sql import LoadSqlFiles

OLD_SIGNATURE = "ledger_post(text, text, text, text, text, text, text, text, text[], text[], numeric[], text[])"
NEW_SIGNATURE = (
    "ledger_post(text, text, text, text, text, text, text, text, text[], text[], numeric[], text[], integer)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("postings", "0017_refunds"),
    ]

    operations = [
        migrations.AddField(
            model_name="posting",
            name="rule_version",
            field=models.PositiveIntegerField(
                blank=True, editable=False, null=True, verbose_name="posting rule version"
            ),
        ),
        migrations.RunSQL(f"DROP FUNCTION IF EXISTS {OLD_SIGNATURE};", migrations.RunSQL.noop),
        # Backwards drops the new function only: the old text is in git, not
        # in a file a migration could read again.
        LoadSqlFiles(
            {"ledger_post.sql": "a017ce161789c28de27b0ebb5ac27adad634a31dd0e8d19057bad5f25171c43d"},
            reverse_sql=f"DROP FUNCTION IF EXISTS {NEW_SIGNATURE};",
        ),
    ]
