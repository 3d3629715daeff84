"""One export mechanism for every kind of spreadsheet a worker writes
(issue 19 §2): the differences' export row becomes ``Export`` with a
``kind`` (the rows written so far are differences), its model now in
``reports.exporting.models``."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0014_difference_labels_in_chinese"),
    ]

    operations = [
        migrations.RenameModel("DifferenceExport", "Export"),
        migrations.AlterModelOptions(
            name="export",
            options={"default_permissions": (), "ordering": ["-requested_at"], "verbose_name": "export"},
        ),
        migrations.AddField(
            model_name="export",
            name="kind",
            field=models.CharField(default="differences", max_length=32),
        ),
    ]
