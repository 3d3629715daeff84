"""The account type an opening-balance import (期初建账, issue 22 section 4)
posts against: internal, may go negative, one account per entity and
currency (found by type). Subject 3999 is a transit subject: the import is
refused unless the identity holds, so the account is at zero after it."""

from django.db import migrations


def add(apps, schema_editor):
    AccountType = apps.get_model("accounts", "AccountType")
    AccountType.objects.get_or_create(
        code="OPENING_BALANCE",
        defaults={
            "name": "Opening balances in transit (期初建账过渡户)",
            "category": "internal",
            "subject_code": "3999",
            "allow_negative": True,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_settlement_account_types")]

    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
