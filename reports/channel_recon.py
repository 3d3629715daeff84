"""Channel reconciliation (渠道对账): importing a channel's daily statement and
matching it with the ledger.

Design overview
---------------
Our side of a channel is every entry on the channel's clearing account(s)
(``Channel.clearing_accounts``) with the statement's date as accounting date.
The entry's posting carries the channel's serial number in
``Posting.external_ref`` (the recharge rule's ``channel_serial_no``, the bank
reference of a withdrawal payout). A debit on the clearing account is money
the channel collected for us (``in``), a credit money it paid out (``out``).

Import (``statement_import``). The file is read with the channel's column
mapping (encoding, header lines, footer, columns; see ``Channel``) and is
stored whole or not at all: any problem refuses the file, and the error
names the line (counting from 1, as an editor does) and the reason. A file
imported before (same SHA-256) or a second file for a channel and day is
refused, naming the earlier import. The file is read a line at a time:
each line is checked as it is read and kept in a temporary file until the
whole file is known good, then stored (PostgreSQL: COPY), so memory holds
the file's bytes and the serial numbers seen, not the lines.

Matching (``channel_recon_run``), per channel and statement day, one
transaction, the channel row locked so runs of one channel never overlap:

1. Statement lines and ledger records of the day that an earlier day's
   difference already claimed (a late arrival) are set aside.
2. The rest are paired by serial number; within a serial, a line and a
   record with the same direction and amount first, then what remains in
   order. A pair that agrees is ``matched``; one that does not is an
   ``amount_mismatch``.
3. A line left over first looks for an unresolved short/pending difference
   of another (normally an earlier) day with its serial (the record booked on an earlier day):
   found, it is resolved ``matched_late`` (or becomes an amount mismatch).
   Otherwise it is ``long`` (长款). A ledger record left over looks the same
   way for an earlier long difference; otherwise it is ``pending`` if it was
   posted within ``Channel.pending_window_minutes`` of the day's cut (or
   after it), else ``short`` (短款).
4. Pending differences whose day is ``CHANNEL_RECON_PENDING_DAYS`` or more
   before the day being run become short.
5. The day's ``ReconRun`` summary is rewritten (and that of any earlier day
   whose pending differences just became short).

Each difference is keyed by its statement line and its entry (both unique),
so a run finds what an earlier run wrote and changes nothing that is still
true: running a day again gives the same differences, history and summary.
Differences are never deleted; every change writes a ``DifferenceEvent``.

Steps 1 and 2 are one SQL statement (``_PAIRING_SQL``). Matched pairs are
only counted and summed there (nothing is stored for a matched pair); what
did not simply match (a few per cent of a real day, and on a re-run only
what could still change) comes to Python a chunk at a time, from a
server-side cursor on PostgreSQL, and each chunk's new differences, changes
and events are written in bulk. The summary figures are SQL aggregates. So on
PostgreSQL a run's memory does not grow with the statement's size
(bench/recon.py: a million lines against a million records).
"""

from __future__ import annotations

import codecs
import csv
import functools
import hashlib
import pickle
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Count, DecimalField, F, Q, Sum, Value, When
from django.db.models.functions import Abs, Coalesce, Round
from django.utils import timezone

from accounts.kernel.errors import InvalidAmount, LedgerValidationError
from accounts.kernel.money import ZERO, currency_places, parse_amount, to_amount
from postings.calendar import calendar_for
from postings.models import Entry, Posting

from .recon_models import (
    AmountMode,
    Channel,
    Difference,
    DifferenceEvent,
    DifferenceStatus,
    MoneyDirection,
    Outcome,
    ReconRun,
    Resolution,
    StatementImport,
    StatementLine,
)
from .refusals import FileRefused, Problems

SYSTEM_ACTOR = "system:channel-recon"
IN, OUT = MoneyDirection.IN, MoneyDirection.OUT


def pending_days() -> int:
    return int(getattr(settings, "CHANNEL_RECON_PENDING_DAYS", 1))


# -------------------------------------------------------------- errors ----


class StatementFileInvalid(FileRefused):
    """The file is refused whole; ``problems`` lists each "line N: why"."""

    code = "statement_file_invalid"
    subject = "statement"


class StatementAlreadyImported(LedgerValidationError):
    code = "statement_already_imported"

    def __init__(self, earlier: StatementImport, why: str):
        self.earlier = earlier
        when = timezone.localtime(earlier.imported_at).strftime("%Y-%m-%d %H:%M")
        super().__init__(
            f"{why}: statement import #{earlier.pk} ({earlier.channel.code}, {earlier.statement_date:%Y-%m-%d}, "
            f"{earlier.file_name}, by {earlier.imported_by} at {when}).",
            earlier_import=earlier.pk,
        )


class StatementMissing(LedgerValidationError):
    code = "statement_missing"


class ChannelNotConfigured(LedgerValidationError):
    code = "channel_not_configured"


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
        _parse(channel, content, spool.add)
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
                    from . import tasks

                    transaction.on_commit(
                        lambda: tasks.channel_recon_run.delay(channel.code, statement_date.isoformat())
                    )
        except IntegrityError:
            # The same file, or the same day, imported twice at once: the unique constraints decided.
            _refuse_duplicate(channel, statement_date, sha256)
            raise
    return statement


def _store_lines(statement: StatementImport, spool: _Spool) -> None:
    """The lines, a batch at a time: PostgreSQL's COPY (the import of a
    million lines went from 84 s to 30 s with it and the streaming read;
    bench/README.md), else bulk_create."""
    if _copy_supported():
        columns = ", ".join(
            StatementLine._meta.get_field(name).column
            for name in ("statement", "channel", "statement_date", *_LINE_FIELDS)
        )
        head = (statement.pk, statement.channel_id, statement.statement_date)
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {StatementLine._meta.db_table} ({columns}) FROM STDIN") as copy,
        ):
            for batch in spool.batches():
                for fields in batch:
                    copy.write_row(head + fields)
        return
    for batch in spool.batches():
        StatementLine.objects.bulk_create(
            [
                StatementLine(
                    statement=statement,
                    channel_id=statement.channel_id,
                    statement_date=statement.statement_date,
                    **dict(zip(_LINE_FIELDS, fields)),
                )
                for fields in batch
            ],
            batch_size=_SPOOL_BATCH,
        )


