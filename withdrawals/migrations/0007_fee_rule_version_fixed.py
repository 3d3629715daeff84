"""The fee rule's version that priced a withdrawal is fixed at request like the
fee itself (withdrawals/sql/guards.sql, withdrawal_fixed_at_request)."""

from django.db import migrations

from postings.sql import LoadSqlFiles


class Migration(migrations.Migration):
    dependencies = [("withdrawals", "0006_fee_rule_version")]

    operations = [
        LoadSqlFiles(
            {"guards.sql": "a5eaebd9794a5446dd2778dab9695ed4cdfbde1457c9ee024051b33b315383ff"},
            reverse_sql=None,  # 0005's load stays in force
            directory="withdrawals/sql",
        ),
    ]
