"""Retention: numbered events older than EVENTS_RETENTION_DAYS are written
to a gzipped JSON-lines archive and deleted; younger ones stay. And the
numbering job runs on a real Celery worker."""

from __future__ import annotations

import gzip
import json

import pytest
from django.db import IntegrityError, connection

from events.models import Event
from events.services import events_archive

from ..conftest import as_owner_bypassing_guards
from .scripted import number_everything

pytestmark = pytest.mark.django_db(transaction=True)


def test_old_events_are_archived_then_deleted_and_recent_ones_kept(ledger, tmp_path, settings):
    settings.EVENTS_RETENTION_DAYS = 90
    account = ledger.cash()
    for amount in ("1.00", "2.00", "3.00"):
        ledger.recharge(account, amount)
    events = number_everything()
    old = events[:2]
    with as_owner_bypassing_guards(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE events_event SET occurred_at = occurred_at - interval '91 days' WHERE id = ANY(%s)",
            [[e.id for e in old]],
        )

    assert events_archive(directory=tmp_path) == 2
    (archive,) = tmp_path.iterdir()
    with gzip.open(archive, "rt", encoding="utf-8") as lines:
        archived = [json.loads(line) for line in lines]
    assert [(m["seq"], m["id"], m["type"]) for m in archived] == [(e.seq, e.id, "posting.booked") for e in old]
    assert [m["payload"]["entries"][0]["amount"] for m in archived] == ["1.0000", "2.0000"]
    assert list(Event.objects.order_by("seq").values_list("seq", flat=True)) == [events[2].seq]
    assert events_archive(directory=tmp_path) == 0, "nothing left past the retention"


def test_the_database_keeps_an_event_younger_than_a_week(ledger, settings, tmp_path):
    """Even a retention set below the floor deletes nothing recent."""
    settings.EVENTS_RETENTION_DAYS = 0
    ledger.recharge(ledger.cash(), "1.00")
    number_everything()
    with pytest.raises(IntegrityError, match="only numbered events older than 7 days"):
        events_archive(directory=tmp_path)
    assert Event.objects.count() == 1


@pytest.mark.celery_worker
def test_a_celery_worker_numbers_and_archives_the_events(ledger, celery_worker_on_redis):
    ledger.recharge(ledger.cash(), "1.00")
    numbered = 0
    for _ in range(50):  # a round or two, more while other transactions of the server are open
        numbered += celery_worker_on_redis("events.tasks.events_sequence")
        if numbered:
            break
    assert numbered == 1
    assert Event.objects.get().seq == 1
    assert celery_worker_on_redis("events.tasks.events_archive") == 0, "nothing is past the retention"
    assert Event.objects.count() == 1