def _copy_supported() -> bool:
    return connection.vendor == "postgresql" and hasattr(connection.connection, "pgconn")  # psycopg 3


def _refuse_duplicate(channel: Channel, statement_date: date, sha256: str) -> None:
    earlier = StatementImport.objects.select_related("channel").filter(file_sha256=sha256).first()
    if earlier is not None:
        raise StatementAlreadyImported(earlier, "This file was already imported")
    earlier = (
        StatementImport.objects.select_related("channel").filter(channel=channel, statement_date=statement_date).first()
    )
    if earlier is not None:
        raise StatementAlreadyImported(earlier, f"{channel.code} already has a statement for {statement_date}")


@dataclass
class ParsedLine:
    line_no: int
    serial_no: str
    txn_time: datetime | None
    direction: str
    amount: Decimal
    fee: Decimal
    status: str
    counts: bool
    raw: str


_LINE_FIELDS = ("line_no", "serial_no", "txn_time", "direction", "amount", "fee", "status", "counts", "raw")
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


def parse_statement(*, channel: Channel, content: bytes) -> list[ParsedLine]:
    """The lines of a statement file read with the channel's mapping, or
    StatementFileInvalid naming every problem's line. (The import streams
    them instead; this list is for small files.)"""
    lines: list[ParsedLine] = []
    _parse(channel, content, lines.append)
    return lines


class _Physical:
    """The file's lines, decoded one at a time (as ``str.splitlines()`` of the
    whole decoded text would give them), counting them and remembering the
    last one handed out."""

    def __init__(self, channel: Channel, content: bytes):
        self.lines = _decoded_lines(channel, content)
        self.count = 0
        self.last = ""

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        self.last = next(self.lines)
        self.count += 1
        return self.last


def _parse(channel: Channel, content: bytes, keep) -> int:
    """Read the file line by line with the channel's mapping, handing each
    good line to ``keep``; the number of lines, or StatementFileInvalid naming
    every problem's line. Only the serial numbers seen so far and the totals
    for the footer are held in memory."""
    problems = Problems(StatementFileInvalid)
    _refuse_undecodable(channel, content)
    physical = _Physical(channel, content)
    skip = channel.skip_lines
    for _ in range(skip):
        if next(physical, None) is None:
            break
    reader = csv.reader(physical, delimiter=channel.delimiter or ",")
    header_line, header = None, None
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                header_line, header = skip + reader.line_num, [cell.strip().lstrip("\ufeff") for cell in record]
                break
    except csv.Error as exc:
        raise StatementFileInvalid([f"line {skip + reader.line_num}: not a readable CSV line ({exc})"]) from None
    if header is None:
        raise StatementFileInvalid(
            [
                f"line {physical.count + 1}: the file ends before its column header "
                f"(after {skip} header line{'s' if skip != 1 else ''})"
            ]
        )
    columns = _columns(channel, header_line, header, problems)
    problems.raise_if_any()

    success = _values(channel.status_success_values)
    in_values, out_values = _values(channel.direction_in_values), _values(channel.direction_out_values)
    seen: dict[str, int] = {}
    totals = {"count": 0, "in_total": ZERO, "out_total": ZERO, "fee_total": ZERO}
    footer_line, footer, last_line = None, None, header_line
    try:
        for record in reader:
            line_no = skip + reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if channel.footer_marker and record[0].strip().startswith(channel.footer_marker):
                footer_line = line_no
                footer = "\n".join([physical.last, *physical])  # the footer is the rest of the file
                break
            last_line = line_no
            line = _read_line(
                channel,
                line_no,
                record,
                header,
                columns,
                physical.last,
                problems,
                in_values=in_values,
                out_values=out_values,
                success=success,
            )
            if line is None:
                continue
            if line.serial_no in seen:
                earlier = seen[line.serial_no]
                problems.add(f"line {line_no}: serial number {line.serial_no} is already on line {earlier}")
                continue
            seen[line.serial_no] = line_no
            totals["count"] += 1
            if line.counts:
                totals["in_total" if line.direction == IN else "out_total"] += line.amount
                totals["fee_total"] += line.fee
            if not problems.count:
                keep(line)
    except csv.Error as exc:
        problems.add(f"line {skip + reader.line_num}: not a readable CSV line ({exc})")
    if problems.count:
        problems.raise_if_any()

    if channel.footer_marker:
        if footer_line is None:
            problems.add(
                f"line {last_line + 1}: the summary footer (a line starting with {channel.footer_marker!r}) "
                f"is missing; the file is truncated"
            )
        elif channel.footer_check:
            _check_footer(channel, footer_line, footer, totals, problems)
    problems.raise_if_any()
    return totals["count"]


_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
# Line boundaries str.splitlines() knows besides \r and \n.
_OTHER_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _decoded_lines(channel: Channel, content: bytes) -> Iterator[str]:
    """The lines of ``content`` decoded with the channel's encoding, one at a
    time: the same lines as ``str.splitlines()`` of the whole decoded text
    (no supported encoding has \\r or \\n inside a multi-byte character, so
    the bytes are split first), and the same refusals as decoding it whole."""
    encoding, start = channel.encoding, 0
    if encoding == "utf-8":
        why = f"not UTF-8 text ({channel.code} statements are UTF-8; was it saved as GBK?)"
        if content.startswith(codecs.BOM_UTF8):
            start = len(codecs.BOM_UTF8)  # as the utf-8-sig codec does
    else:
        why = f"not {encoding.upper()} text ({channel.code} statements are {encoding.upper()})"
        # GBK bytes are almost never valid UTF-8, but UTF-8 bytes often decode
        # as GBK into nonsense: catch the wrong file before it is misread.
        if not content.isascii() and _decodes(content, "utf-8"):
            first = re.search(rb"[\x80-\xff]", content).start()
            line = content.count(b"\n", 0, first) + 1
            raise StatementFileInvalid(
                [f"line {line}: this is UTF-8 text, but {channel.code} statements are {encoding.upper()}"]
            )
    size = len(content)
    while start < size:
        found = _LINE_BREAK.search(content, start)
        end, after = (found.start(), found.end()) if found else (size, size)
        try:
            text = content[start:end].decode(encoding)
        except UnicodeDecodeError as exc:
            line = content.count(b"\n", 0, start + exc.start) + 1
            raise StatementFileInvalid([f"line {line}: {why}"]) from None
        if _OTHER_BREAKS.search(text):
            yield from text.splitlines()
            if found and text[-1:] and _OTHER_BREAKS.match(text[-1]):
                yield ""  # the empty line between that boundary and the line break
        else:
            yield text
        start = after


