"""The suspense account type (待处理/暂挂, subject 1901): where reconciliation
differences that cannot be booked anywhere better are written off, with
approval (reports.channel.work). Internal, may go negative (a short written off
debits it). Finance opens the account itself, one per entity and currency."""

from django.db import migrations


def add(apps, schema_editor):
    AccountType = apps.get_model("accounts", "AccountType")
    AccountType.objects.get_or_create(
        code="SUSPENSE",
        defaults={
            "name": "Suspense, reconciliation write-offs (待处理差错挂账)",
            "category": "internal",
            "subject_code": "1901",
            "allow_negative": True,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_buffered_posting_mode")]

    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
