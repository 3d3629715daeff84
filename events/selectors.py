"""Reads of the event outbox: numbered events only (``seq`` set), so a
reader never sees an event that a lower, still uncommitted one could
precede (events/sql/events.sql, "Numbering")."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import QuerySet

from .models import Event, RelayCursor


def events_after(*, after: int = 0, types: Sequence[str] | None = None, limit: int = 100) -> QuerySet[Event]:
    """Numbered events after sequence number ``after``, in order."""
    events = Event.objects.filter(seq__gt=after, seq__isnull=False)
    if types:
        events = events.filter(type__in=list(types))
    return events.order_by("seq")[:limit]


def last_seq() -> int:
    """The highest number given so far (0: none)."""
    event = Event.objects.filter(seq__isnull=False).order_by("-seq").values_list("seq", flat=True).first()
    return event or 0


def relay_position(name: str) -> int:
    """The last sequence number relay ``name`` published and had confirmed."""
    cursor = RelayCursor.objects.filter(name=name).values_list("last_seq", flat=True).first()
    return cursor or 0