def _refuse_undecodable(channel: Channel, content: bytes) -> None:
    """A file that does not decode whole is refused before anything else is
    said about it (as when it was decoded whole first): the line is found by
    decoding line by line, only then."""
    encoding = "utf-8-sig" if channel.encoding == "utf-8" else channel.encoding
    if not _decodes(content, encoding):
        for _ in _decoded_lines(channel, content):  # raises StatementFileInvalid naming the line
            pass


def _decodes(content: bytes, encoding: str) -> bool:
    """Whether ``content.decode(encoding)`` would succeed, without the copy."""
    decoder, view, step = codecs.getincrementaldecoder(encoding)(), memoryview(content), 1 << 20
    try:
        for at in range(0, len(content), step):
            decoder.decode(view[at : at + step])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _values(text: str) -> set[str]:
    return {v.strip() for v in (text or "").replace("，", ",").split(",") if v.strip()}


def _columns(channel: Channel, line_no: int, header: list[str], problems: Problems) -> dict[str, int]:
    """Field -> index in the row, for every column the mapping names."""
    wanted = {
        "serial": channel.col_serial,
        "time": channel.col_time,
        "date": channel.col_date,
        "fee": channel.col_fee,
        "status": channel.col_status,
    }
    if channel.amount_mode == AmountMode.DEBIT_CREDIT:
        wanted |= {"debit": channel.col_debit, "credit": channel.col_credit}
    else:
        wanted["amount"] = channel.col_amount
    if channel.amount_mode == AmountMode.DIRECTION_COLUMN:
        wanted["direction"] = channel.col_direction
    found, missing = {}, []
    for field, name in wanted.items():
        if not name:
            continue
        if name in header:
            found[field] = header.index(name)
        else:
            missing.append(name)
    if missing:
        problems.add(
            f"line {line_no}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(the header has: {', '.join(h for h in header if h)})"
        )
    return found


def _read_line(
    channel, line_no, record, header, columns, raw, problems, *, in_values, out_values, success
) -> ParsedLine | None:
    before = problems.count
    extra = record[len(header) :]
    if len(record) < len(header) or any(cell.strip() for cell in extra):
        problems.add(f"line {line_no}: {len(record)} fields, the header has {len(header)} (a truncated or broken line)")
        return None

    def cell(field: str) -> str:
        return record[columns[field]].strip() if field in columns else ""

    serial = cell("serial").lstrip("'\t")  # spreadsheets keep long numbers as text with a quote
    if not serial:
        problems.add(f"line {line_no}: no serial number in column {channel.col_serial}")
    elif len(serial) > 64:
        problems.add(f"line {line_no}: serial number longer than 64 characters")

    when_text = f"{cell('date')} {cell('time')}" if "date" in columns else cell("time")
    txn_time = None
    try:
        txn_time = _time(when_text.strip(), channel.time_format, timezone.get_current_timezone())
    except ValueError:
        problems.add(f"line {line_no}: {when_text.strip()!r} is not a time in the format {channel.time_format}")

    currency = channel.currency
    direction, amount = None, None
    if channel.amount_mode == AmountMode.DEBIT_CREDIT:
        debit, why_d = _decimal(cell("debit"), currency, empty_is_zero=True)
        credit, why_c = _decimal(cell("credit"), currency, empty_is_zero=True)
        for name, why in ((channel.col_debit, why_d), (channel.col_credit, why_c)):
            if why:
                problems.add(f"line {line_no}, column {name}: {why}")
        if not (why_d or why_c):
            if debit < 0 or credit < 0:
                problems.add(f"line {line_no}: a negative amount in a debit or credit column")
            elif debit and credit:
                problems.add(f"line {line_no}: both debit ({debit}) and credit ({credit}) have an amount")
            elif not debit and not credit:
                problems.add(f"line {line_no}: neither debit nor credit has an amount")
            else:
                other = OUT if channel.debit_is == IN else IN
                direction, amount = (channel.debit_is, debit) if debit else (other, credit)
    else:
        value, why = _decimal(cell("amount"), currency)
        if why:
            problems.add(f"line {line_no}, column {channel.col_amount}: {why}")
        elif value == 0:
            problems.add(f"line {line_no}, column {channel.col_amount}: the amount is zero")
        elif channel.amount_mode == AmountMode.SIGNED:
            other = OUT if channel.positive_is == IN else IN
            direction, amount = (channel.positive_is if value > 0 else other), abs(value)
        else:
            given = cell("direction")
            if value < 0:
                problems.add(f"line {line_no}, column {channel.col_amount}: negative, but the direction is a column")
            elif given in in_values:
                direction, amount = IN, value
            elif given in out_values:
                direction, amount = OUT, value
            else:
                problems.add(
                    f"line {line_no}, column {channel.col_direction}: {given!r} is neither in "
                    f"({channel.direction_in_values}) nor out ({channel.direction_out_values})"
                )

    fee = ZERO
    if "fee" in columns:
        fee, why = _decimal(cell("fee"), currency, empty_is_zero=True)
        if why:
            problems.add(f"line {line_no}, column {channel.col_fee}: {why}")
        else:
            fee = abs(fee)  # some channels print the fee they keep as negative
    status = cell("status")
    if problems.count > before:
        return None
    return ParsedLine(
        line_no=line_no,
        serial_no=serial,
        txn_time=txn_time,
        direction=direction,
        amount=amount,
        fee=fee,
        status=status[:32],
        counts=(status in success) if "status" in columns else True,
        raw=raw,
    )


