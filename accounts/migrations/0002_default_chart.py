from django.db import migrations

from accounts.chart import install_default_chart


def forwards(apps, schema_editor):
    install_default_chart(apps.get_model("accounts", "Entity"), apps.get_model("accounts", "AccountType"))


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
