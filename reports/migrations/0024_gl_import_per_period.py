"""A GL trial balance of a month or a year (issue 22 section 2): the GL reconciliation compares per period too."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0023_accounting_periods_and_close"),
    ]

    operations = [
        migrations.AddField(
            model_name="glimport",
            name="period_start",
            field=models.DateField(blank=True, null=True),
        ),
    ]