@functools.lru_cache(maxsize=4096)  # a statement's lines are in time order: a second is on a few lines
def _time(text: str, time_format: str, zone) -> datetime:
    return timezone.make_aware(datetime.strptime(text, time_format), zone)


@functools.lru_cache(maxsize=16384)  # amounts and fees repeat (values are immutable)
def _decimal(text: str, currency: str, *, empty_is_zero: bool = False) -> tuple[Decimal | None, str | None]:
    """(signed amount, None) or (None, why not)."""
    text = (text or "").strip()
    if not text:
        return (ZERO, None) if empty_is_zero else (None, "empty")
    try:
        value = parse_amount(text, grouped=True)
    except InvalidAmount:
        return None, f"{text!r} is not a decimal amount"
    try:
        magnitude = to_amount(abs(value), currency, allow_zero=True)
    except InvalidAmount as exc:
        return None, f"{text!r}: {exc.message.split(': ', 1)[-1]}"
    return (magnitude if value >= 0 else -magnitude), None


def _check_footer(channel: Channel, line_no: int, footer: str, totals: dict, problems: Problems) -> None:
    """``totals``: the number of lines read and the in, out and fee totals of those that count."""
    match = re.search(channel.footer_check, footer, re.S)
    if match is None:
        problems.add(
            f"line {line_no}: the summary footer does not read as {channel.code}'s footer; "
            f"the file may be truncated or of another channel"
        )
        return
    found = match.groupdict()
    if found.get("count") is not None and int(found["count"]) != totals["count"]:
        problems.add(
            f"line {line_no}: the footer counts {int(found['count'])} lines, the file has {totals['count']}; "
            f"the file is truncated or altered"
        )
    for name in ("in_total", "out_total", "fee_total"):
        if found.get(name) is None:
            continue
        value, why = _decimal(found[name], channel.currency)
        if why:
            problems.add(f"line {line_no}: footer {name}: {why}")
        elif abs(value) != totals[name]:
            problems.add(f"line {line_no}: the footer's {name} is {abs(value)}, the lines add up to {totals[name]}")


# ------------------------------------------------------------ matching ----

# Rows of the pairing's outcome handled at a time; their writes go to the database in bulk after each chunk.
CHUNK = 2000

# The rows of the pairing query (``_PAIRING_SQL``), in the order they are handled.
_TOTAL, _MATCHED, _MISMATCH, _LONG, _LEFT = 1, 2, 3, 4, 5


@dataclass
class _Line:
    """A statement line that did not simply match."""

    pk: int
    line_no: int
    serial_no: str
    direction: str
    amount: Decimal
    statement_date: date


@dataclass
class _Record:
    """A ledger record: one entry on a clearing account."""

    entry_id: int
    posting_id: int
    serial: str
    direction: str
    amount: Decimal
    pending: bool  # posted within the channel's pending window before the day's cut, or after it


def _signed(direction: str, amount: Decimal | None) -> Decimal:
    if amount is None:
        return ZERO
    return amount if direction == IN else -amount


def channel_recon_run(*, channel: Channel, recon_date: date, actor: str = SYSTEM_ACTOR) -> ReconRun:
    """Match the channel's statement of ``recon_date`` with the ledger (see the
    module docstring). Re-runnable: a second run changes nothing."""
    statement = StatementImport.objects.filter(channel=channel, statement_date=recon_date).first()
    if statement is None:
        raise StatementMissing(
            f"{channel.code} has no statement imported for {recon_date}.", channel=channel.code, recon_date=recon_date
        )
    account_ids = list(channel.clearing_accounts.values_list("id", flat=True))
    if not account_ids:
        raise ChannelNotConfigured(
            f"{channel.code} has no clearing account; link one in the admin.", channel=channel.code
        )
    calendar = calendar_for(entity=channel.entity)
    near_cut = calendar.cut_moment(recon_date) - timedelta(minutes=channel.pending_window_minutes)

    with transaction.atomic():
        Channel.objects.select_for_update(no_key=True).filter(pk=channel.pk).first()  # one run per channel at a time
        if connection.vendor == "postgresql":
            # The pairing sorts and hashes the day's lines and records (about 170 MB for a million of each).
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.CHANNEL_RECON_WORK_MEM])
                cursor.execute("SET LOCAL jit = off")
        work = _Work(channel=channel, recon_date=recon_date, actor=actor, statement_date=statement.statement_date)
        matched_count, matched_amount = _match(work, statement, account_ids, near_cut)
        aged_days = _age_pending(channel, recon_date, actor)

        run, _ = ReconRun.objects.select_for_update(no_key=True).get_or_create(
            channel=channel, recon_date=recon_date, defaults={"statement": statement}
        )
        run.matched_count, run.matched_amount = matched_count, matched_amount
        _summarize(run, channel, statement, account_ids)
        run.runs += 1
        run.last_run_at, run.last_run_by = timezone.now(), actor
        run.save()
        for day in sorted(aged_days - {recon_date}):
            earlier = ReconRun.objects.select_for_update(no_key=True).filter(channel=channel, recon_date=day).first()
            if earlier is not None:
                _count_differences(earlier)
                earlier.save()
    return run


# The pairing, in one statement. ``l``: the day's statement lines that count,
# ``r``: the day's ledger records (entries on the clearing accounts, except
# the postings that resolved the channel's differences), each without those
# an other day's difference claimed, each with the difference of this day
# already on it, if any. They are joined on the serial number (a record
# without one joins nothing); within a serial a line takes the record of the
# same direction and amount with the lowest entry number, else the
# lowest-numbered record (a statement has a serial once, so a line competes
# with no other line for its records). Returned: one total row for all
# matched pairs, then only what a run may have to write: matched pairs with
# an unresolved difference on either side, mismatched pairs, lines without a
# record and records without a line (those two only when no difference has
# them yet). The lines and records are each read once (in the FULL JOIN
# form), and the joined rows are only scanned afterwards: no join of a CTE,
# whose size the planner cannot know (that made nested loops of a million by
# a million rows).
_LINES_SQL = """
    SELECT sl.id, sl.line_no, sl.serial_no, sl.direction, sl.amount, d.id AS diff_id, d.status AS diff_status
      FROM {line} sl
      LEFT JOIN {difference} d ON d.statement_line_id = sl.id AND d.channel_id = %(channel)s
     WHERE sl.statement_id = %(statement)s AND sl.counts = %(true)s
       AND (d.id IS NULL OR d.recon_date = %(day)s)"""
