"""eod.finished and recon.finished: written in the transaction that ends
the run, with the figures a consumer needs, valid against docs/events/."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from reports.channel.importing import statement_import
from reports.channel.matching import channel_recon_run
from reports.eod.models import RunStatus
from reports.eod.services import eod_run
from tests.reports.eod_books import open_books_on, post
from tests.reports.recon_books import epay_file, recharge, sample_channel

from .scripted import as_published, number_everything, validate

pytestmark = pytest.mark.django_db(transaction=True)

NOV2 = date(2026, 11, 2)


def test_an_end_of_day_that_finishes_says_so_with_its_checks(ledger):
    open_books_on(ledger.entity, NOV2)
    wallet, channel = ledger.cash(), ledger.channel()
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    run = eod_run(entity=ledger.entity, accounting_date=NOV2, actor="ops")
    assert run.status == RunStatus.DONE
    (event,) = [e for e in number_everything() if e.type == "eod.finished"]
    validate(as_published(event))
    assert (event.aggregate_type, event.aggregate_id, event.aggregate_version) == ("eod_run", run.pk, 1)
    assert event.payload["entity"] == "MAIN" and event.payload["accounting_date"] == "2026-11-02"
    assert event.payload["all_passed"] is True
    assert {c["name"] for c in event.payload["checks"]} >= {"identity", "debits_credits", "entry_chain"}

    again = eod_run(entity=ledger.entity, accounting_date=NOV2, actor="ops")  # a done day is recomputed
    finished = [e for e in number_everything() if e.type == "eod.finished"]
    assert [e.aggregate_version for e in finished] == [1, 2] and again.pk == run.pk


def test_a_reconciliation_run_that_finishes_says_so_with_its_counts(ledger):
    day = timezone.localdate() + timedelta(days=3)
    open_books_on(ledger.entity, day)
    channel, wallet = sample_channel("epaysim", clearing=ledger.channel()), ledger.cash()
    recharge(ledger, wallet, "500.00", "SEED")
    recharge(ledger, wallet, "20.00", "ONLY-US")
    statement_import(
        channel=channel,
        statement_date=day,
        file_name="r.csv",
        imported_by="finance",
        content=epay_file(day, [("SEED", "500.00", "1.90")]),
    )
    run = channel_recon_run(channel=channel, recon_date=day)
    (event,) = [e for e in number_everything() if e.type == "recon.finished"]
    validate(as_published(event))
    assert (event.aggregate_type, event.aggregate_id) == ("recon_run", run.pk)
    payload = event.payload
    assert (payload["channel"], payload["recon_date"]) == ("epaysim", day.isoformat())
    assert (payload["matched_count"], payload["short_count"], payload["long_count"]) == (1, 1, 0)
