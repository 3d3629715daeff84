"""The demo's channel reconciliation (manage.py seed_recon_demo, called by
rundemo): statements written from the ledger, imported and matched, with one
long, one amount mismatch and one missing record a day; run twice, nothing new."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from reports.channel.models import Difference, ReconRun, StatementImport

pytestmark = pytest.mark.django_db


def test_the_demo_reconciles_the_last_closed_days():
    call_command("seed_demo", members=30, days=4, seed=1, stdout=StringIO())
    call_command("eod", catch_up=True, actor="test", stdout=StringIO(), stderr=StringIO())
    out = StringIO()
    call_command("seed_recon_demo", stdout=out)

    runs = list(ReconRun.objects.select_related("channel").order_by("recon_date", "channel__code"))
    assert {r.channel.code for r in runs} == {"banksim", "epaysim"}
    assert len({r.recon_date for r in runs}) == 3
    for run in runs:
        assert run.long_count == 1 and run.long_amount == 88, run
        assert run.mismatch_count <= 1 and run.mismatch_amount == run.mismatch_count * Decimal("0.50"), run
    # A quiet day of a small demo may have too few records for a mismatch; the month has both.
    assert sum(r.matched_count for r in runs) > 0 and sum(r.mismatch_count for r in runs) > 0
    # The record each statement leaves out is short (or, near the cut, pending).
    assert Difference.objects.filter(outcome__in=["short", "pending"]).exists()
    for run in runs:  # every line is accounted for
        assert run.channel_count == run.matched_count + run.mismatch_count + run.long_count, run
    assert out.getvalue().count("Channel recon") == len(runs)

    imports = StatementImport.objects.count()
    call_command("seed_recon_demo", stdout=StringIO())
    assert StatementImport.objects.count() == imports
