"""The driver's cursor every posting statement runs on, and what its errors say."""

from __future__ import annotations

from contextlib import contextmanager

import psycopg
from django.db import IntegrityError, connection


@contextmanager
def _hot_cursor():
    """A cursor for the statements every posting runs (lock, write; a batch's
    inserts and balance update): the
    driver's own, with server-side binding, so ``execute(..., prepare=True)``
    makes PostgreSQL parse and plan each statement once per connection instead
    of once per posting, and no parameters are interpolated into the text.
    Driver errors still arrive as Django's (IntegrityError, DataError, ...);
    Django's query log does not see these statements.

    One cursor per connection, kept: a new cursor looks up its parameters'
    dumpers and its columns' loaders afresh, which cost a lone posting about
    100 us of client CPU, more than the rest of the Python around the call.
    A cursor asked for while the kept one is in use is a new one."""
    connection.ensure_connection()
    raw = connection.connection
    with connection.wrap_database_errors:
        if getattr(raw, "_ledger_hot_cursor_busy", False):  # asked for inside another: one of its own
            with psycopg.Cursor(raw) as cursor:
                yield cursor
            return
        kept = getattr(raw, "_ledger_hot_cursor", None)
        if kept is None or kept.closed:
            # connection.connection.cursor() would be Django's ClientCursor, which cannot prepare.
            kept = raw._ledger_hot_cursor = psycopg.Cursor(raw)
        raw._ledger_hot_cursor_busy = True
        try:
            yield kept
        finally:
            raw._ledger_hot_cursor_busy = False


def _violated_constraint(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    if diag is not None and diag.constraint_name:
        return diag.constraint_name
    return str(exc)
