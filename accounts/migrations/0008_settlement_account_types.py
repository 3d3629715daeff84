"""The account types settlement books to (issue 20 section 3): the reserve
funds at the bank (备付金, subject 1002) a channel's clearing account is
settled to, and the channel's fee cost (subject 6603). Internal, may go
negative, like the clearing account they face. Finance opens the accounts."""

from django.db import migrations

TYPES = [
    ("RESERVE_FUND", "Reserve funds at the bank (备付金)", "1002"),
    ("CHANNEL_FEE", "Channel fee cost (渠道手续费支出)", "6603"),
]


def add(apps, schema_editor):
    AccountType = apps.get_model("accounts", "AccountType")
    for code, name, subject in TYPES:
        AccountType.objects.get_or_create(
            code=code,
            defaults={"name": name, "category": "internal", "subject_code": subject, "allow_negative": True},
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_guards_in_plain_sql")]

    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
