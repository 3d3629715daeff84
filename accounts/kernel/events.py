"""Record an event in the caller's transaction (issue 23, section 1).

Postings, holds, withdrawals and accounts get their events from SQL
triggers (events/sql/events.sql); this is for the changes that are not a
row those triggers watch: an end of day that finished, a reconciliation
run. It calls the same SQL function, so the numbering and the aggregate
versions are the triggers' (``ledger_event_emit``). The kernel names the
function rather than importing the events app, which sits above it.
"""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction


def event_record(
    event_type: str, *, aggregate_type: str, aggregate_id: int, payload: dict, entity_id: int | None = None
) -> int:
    """Write the event in the current transaction (which must be one: an
    event outside the change it reports could outlive a rollback of it).
    Returns the event's id."""
    if not connection.in_atomic_block:
        raise transaction.TransactionManagementError("An event is recorded inside the transaction of its change.")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ledger_event_emit(%s, %s, %s, %s, %s::jsonb)",
            [event_type, entity_id, aggregate_type, aggregate_id, json.dumps(payload, cls=DjangoJSONEncoder)],
        )
        return cursor.fetchone()[0]
