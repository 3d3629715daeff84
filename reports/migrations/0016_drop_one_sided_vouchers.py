"""The one-sided summary vouchers (a row per subject and side) give way to
balanced vouchers with lines (issue 22, section 1; the next migration).
They were derived rows, rebuilt by the end of day: re-run the vouchers step
of the days the GL still needs (manage.py eod --retry-from vouchers)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("reports", "0015_export_of_every_kind")]

    operations = [migrations.DeleteModel(name="Voucher")]
