"""ApiAccountRequest is accounts.AccountOpenRequest now (accounts 0006 took
its table over); only the API app's idea of it goes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0002_client_rate_limit"),
        ("accounts", "0006_account_open_request"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ApiAccountRequest")],
            database_operations=[],
        ),
    ]
