from django.db import migrations

from postings.chart import install_default_rules


def forwards(apps, schema_editor):
    install_default_rules(
        apps.get_model("postings", "PostingRule"),
        apps.get_model("postings", "PostingRuleLeg"),
        apps.get_model("accounts", "AccountType"),
    )


class Migration(migrations.Migration):
    dependencies = [("postings", "0001_initial"), ("accounts", "0002_default_chart")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