_RECORDS_SQL = """
    SELECT e.serial_no AS entry_id, e.posting_id, p.external_ref AS serial,
           CASE WHEN p.external_ref = '' THEN NULL ELSE p.external_ref END AS serial_key,
           CASE WHEN e.direction = 'D' THEN 'in' ELSE 'out' END AS direction, e.amount,
           CASE WHEN e.created_at >= %(near_cut)s THEN 1 ELSE 0 END AS pending,
           d.id AS diff_id, d.status AS diff_status
      FROM {entry} e
      JOIN {posting} p ON p.serial_no = e.posting_id
      LEFT JOIN {difference} d ON d.entry_id = e.serial_no AND d.channel_id = %(channel)s
     WHERE e.account_id IN ({accounts}) AND e.accounting_date = %(day)s AND e.currency = %(currency)s
       AND e.posting_id NOT IN (SELECT rd.resolution_posting_id FROM {difference} rd
                                 WHERE rd.channel_id = %(channel)s AND rd.resolution_posting_id IS NOT NULL)
       AND e.posting_id NOT IN (SELECT rv.reverses_id FROM {posting} rv
                                 WHERE rv.business_type = 'reversal' AND rv.accounting_date = %(day)s
                                   AND rv.reverses_id IS NOT NULL)
       AND e.posting_id NOT IN (SELECT rv.serial_no FROM {posting} rv JOIN {posting} og ON og.serial_no = rv.reverses_id
                                 WHERE rv.business_type = 'reversal' AND rv.accounting_date = %(day)s
                                   AND og.accounting_date = %(day)s)
       AND (d.id IS NULL OR d.recon_date = %(day)s)"""
_JOINED_COLUMNS = """
    l.id AS line_id, l.line_no, l.serial_no, l.direction AS line_direction, l.amount AS line_amount,
    l.diff_id AS line_diff, l.diff_status AS line_diff_status, r.entry_id, r.posting_id, r.serial, r.direction,
    r.amount, r.pending, r.diff_id AS entry_diff, r.diff_status AS entry_diff_status"""
_FULL_JOIN_SQL = "SELECT {columns} FROM ({lines}) l FULL JOIN ({records}) r ON r.serial_key = l.serial_no"
# SQLite before 3.39 has no FULL JOIN.
_LEFT_JOINS_SQL = """
    SELECT {columns} FROM ({lines}) l LEFT JOIN ({records}) r ON r.serial_key = l.serial_no
    UNION ALL
    SELECT {columns} FROM ({records}) r LEFT JOIN ({lines}) l ON 1 = 0
     WHERE NOT EXISTS (SELECT 1 FROM ({lines}) l2 WHERE l2.serial_no = r.serial_key)"""
_PAIRING_SQL = """
WITH ranked AS (
    SELECT j.*,
           CASE WHEN j.line_direction = j.direction AND j.line_amount = j.amount THEN 1 ELSE 0 END AS exact,
           ROW_NUMBER() OVER (PARTITION BY j.line_id ORDER BY
                              CASE WHEN j.line_direction = j.direction AND j.line_amount = j.amount THEN 0 ELSE 1 END,
                              j.entry_id) AS candidate
      FROM ({joined}) j
)
SELECT {total} AS kind, NULL AS line_id, count(*) AS line_no, NULL AS serial_no, NULL AS line_direction,
       sum(line_amount) AS line_amount, NULL AS line_diff, NULL AS entry_id, NULL AS posting_id, NULL AS serial,
       NULL AS direction, NULL AS amount, NULL AS pending, NULL AS entry_diff
  FROM ranked
 WHERE line_id IS NOT NULL AND entry_id IS NOT NULL AND candidate = 1 AND exact = 1
UNION ALL
SELECT CASE WHEN line_id IS NULL OR candidate > 1 THEN {left}
            WHEN entry_id IS NULL THEN {long}
            WHEN exact = 1 THEN {matched}
            ELSE {mismatch} END,
       line_id, line_no, serial_no, line_direction, line_amount, line_diff, entry_id, posting_id, serial, direction,
       amount, pending, entry_diff
  FROM ranked
 WHERE CASE WHEN line_id IS NULL OR candidate > 1 THEN entry_diff IS NULL
            WHEN entry_id IS NULL THEN line_diff IS NULL
            WHEN exact = 1 THEN line_diff IS NOT NULL AND line_diff_status <> %(resolved)s
                             OR entry_diff IS NOT NULL AND entry_diff_status <> %(resolved)s
            ELSE 1 = 1 END
ORDER BY kind, line_no, entry_id
"""


def _match(work: _Work, statement: StatementImport, account_ids: list[int], near_cut) -> tuple[int, Decimal]:
    """Pair the day in SQL and hand ``work`` what did not simply match, a chunk
    at a time (PostgreSQL: from a server-side cursor). The matched pairs'
    count and amount."""
    ops = connection.ops
    tables = {
        "line": StatementLine._meta.db_table,
        "difference": Difference._meta.db_table,
        "entry": Entry._meta.db_table,
        "posting": Posting._meta.db_table,
    }
    joined = (_FULL_JOIN_SQL if _full_join_supported() else _LEFT_JOINS_SQL).format(
        columns=_JOINED_COLUMNS,
        lines=_LINES_SQL.format(**tables),
        records=_RECORDS_SQL.format(accounts=", ".join(f"%(account{i})s" for i in range(len(account_ids))), **tables),
    )
    sql = _PAIRING_SQL.format(joined=joined, total=_TOTAL, matched=_MATCHED, mismatch=_MISMATCH, long=_LONG, left=_LEFT)
    values = {
        "channel": work.channel.pk,
        "statement": statement.pk,
        "true": True,
        "day": ops.adapt_datefield_value(work.recon_date),
        "near_cut": ops.adapt_datetimefield_value(near_cut),
        "currency": work.channel.currency,
        "resolved": DifferenceStatus.RESOLVED,
    }
    values.update((f"account{i}", pk) for i, pk in enumerate(account_ids))
    params = [values[name] for name in re.findall(r"%\((\w+)\)s", sql)]  # positional: SQLite's cursor wants them
    sql = re.sub(r"%\(\w+\)s", "%s", sql)

    count, amount = 0, ZERO
    streamed = connection.vendor == "postgresql"
    with connection.chunked_cursor() if streamed else connection.cursor() as cursor:
        cursor.execute(sql, params)
        # SQLite (the demo) reads everything first: its cursor would see the writes made meanwhile.
        rows = cursor.fetchall() if not streamed else None
        while True:
            chunk = cursor.fetchmany(CHUNK) if streamed else rows[:CHUNK]
            if not streamed:
                del rows[:CHUNK]
            if not chunk:
                break
            if chunk[0][0] == _TOTAL:
                count, amount = chunk[0][2], _money(chunk[0][5]) or ZERO
                chunk = chunk[1:]
            work.handle(chunk)
    return count, amount


