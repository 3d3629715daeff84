"""Posting, hold and withdrawal events carry the trade number and metadata
(issue 23 §3; docs/events/, added to the v1 payloads). events.sql is loaded
again as a whole: its triggers are dropped and created as they were."""

from django.db import migrations

from postings.sql import LoadSqlFiles


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0003_agreement_events"),
        ("postings", "0028_references_metadata_trade_no"),
        ("withdrawals", "0008_references_metadata_trade_no"),
    ]

    operations = [
        # Backwards leaves the functions as they are: 0002's text is in git only.
        LoadSqlFiles(
            {"events.sql": "7d6dfec3589fc4eff27dda465e0b4b16d05d23dc16e38083de33d5032d3a66ec"},
            reverse_sql=None,
            directory="events/sql",
        ),
    ]
