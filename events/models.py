"""The event outbox (issue 23, section 1): one row per change another
system cares about, written in the transaction that made the change.

Rows of postings, holds, withdrawals and accounts are written by plain SQL
triggers (events/sql/events.sql), so the one-call functions, the full path
and a hand-written statement all leave their event; the end of day and the
channel reconciliation write theirs through ``accounts.kernel.events``,
which calls the same SQL function.

``id`` is drawn when the row is written; ``seq``, the global sequence
readers and the relay see, is given afterwards by the sequencer
(``events.services.events_sequence``) once every transaction that could
hold a lower id has ended, so ``seq`` has no gaps and never moves behind a
reader. Why not a sequence at insert time: see events/sql/events.sql.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

# Every type an event may have; its payload's schema is
# docs/events/<type>.v<type_version>.json.
EVENT_TYPES = (
    "posting.booked",
    "posting.reversed",
    "hold.placed",
    "hold.settled",
    "hold.released",
    "hold.expired",
    "withdrawal.status_changed",
    "account.status_changed",
    "account.limit_changed",
    "entries.applied",
    "eod.finished",
    "recon.finished",
    # An endpoint that failed too long was switched off (events.webhooks):
    # delivered to its owner's other endpoints, and on /events and RabbitMQ.
    "webhook.endpoint_disabled",
    "agreement.status_changed",
    "agreement.debit_attempted",
    "bill.issued",
    "credit.accrual_booked",
)


class Event(models.Model):
    # Drawn at insert; stable, so a consumer recognises a duplicate by it.
    id = models.BigAutoField(primary_key=True)
    # The global sequence: 1, 2, 3, ... in the order the sequencer saw the
    # events commit. NULL until then: such a row is not visible to readers.
    seq = models.BigIntegerField(null=True, blank=True)
    type = models.CharField(max_length=40)
    # The payload's schema version (docs/events/<type>.v<N>.json).
    type_version = models.PositiveSmallIntegerField(default=1)
    occurred_at = models.DateTimeField()
    # accounts.Entity's id; no foreign key: the row must outlive nothing and
    # cost the posting path no extra check.
    entity_id = models.BigIntegerField(null=True, blank=True)
    aggregate_type = models.CharField(max_length=16)
    aggregate_id = models.BigIntegerField()
    aggregate_version = models.PositiveIntegerField()
    payload = models.JSONField()

    class Meta:
        verbose_name = "event (事件)"
        ordering = ["seq"]
        constraints = [
            # Partial: an unsequenced row (every row, at insert) costs the
            # posting path no entry in this index.
            models.UniqueConstraint(fields=["seq"], condition=Q(seq__isnull=False), name="event_unique_seq"),
        ]
        indexes = [
            models.Index(fields=["occurred_at"], name="event_occurred_idx", condition=Q(seq__isnull=False)),
        ]

    def __str__(self):
        return f"#{self.seq or '-'} {self.type} {self.aggregate_type}:{self.aggregate_id} v{self.aggregate_version}"


class AggregateVersion(models.Model):
    """The last version given to an aggregate's event (a hold, a withdrawal,
    an account, an end-of-day run, a reconciliation run): the next is this
    + 1, taken under this row's lock, so versions are consecutive and kept
    when old events are archived. Postings have none: a posting's events are
    version 1 (booked) and 2 (reversed, once)."""

    aggregate_type = models.CharField(max_length=16)
    aggregate_id = models.BigIntegerField()
    version = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["aggregate_type", "aggregate_id"], name="aggregate_version_unique")
        ]


class SequencerState(models.Model):
    """One row: what the sequencer has numbered, and the bound it waits on.

    ``next_bound``: the last event id drawn when ``next_snapshot`` (a
    pg_snapshot, as text) was taken; once every transaction in progress in
    that snapshot has ended, every event up to that id is committed or
    rolled back, and the committed ones are numbered."""

    last_seq = models.BigIntegerField(default=0)
    done_id = models.BigIntegerField(default=0)
    next_bound = models.BigIntegerField(null=True, blank=True)
    next_snapshot = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class RelayCursor(models.Model):
    """The last sequence number a relay published and the broker confirmed."""

    name = models.CharField(max_length=64, unique=True)
    last_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.name} at {self.last_seq}"