def _full_join_supported() -> bool:
    return connection.vendor != "sqlite" or sqlite3.sqlite_version_info >= (3, 39)


def _money(value) -> Decimal | None:
    """An amount of the pairing's raw rows: a Decimal from PostgreSQL. SQLite
    (the demo) keeps decimals as numbers and hands back int or float, so they
    go through Django's own SQLite converter for the column, exactly as the
    ORM would read them."""
    if value is None or isinstance(value, Decimal):
        return value
    column = Difference._meta.get_field("difference").get_col(Difference._meta.db_table)
    return connection.ops.get_decimalfield_converter(column)(value, column, connection)


_MONEY = DecimalField(max_digits=40, decimal_places=10)

_WRITTEN_FIELDS = [
    "statement_line",
    "entry",
    "posting",
    "serial_no",
    "channel_direction",
    "channel_amount",
    "ledger_direction",
    "ledger_amount",
    "difference",
    "outcome",
    "status",
    "resolution",
    "resolved_at",
    "resolved_by",
    "updated_at",
]


class _Work:
    """Writes the differences of one run: finds what an earlier run wrote and
    changes only what is no longer true, with a history event for each change.
    Rows come a chunk at a time; each chunk's new differences, changes and
    events are written in bulk before the next."""

    def __init__(self, *, channel, recon_date, actor, statement_date):
        self.channel, self.recon_date, self.actor, self.statement_date = channel, recon_date, actor, statement_date
        self.created: list[Difference] = []
        self.changed: dict[int, Difference] = {}
        self.events: list[tuple] = []

    def handle(self, rows: list[tuple]) -> None:
        ids = {i for kind, *row in rows if kind in (_MATCHED, _MISMATCH) for i in (row[5], row[12]) if i is not None}
        known = Difference.objects.select_for_update(no_key=True).in_bulk(ids) if ids else {}
        self.waiting = {
            "line": self._waiting([row[3] for row in rows if row[0] == _LONG], needs="line"),
            "entry": self._waiting([row[9] for row in rows if row[0] == _LEFT and row[9]], needs="entry"),
        }
        for (
            kind,
            line_id,
            line_no,
            serial_no,
            line_direction,
            line_amount,
            line_diff,
            entry_id,
            posting_id,
            serial,
            direction,
            amount,
            pending,
            entry_diff,
        ) in rows:
            line = (
                None
                if line_id is None
                else _Line(line_id, line_no, serial_no, line_direction, _money(line_amount), self.statement_date)
            )
            record = (
                None
                if entry_id is None
                else _Record(entry_id, posting_id, serial or "", direction, _money(amount), bool(pending))
            )
            if kind == _MATCHED:
                self.matched(line, record, known.get(line_diff), known.get(entry_diff))
            elif kind == _MISMATCH:
                self.mismatch(line, record, known.get(line_diff), known.get(entry_diff))
            elif kind == _LONG:
                self.long(line)
            else:
                self.unmatched_record(record)
        self.flush()

    def flush(self) -> None:
        Difference.objects.bulk_create(self.created, batch_size=1000)
        now = timezone.now()
        for diff in self.changed.values():
            diff.updated_at = now
        Difference.objects.bulk_update(list(self.changed.values()), _WRITTEN_FIELDS, batch_size=500)
        DifferenceEvent.objects.bulk_create(
            [
                DifferenceEvent(
                    difference_id=diff.pk,
                    kind=kind,
                    from_value=from_value,
                    to_value=to_value,
                    note=note,
                    actor=self.actor,
                )
                for diff, kind, from_value, to_value, note in self.events
            ],
            batch_size=1000,
        )
        self.created, self.changed, self.events = [], {}, []

    def _event(self, diff, kind, from_value="", to_value="", note=""):
        self.events.append((diff, kind, from_value, to_value, note))

    def _create(self, outcome, *, line=None, record=None, note=""):
        diff = Difference(
            channel=self.channel, recon_date=self.recon_date, outcome=outcome, currency=self.channel.currency
        )
        self._attach(diff, line=line, record=record)
        self.created.append(diff)
        self._event(diff, DifferenceEvent.Kind.FOUND, to_value=outcome, note=note)
        return diff

    @staticmethod
    def _attach(diff, *, line=None, record=None):
        if line is not None:
            diff.statement_line_id = line.pk
            diff.serial_no = line.serial_no
            diff.channel_direction, diff.channel_amount = line.direction, line.amount
        if record is not None:
            diff.entry_id, diff.posting_id = record.entry_id, record.posting_id
            diff.serial_no = diff.serial_no or record.serial
            diff.ledger_direction, diff.ledger_amount = record.direction, record.amount
        diff.difference = _signed(diff.channel_direction, diff.channel_amount) - _signed(
            diff.ledger_direction, diff.ledger_amount
        )

    def _leave_record(self, diff, line, record):
        """The difference keeps only its record: short (the line is matched elsewhere)."""
        diff.statement_line_id, diff.channel_direction, diff.channel_amount = None, "", None
        diff.difference = -_signed(diff.ledger_direction, diff.ledger_amount)
        self._set_outcome(
            diff,
            Outcome.SHORT,
            f"statement line {line.line_no} agrees with entry E{record.entry_id}; entry E{diff.entry_id} has no line",
        )

    def _set_outcome(self, diff, outcome, note=""):
        if diff.outcome != outcome:
            self._event(diff, DifferenceEvent.Kind.OUTCOME, diff.outcome, outcome, note)
            diff.outcome = outcome

    def _resolve_late(self, diff, note):
        diff.status, diff.resolution = DifferenceStatus.RESOLVED, Resolution.MATCHED_LATE
        diff.resolved_at, diff.resolved_by = timezone.now(), self.actor
        self._event(diff, DifferenceEvent.Kind.RESOLVED, to_value=Resolution.MATCHED_LATE, note=note)

    def matched(self, line, record, line_diff, entry_diff):
        # A pair that agrees; a difference an earlier run left on either side
        # (the other side arrived since) is resolved as matched late.
        for diff in sorted({line_diff, entry_diff} - {None}, key=lambda d: d.pk):
            if diff.status != DifferenceStatus.RESOLVED:
                if diff is line_diff and diff.entry_id not in (None, record.entry_id):
                    # The line was an amount mismatch with another record and has
                    # found its exact one: the pair agrees, and the other record is
                    # now money the channel did not move.
                    self._leave_record(diff, line, record)
                    self.changed[diff.pk] = diff
                    continue
                if diff.statement_line_id is None and line_diff is None:
                    self._attach(diff, line=line)
                if diff.entry_id is None and entry_diff is None:
                    self._attach(diff, record=record)
                self._resolve_late(diff, f"statement line {line.line_no} and entry E{record.entry_id} agree")
                self.changed[diff.pk] = diff

    def mismatch(self, line, record, line_diff, entry_diff):
        diff = line_diff or entry_diff
        if diff is None:
            self._create(Outcome.AMOUNT_MISMATCH, line=line, record=record)
            return
        before = [getattr(diff, field.attname) for field in _written(diff)]
        if diff.statement_line_id is None and line_diff is None:
            self._attach(diff, line=line)
        if diff.entry_id is None and entry_diff is None:
            self._attach(diff, record=record)
        if diff.status != DifferenceStatus.RESOLVED:
            self._set_outcome(diff, Outcome.AMOUNT_MISMATCH)
        if [getattr(diff, field.attname) for field in _written(diff)] != before:
            self.changed[diff.pk] = diff

    def long(self, line):
        # (A line a difference already has is not returned: found by an earlier run.)
        earlier = self._earlier(line.serial_no, needs="line")
        if earlier is None:
            self._create(Outcome.LONG, line=line)
            return
        self._attach(earlier, line=line)
        where = f"statement {line.statement_date} line {line.line_no}"
        if earlier.difference == 0:
            self._resolve_late(earlier, f"arrived in {where}")
        else:
            self._set_outcome(earlier, Outcome.AMOUNT_MISMATCH, f"arrived in {where} with another amount")
        self.changed[earlier.pk] = earlier

    def unmatched_record(self, record):
        # (A record a difference already has is not returned: found by an earlier run.)
        earlier = self._earlier(record.serial, needs="entry") if record.serial else None
        if earlier is None:
            self._create(Outcome.PENDING if record.pending else Outcome.SHORT, record=record)
            return
        self._attach(earlier, record=record)
        if earlier.difference == 0:
            self._resolve_late(earlier, f"booked on {self.recon_date} as entry E{record.entry_id}")
        else:
            self._set_outcome(earlier, Outcome.AMOUNT_MISMATCH, f"booked on {self.recon_date} with another amount")
        self.changed[earlier.pk] = earlier

    def _earlier(self, serial: str, *, needs: str) -> Difference | None:
        """An unresolved difference of another day waiting for this side (usually
        an earlier day; a later one if the days were run out of order)."""
        waiting = self.waiting[needs].get(serial)
        return waiting.pop(0) if waiting else None

    def _waiting(self, serials: list[str], *, needs: str) -> dict[str, list[Difference]]:
        """The unresolved differences of other days waiting for a line (short or
        pending, no line yet) or a record (long, no entry yet) with one of
        ``serials``, oldest first, locked. One taken here no longer waits: it
        has its line or record, and the chunk's writes are flushed before the
        next chunk looks."""
        if not serials:
            return {}
        qs = (
            Difference.objects.select_for_update(no_key=True)
            .filter(channel=self.channel, serial_no__in=set(serials))
            .exclude(status=DifferenceStatus.RESOLVED)
            .exclude(recon_date=self.recon_date)
        )
        if needs == "line":
            qs = qs.filter(statement_line__isnull=True, outcome__in=[Outcome.PENDING, Outcome.SHORT])
        else:
            qs = qs.filter(entry__isnull=True, outcome=Outcome.LONG)
        waiting: dict[str, list[Difference]] = {}
        for diff in qs.order_by("recon_date", "id"):
            waiting.setdefault(diff.serial_no, []).append(diff)
        return waiting


