"""The account types the period close books to (issue 22 section 2): the
current-year profit (本年利润, 4103) the month-end carry-forward empties the
income and expense subjects into, and retained earnings (未分配利润, 4104)
the year-end close moves it to. Internal, may go negative (a loss)."""

from django.db import migrations

TYPES = [
    ("CURRENT_YEAR_PROFIT", "Current-year profit (本年利润)", "4103"),
    ("RETAINED_EARNINGS", "Retained earnings (利润分配-未分配利润)", "4104"),
]


def add(apps, schema_editor):
    AccountType = apps.get_model("accounts", "AccountType")
    for code, name, subject in TYPES:
        AccountType.objects.get_or_create(
            code=code,
            defaults={"name": name, "category": "internal", "subject_code": subject, "allow_negative": True},
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0009_opening_balance_account_type")]

    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
