"""Importing a channel's daily statement (``statement_import``).

The file is stored whole or not at all. A file imported before (same
SHA-256) or a second file for a channel and day is refused, naming the
earlier import. The file is read a line at a time (``reports.channel.parsing``):
each line is checked as it is read and kept in a temporary file until the
whole file is known good, then stored with COPY, so memory holds the file's
bytes and the serial numbers seen, not the lines. The day's matching can be
queued to run once the import commits (by task name: services never import
tasks).
"""

from __future__ import annotations

import hashlib
import pickle
import tempfile
from collections.abc import Iterator
from datetime import date

from django.db import IntegrityError, connection, transaction

from accounts.kernel.tasks import enqueue_on_commit

from .exceptions import StatementAlreadyImported, StatementWrongDay
from .models import Channel, StatementImport, StatementLine
from .parsing import _LINE_FIELDS, ParsedLine, StatementSummary, _parse

# -------------------------------------------------------------- import ----


def statement_import(
    *,
    channel: Channel,
    statement_date: date,
    file_name: str,
    content: bytes,
    imported_by: str,
    queue_matching: bool = False,
) -> StatementImport:
    """Check the whole file, then store it with its lines in one transaction.
    ``queue_matching`` queues the day's matching once the import commits.

    The file is read as a stream: each line is checked as it is read and kept
    in a temporary file (``_Spool``), not in memory, so a statement of a
    million lines is imported in bounded memory; nothing is written to the
    database until the whole file has been found good."""
    sha256 = hashlib.sha256(content).hexdigest()
    _refuse_duplicate(channel, statement_date, sha256)
    with _Spool() as spool:
        _refuse_wrong_day(_parse(channel, content, spool.add), statement_date)
        try:
            with transaction.atomic():
                statement = StatementImport.objects.create(
                    channel=channel,
                    statement_date=statement_date,
                    file_name=(file_name or "")[-255:] or "upload",
                    file_sha256=sha256,
                    line_count=spool.count,
                    imported_by=imported_by,
                )
                _store_lines(statement, spool)
                if queue_matching:
                    enqueue_on_commit("reports.tasks.channel_recon_run", channel.code, statement_date.isoformat())
        except IntegrityError:
            # The same file, or the same day, imported twice at once: the unique constraints decided.
            _refuse_duplicate(channel, statement_date, sha256)
            raise
    return statement


def statement_preview(*, channel: Channel, statement_date: date, content: bytes) -> StatementSummary:
    """What ``statement_import`` would store, refused as it would be, with nothing written."""
    _refuse_duplicate(channel, statement_date, hashlib.sha256(content).hexdigest())
    summary = _parse(channel, content, lambda line: None)
    _refuse_wrong_day(summary, statement_date)
    return summary


def _refuse_wrong_day(summary: StatementSummary, statement_date: date) -> None:
    problems = summary.wrong_day(statement_date)
    if problems:
        raise StatementWrongDay(problems, statement_date, summary.dates_found())


def _store_lines(statement: StatementImport, spool: _Spool) -> None:
    """The lines, a batch at a time, with COPY (the import of a million
    lines went from 84 s to 30 s with it and the streaming read;
    bench/README.md)."""
    columns = ", ".join(
        StatementLine._meta.get_field(name).column for name in ("statement", "channel", "statement_date", *_LINE_FIELDS)
    )
    head = (statement.pk, statement.channel_id, statement.statement_date)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {StatementLine._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for batch in spool.batches():
            for fields in batch:
                copy.write_row(head + fields)


def _refuse_duplicate(channel: Channel, statement_date: date, sha256: str) -> None:
    live = StatementImport.objects.select_related("channel").filter(voided_at__isnull=True)  # a void frees both
    earlier = live.filter(file_sha256=sha256).first()
    if earlier is not None:
        raise StatementAlreadyImported(earlier, "This file was already imported")
    earlier = live.filter(channel=channel, statement_date=statement_date).first()
    if earlier is not None:
        raise StatementAlreadyImported(earlier, f"{channel.code} already has a statement for {statement_date}")


_SPOOL_BATCH = 5000


class _Spool:
    """The parsed lines of a file, pickled in batches to a temporary file until
    the whole file is known good (kept as objects, a million lines took the
    import to a peak of 1.8 GB; see bench/README.md)."""

    def __init__(self):
        self.file = tempfile.TemporaryFile()
        self.batch: list[tuple] = []
        self.count = 0

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()

    def add(self, line: ParsedLine) -> None:
        self.batch.append(tuple(getattr(line, name) for name in _LINE_FIELDS))
        self.count += 1
        if len(self.batch) >= _SPOOL_BATCH:
            self._dump()

    def _dump(self) -> None:
        if self.batch:
            pickle.dump(self.batch, self.file, protocol=pickle.HIGHEST_PROTOCOL)
            self.batch = []

    def batches(self) -> Iterator[list[tuple]]:
        self._dump()
        self.file.seek(0)
        while True:
            try:
                yield pickle.load(self.file)
            except EOFError:
                return