def _written(diff: Difference):
    return [diff._meta.get_field(name) for name in _WRITTEN_FIELDS if name != "updated_at"]


def _age_pending(channel: Channel, recon_date: date, actor: str) -> set[date]:
    """Pending differences held long enough become short; the days they were found on."""
    due = list(
        Difference.objects.select_for_update(no_key=True)
        .filter(
            channel=channel,
            outcome=Outcome.PENDING,
            recon_date__lte=recon_date - timedelta(days=pending_days()),
        )
        .exclude(status=DifferenceStatus.RESOLVED)
        .values_list("id", "recon_date")
    )
    note = f"not in the statements up to {recon_date}"
    for start in range(0, len(due), 500):
        batch = due[start : start + 500]
        DifferenceEvent.objects.bulk_create(
            [
                DifferenceEvent(
                    difference_id=pk,
                    kind=DifferenceEvent.Kind.OUTCOME,
                    from_value=Outcome.PENDING,
                    to_value=Outcome.SHORT,
                    note=note,
                    actor=actor,
                )
                for pk, _ in batch
            ]
        )
        Difference.objects.filter(id__in=[pk for pk, _ in batch]).update(
            outcome=Outcome.SHORT, updated_at=timezone.now()
        )
    return {day for _, day in due}


def _expected_fee(channel: Channel, direction: str, amount: Decimal) -> Decimal:
    if direction == IN:
        fixed, rate = channel.expected_fee_in_fixed, channel.expected_fee_in_rate
    else:
        fixed, rate = channel.expected_fee_out_fixed, channel.expected_fee_out_rate
    exponent = Decimal(1).scaleb(-currency_places(channel.currency))
    return fixed + (amount * rate / 100).quantize(exponent, rounding=ROUND_HALF_UP)


