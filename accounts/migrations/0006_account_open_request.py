"""The account-opening request numbers move from the API app to accounts
(issue 17: the idempotency of opening an account is accounts' rule, not the
API's). The rows stay: the table is renamed, nothing is copied."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_posting_mode_history"),
        ("api", "0002_client_rate_limit"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AccountOpenRequest",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("source_system", models.CharField(max_length=32)),
                        ("request_no", models.CharField(max_length=64)),
                        ("fingerprint", models.CharField(editable=False, max_length=64)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "account",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.account"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "api_apiaccountrequest",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("source_system", "request_no"), name="api_account_request_unique"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="accountopenrequest", table=None),
    ]
