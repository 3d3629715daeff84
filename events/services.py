"""Writes of the event outbox: numbering, the relay's position, retention.

The events themselves are written by SQL triggers and
``accounts.kernel.events.event_record`` in the transactions of the changes
they report (events/sql/events.sql)."""

from __future__ import annotations

import gzip
import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from .models import Event, RelayCursor

log = logging.getLogger(__name__)

# An archive run deletes at most this many events per transaction.
ARCHIVE_BATCH = 10_000


def events_sequence(*, rounds: int = 2) -> int:
    """Number the events whose transactions have all ended (SQL:
    ``ledger_events_sequence``). A call numbers up to the bound the call
    before it took, so two calls after the writers are done number every
    event they wrote. Returns how many were numbered."""
    numbered = 0
    for _ in range(rounds):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT ledger_events_sequence()")
            numbered += cursor.fetchone()[0]
    return numbered


def relay_position_set(*, name: str, last_seq: int) -> None:
    """Record that relay ``name`` had every event up to ``last_seq`` confirmed."""
    RelayCursor.objects.update_or_create(name=name, defaults={"last_seq": last_seq})


def events_archive(*, now: datetime | None = None, directory: Path | None = None) -> int:
    """Write the numbered events older than ``EVENTS_RETENTION_DAYS`` to a
    gzipped JSON-lines file in ``EVENTS_ARCHIVE_DIR`` and delete them, file
    first: a run that dies after the file deletes nothing, and the next
    run writes those events again in a file of its own. Returns how many were
    archived."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.EVENTS_RETENTION_DAYS)
    directory = Path(directory or settings.EVENTS_ARCHIVE_DIR)
    archived = 0
    while True:
        events = list(Event.objects.filter(seq__isnull=False, occurred_at__lt=cutoff).order_by("seq")[:ARCHIVE_BATCH])
        if not events:
            return archived
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"events-{events[0].seq:012d}-{events[-1].seq:012d}.jsonl.gz"
        with gzip.open(path, "wt", encoding="utf-8") as out:
            for event in events:
                out.write(json.dumps(event_message(event), cls=DjangoJSONEncoder, ensure_ascii=False) + "\n")
        with transaction.atomic():
            Event.objects.filter(pk__in=[e.pk for e in events]).delete()
        archived += len(events)
        log.info("archived %s events to %s", len(events), path)


def event_message(event: Event) -> dict:
    """The event as it is published, archived and answered by the API."""
    return {
        "id": event.id,
        "seq": event.seq,
        "type": event.type,
        "type_version": event.type_version,
        "occurred_at": event.occurred_at,
        "entity_id": event.entity_id,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "aggregate_version": event.aggregate_version,
        "payload": event.payload,
    }