def _summarize(run: ReconRun, channel: Channel, statement: StatementImport, account_ids: list[int]) -> None:
    """The run's figures, by aggregates in the database."""
    lines = StatementLine.objects.filter(statement=statement).order_by()
    counted = Q(counts=True)
    figures = {
        "count": Count("id", filter=counted),
        "skipped": Count("id", filter=Q(counts=False)),
        "money_in": Sum("amount", filter=counted & Q(direction=IN)),
        "money_out": Sum("amount", filter=counted & Q(direction=OUT)),
        "fee": Sum("fee", filter=counted),
    }
    if connection.vendor == "postgresql":
        figures["fee_expected"] = Sum(_expected_fee_sql(channel), filter=counted)
    totals = lines.aggregate(**figures)
    run.channel_count, run.channel_skipped_count = totals["count"], totals["skipped"]
    run.channel_in, run.channel_out = totals["money_in"] or ZERO, totals["money_out"] or ZERO
    run.fee_charged = totals["fee"] or ZERO
    if "fee_expected" in totals:
        run.fee_expected = totals["fee_expected"] or ZERO
    else:  # SQLite's arithmetic is binary floating point: per distinct (direction, amount), in Decimal
        run.fee_expected = ZERO
        for direction, amount, n in (
            lines.filter(counted).values_list("direction", "amount").annotate(n=Count("id")).iterator(chunk_size=10000)
        ):
            run.fee_expected += n * _expected_fee(channel, direction, amount)
    ledger = (
        _channel_entries(channel, account_ids, run.recon_date)
        .order_by()
        .aggregate(
            count=Count("pk"),
            money_in=Sum("amount", filter=Q(direction="D")),
            money_out=Sum("amount", filter=Q(direction="C")),
        )
    )
    run.ledger_count = ledger["count"]
    run.ledger_in, run.ledger_out = ledger["money_in"] or ZERO, ledger["money_out"] or ZERO
    _count_differences(run)
    late = (
        Difference.objects.filter(channel=channel, resolution=Resolution.MATCHED_LATE)
        .exclude(recon_date=run.recon_date)
        .filter(
            Q(statement_line__statement=statement)
            | Q(entry__accounting_date=run.recon_date, entry__account_id__in=account_ids)
        )
        .order_by()
        .aggregate(count=Count("id"), amount=Sum(Coalesce("ledger_amount", "channel_amount")))
    )
    run.late_matched_count, run.late_matched_amount = late["count"], late["amount"] or ZERO


def _expected_fee_sql(channel: Channel):
    """``_expected_fee`` of a line, in PostgreSQL: numeric arithmetic is exact
    and round() rounds half away from zero, as ROUND_HALF_UP does."""
    places = currency_places(channel.currency)

    def fee(fixed, rate):
        return Value(fixed, output_field=_MONEY) + Round(
            F("amount") * Value(rate, output_field=_MONEY) / 100, places, output_field=_MONEY
        )

    return Case(
        When(direction=IN, then=fee(channel.expected_fee_in_fixed, channel.expected_fee_in_rate)),
        default=fee(channel.expected_fee_out_fixed, channel.expected_fee_out_rate),
        output_field=_MONEY,
    )


def _channel_entries(channel: Channel, account_ids: list[int], recon_date: date):
    """The ledger's records of a channel's day: entries on its clearing accounts,
    except the postings that resolved its differences (adjustments and write-offs,
    reports.recon_work): they are ours alone and in no statement; and a posting
    reversed on its own day together with its reversal: they carry the same
    serial, net to nothing, and the channel moved nothing for them. (The
    pairing query, ``_PAIRING_SQL``, selects the same entries.)"""
    same_day_reversals = Posting.objects.filter(
        business_type="reversal", accounting_date=recon_date, reverses__accounting_date=recon_date
    )
    return (
        Entry.objects.filter(account_id__in=account_ids, accounting_date=recon_date, currency=channel.currency)
        .exclude(
            posting_id__in=Difference.objects.filter(channel=channel, resolution_posting__isnull=False).values(
                "resolution_posting_id"
            )
        )
        .exclude(posting_id__in=same_day_reversals.values("serial_no"))
        .exclude(posting_id__in=same_day_reversals.values("reverses_id"))
    )


def _count_differences(run: ReconRun) -> None:
    """The outcome counts and amounts of the differences found on the run's day."""
    amount = Case(
        When(outcome=Outcome.LONG, then=F("channel_amount")),
        When(outcome__in=[Outcome.SHORT, Outcome.PENDING], then=F("ledger_amount")),
        default=Abs(F("difference")),
    )
    counts = {outcome: [0, ZERO] for outcome in (Outcome.LONG, Outcome.SHORT, Outcome.AMOUNT_MISMATCH, Outcome.PENDING)}
    for outcome, n, total in (
        Difference.objects.filter(channel_id=run.channel_id, recon_date=run.recon_date)
        .order_by()
        .values_list("outcome")
        .annotate(n=Count("id"), total=Sum(amount))
    ):
        counts[outcome] = [n, total or ZERO]
    run.long_count, run.long_amount = counts[Outcome.LONG]
    run.short_count, run.short_amount = counts[Outcome.SHORT]
    run.mismatch_count, run.mismatch_amount = counts[Outcome.AMOUNT_MISMATCH]
    run.pending_count, run.pending_amount = counts[Outcome.PENDING]
