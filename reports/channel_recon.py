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
refused, naming the earlier import.

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
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from postings.calendar import calendar_for
from postings.exceptions import InvalidAmount, LedgerValidationError
from postings.models import Entry
from postings.money import ZERO, currency_places, to_amount

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

SYSTEM_ACTOR = "system:channel-recon"
MAX_PROBLEMS = 20  # reported at once, so a file is fixed in one round
IN, OUT = MoneyDirection.IN, MoneyDirection.OUT
_PLAIN_AMOUNT = re.compile(r"[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d+)?")


def pending_days() -> int:
    return int(getattr(settings, "CHANNEL_RECON_PENDING_DAYS", 1))


# -------------------------------------------------------------- errors ----


class StatementFileInvalid(LedgerValidationError):
    """The file is refused whole; ``problems`` lists each "line N: why"."""

    code = "statement_file_invalid"

    def __init__(self, problems: list[str], more: int = 0):
        self.problems = problems
        message = "The statement was not imported: " + "; ".join(problems)
        if more:
            message += f"; and {more} more problem{'s' if more > 1 else ''}"
        super().__init__(message + ".", problems=problems)


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


class _Problems:
    def __init__(self):
        self.items: list[str] = []
        self.more = 0

    def add(self, text: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(text)
        else:
            self.more += 1

    @property
    def count(self) -> int:
        return len(self.items) + self.more

    def raise_if_any(self) -> None:
        if self.items:
            raise StatementFileInvalid(self.items, self.more)


# -------------------------------------------------------------- import ----


def statement_import(
    *, channel: Channel, statement_date: date, file_name: str, content: bytes, imported_by: str,
    queue_matching: bool = False,
) -> StatementImport:
    """Check the whole file, then store it with its lines in one transaction.
    ``queue_matching`` queues the day's matching once the import commits."""
    sha256 = hashlib.sha256(content).hexdigest()
    _refuse_duplicate(channel, statement_date, sha256)
    lines = parse_statement(channel=channel, content=content)
    try:
        with transaction.atomic():
            statement = StatementImport.objects.create(
                channel=channel, statement_date=statement_date, file_name=(file_name or "")[-255:] or "upload",
                file_sha256=sha256, line_count=len(lines), imported_by=imported_by,
            )
            StatementLine.objects.bulk_create(
                (StatementLine(statement=statement, channel=channel, statement_date=statement_date, **line.__dict__)
                 for line in lines),
                batch_size=5000,
            )
            if queue_matching:
                from . import tasks

                transaction.on_commit(lambda: tasks.channel_recon_run.delay(channel.code, statement_date.isoformat()))
    except IntegrityError:
        # The same file, or the same day, imported twice at once: the unique constraints decided.
        _refuse_duplicate(channel, statement_date, sha256)
        raise
    return statement


def _refuse_duplicate(channel: Channel, statement_date: date, sha256: str) -> None:
    earlier = StatementImport.objects.select_related("channel").filter(file_sha256=sha256).first()
    if earlier is not None:
        raise StatementAlreadyImported(earlier, "This file was already imported")
    earlier = StatementImport.objects.select_related("channel").filter(
        channel=channel, statement_date=statement_date
    ).first()
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


def parse_statement(*, channel: Channel, content: bytes) -> list[ParsedLine]:
    """The lines of a statement file read with the channel's mapping, or
    StatementFileInvalid naming every problem's line."""
    problems = _Problems()
    physical = _decode(channel, content).splitlines()
    skip = channel.skip_lines
    body = physical[skip:]
    reader = csv.reader(body, delimiter=channel.delimiter or ",")
    header_line, header = None, None
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                header_line, header = skip + reader.line_num, [cell.strip().lstrip("\ufeff") for cell in record]
                break
    except csv.Error as exc:
        raise StatementFileInvalid([f"line {skip + reader.line_num}: not a readable CSV line ({exc})"]) from None
    if header is None:
        raise StatementFileInvalid([f"line {len(physical) + 1}: the file ends before its column header "
                                    f"(after {skip} header line{'s' if skip != 1 else ''})"])
    columns = _columns(channel, header_line, header, problems)
    problems.raise_if_any()

    success = _values(channel.status_success_values)
    in_values, out_values = _values(channel.direction_in_values), _values(channel.direction_out_values)
    lines: list[ParsedLine] = []
    seen: dict[str, int] = {}
    footer_line, last_line = None, header_line
    try:
        for record in reader:
            line_no = skip + reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if channel.footer_marker and record[0].strip().startswith(channel.footer_marker):
                footer_line = line_no
                break
            last_line = line_no
            line = _read_line(channel, line_no, record, header, columns, physical[line_no - 1], problems,
                              in_values=in_values, out_values=out_values, success=success)
            if line is None:
                continue
            if line.serial_no in seen:
                earlier = seen[line.serial_no]
                problems.add(f"line {line_no}: serial number {line.serial_no} is already on line {earlier}")
                continue
            seen[line.serial_no] = line_no
            lines.append(line)
    except csv.Error as exc:
        problems.add(f"line {skip + reader.line_num}: not a readable CSV line ({exc})")
    if problems.count:
        problems.raise_if_any()

    if channel.footer_marker:
        if footer_line is None:
            problems.add(f"line {last_line + 1}: the summary footer (a line starting with {channel.footer_marker!r}) "
                         f"is missing; the file is truncated")
        elif channel.footer_check:
            _check_footer(channel, footer_line, "\n".join(physical[footer_line - 1:]), lines, problems)
    problems.raise_if_any()
    return lines


def _decode(channel: Channel, content: bytes) -> str:
    encoding = channel.encoding
    if encoding == "utf-8":
        try:
            return content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = content[: exc.start].count(b"\n") + 1
            raise StatementFileInvalid(
                [f"line {line}: not UTF-8 text ({channel.code} statements are UTF-8; was it saved as GBK?)"]
            ) from None
    if not content.isascii():
        # GBK bytes are almost never valid UTF-8, but UTF-8 bytes often decode
        # as GBK into nonsense: catch the wrong file before it is misread.
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            first = next(i for i, byte in enumerate(content) if byte > 127)
            line = content[:first].count(b"\n") + 1
            raise StatementFileInvalid(
                [f"line {line}: this is UTF-8 text, but {channel.code} statements are {encoding.upper()}"]
            )
    try:
        return content.decode(encoding)
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise StatementFileInvalid([f"line {line}: not {encoding.upper()} text ({channel.code} statements are "
                                    f"{encoding.upper()})"]) from None


def _values(text: str) -> set[str]:
    return {v.strip() for v in (text or "").replace("，", ",").split(",") if v.strip()}


def _columns(channel: Channel, line_no: int, header: list[str], problems: _Problems) -> dict[str, int]:
    """Field -> index in the row, for every column the mapping names."""
    wanted = {"serial": channel.col_serial, "time": channel.col_time, "date": channel.col_date,
              "fee": channel.col_fee, "status": channel.col_status}
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
        problems.add(f"line {line_no}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                     f"(the header has: {', '.join(h for h in header if h)})")
    return found


def _read_line(channel, line_no, record, header, columns, raw, problems, *, in_values, out_values,
               success) -> ParsedLine | None:
    before = problems.count
    extra = record[len(header):]
    if len(record) < len(header) or any(cell.strip() for cell in extra):
        problems.add(f"line {line_no}: {len(record)} fields, the header has {len(header)} "
                     f"(a truncated or broken line)")
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
        txn_time = timezone.make_aware(datetime.strptime(when_text.strip(), channel.time_format))
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
                problems.add(f"line {line_no}, column {channel.col_direction}: {given!r} is neither in "
                             f"({channel.direction_in_values}) nor out ({channel.direction_out_values})")

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
        line_no=line_no, serial_no=serial, txn_time=txn_time, direction=direction, amount=amount, fee=fee,
        status=status[:32], counts=(status in success) if "status" in columns else True, raw=raw,
    )


def _decimal(text: str, currency: str, *, empty_is_zero: bool = False) -> tuple[Decimal | None, str | None]:
    """(signed amount, None) or (None, why not)."""
    text = (text or "").strip()
    if not text:
        return (ZERO, None) if empty_is_zero else (None, "empty")
    if not _PLAIN_AMOUNT.fullmatch(text):
        return None, f"{text!r} is not a decimal amount"
    value = Decimal(text.replace(",", ""))
    try:
        magnitude = to_amount(abs(value), currency, allow_zero=True)
    except InvalidAmount as exc:
        return None, f"{text!r}: {exc.message.split(': ', 1)[-1]}"
    return (magnitude if value >= 0 else -magnitude), None


def _check_footer(channel: Channel, line_no: int, footer: str, lines: list[ParsedLine], problems: _Problems) -> None:
    match = re.search(channel.footer_check, footer, re.S)
    if match is None:
        problems.add(f"line {line_no}: the summary footer does not read as {channel.code}'s footer; "
                     f"the file may be truncated or of another channel")
        return
    found = match.groupdict()
    counted = [line for line in lines if line.counts]
    ours = {
        "in_total": sum((line.amount for line in counted if line.direction == IN), ZERO),
        "out_total": sum((line.amount for line in counted if line.direction == OUT), ZERO),
        "fee_total": sum((line.fee for line in counted), ZERO),
    }
    if found.get("count") is not None and int(found["count"]) != len(lines):
        problems.add(f"line {line_no}: the footer counts {int(found['count'])} lines, the file has {len(lines)}; "
                     f"the file is truncated or altered")
    for name, total in ours.items():
        if found.get(name) is None:
            continue
        value, why = _decimal(found[name], channel.currency)
        if why:
            problems.add(f"line {line_no}: footer {name}: {why}")
        elif abs(value) != total:
            problems.add(f"line {line_no}: the footer's {name} is {abs(value)}, the lines add up to {total}")


# ------------------------------------------------------------ matching ----


@dataclass
class _Record:
    """A ledger record: one entry on a clearing account."""

    entry_id: int
    posting_id: int
    serial: str
    direction: str
    amount: Decimal
    created_at: datetime


def _signed(direction: str, amount: Decimal | None) -> Decimal:
    if amount is None:
        return ZERO
    return amount if direction == IN else -amount


def channel_recon_run(*, channel: Channel, recon_date: date, actor: str = SYSTEM_ACTOR) -> ReconRun:
    """Match the channel's statement of ``recon_date`` with the ledger (see the
    module docstring). Re-runnable: a second run changes nothing."""
    statement = StatementImport.objects.filter(channel=channel, statement_date=recon_date).first()
    if statement is None:
        raise StatementMissing(f"{channel.code} has no statement imported for {recon_date}.",
                               channel=channel.code, recon_date=recon_date)
    account_ids = list(channel.clearing_accounts.values_list("id", flat=True))
    if not account_ids:
        raise ChannelNotConfigured(f"{channel.code} has no clearing account; link one in the admin.",
                                   channel=channel.code)
    calendar = calendar_for(entity=channel.entity)
    near_cut = calendar.cut_moment(recon_date) - timedelta(minutes=channel.pending_window_minutes)

    with transaction.atomic():
        Channel.objects.select_for_update(no_key=True).filter(pk=channel.pk).first()  # one run per channel at a time
        lines = list(StatementLine.objects.filter(statement=statement, counts=True).order_by("line_no"))
        records = [
            _Record(entry_id=e, posting_id=p, serial=ref or "", direction=IN if d == "D" else OUT, amount=a,
                    created_at=t)
            for e, p, d, a, ref, t in _channel_entries(channel, account_ids, recon_date).order_by(
                "serial_no"
            ).values_list(
                "serial_no", "posting_id", "direction", "amount", "posting__external_ref", "created_at"
            )
        ]
        existing = list(
            Difference.objects.filter(channel=channel).filter(
                Q(statement_line__statement=statement)
                | Q(entry__accounting_date=recon_date, entry__account_id__in=account_ids)
            )
        )
        by_line = {d.statement_line_id: d for d in existing if d.statement_line_id}
        by_entry = {d.entry_id: d for d in existing if d.entry_id}
        # Records an earlier (or later) day's difference claimed stay with it.
        lines = [ln for ln in lines if ln.pk not in by_line or by_line[ln.pk].recon_date == recon_date]
        records = [r for r in records if r.entry_id not in by_entry or by_entry[r.entry_id].recon_date == recon_date]

        matched, mismatched, long_lines, left_records = _pair(lines, records)
        work = _Work(channel=channel, recon_date=recon_date, actor=actor, by_line=by_line, by_entry=by_entry)
        matched_amount = ZERO
        for line, record in matched:
            matched_amount += line.amount
            work.matched(line, record)
        for line, record in mismatched:
            work.mismatch(line, record)
        for line in long_lines:
            work.long(line)
        for record in left_records:
            work.unmatched_record(record, pending=record.created_at >= near_cut)
        aged_days = _age_pending(channel, recon_date, actor)

        run, _ = ReconRun.objects.select_for_update(no_key=True).get_or_create(
            channel=channel, recon_date=recon_date, defaults={"statement": statement}
        )
        run.matched_count, run.matched_amount = len(matched), matched_amount
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


def _channel_entries(channel: Channel, account_ids: list[int], recon_date: date):
    """The ledger's records of a channel's day: entries on its clearing accounts,
    except the postings that resolved its differences (adjustments and write-offs,
    reports.recon_work): they are ours alone and in no statement."""
    return Entry.objects.filter(
        account_id__in=account_ids, accounting_date=recon_date, currency=channel.currency
    ).exclude(posting_id__in=Difference.objects.filter(
        channel=channel, resolution_posting__isnull=False).values("resolution_posting_id"))


def _pair(lines: list[StatementLine], records: list[_Record]):
    """Pair lines and records by serial: exact (direction, amount) first, then in order."""
    lines_by, records_by = defaultdict(list), defaultdict(list)
    for line in lines:
        lines_by[line.serial_no].append(line)
    for record in records:
        records_by[record.serial].append(record)
    matched, mismatched, long_lines, left = [], [], [], []
    for record in records:
        if not record.serial or record.serial not in lines_by:
            left.append(record)
    for serial, group in lines_by.items():
        candidates = records_by.get(serial, [])
        rest = []
        for line in group:
            exact = next((r for r in candidates if r.direction == line.direction and r.amount == line.amount), None)
            if exact is None:
                rest.append(line)
            else:
                candidates.remove(exact)
                matched.append((line, exact))
        for line in rest:
            if candidates:
                mismatched.append((line, candidates.pop(0)))
            else:
                long_lines.append(line)
        left.extend(candidates)
    left.sort(key=lambda r: r.entry_id)
    return matched, mismatched, long_lines, left


class _Work:
    """Writes the differences of one run: finds what an earlier run wrote and
    changes only what is no longer true, with a history event for each change."""

    def __init__(self, *, channel, recon_date, actor, by_line, by_entry):
        self.channel, self.recon_date, self.actor = channel, recon_date, actor
        self.by_line, self.by_entry = by_line, by_entry

    def _event(self, diff, kind, from_value="", to_value="", note=""):
        DifferenceEvent.objects.create(difference=diff, kind=kind, from_value=from_value, to_value=to_value,
                                       note=note, actor=self.actor)

    def _create(self, outcome, *, line=None, record=None, note=""):
        diff = Difference(channel=self.channel, recon_date=self.recon_date, outcome=outcome,
                          currency=self.channel.currency)
        self._attach(diff, line=line, record=record)
        diff.save()
        self._event(diff, DifferenceEvent.Kind.FOUND, to_value=outcome, note=note)
        return diff

    @staticmethod
    def _attach(diff, *, line=None, record=None):
        if line is not None:
            diff.statement_line = line
            diff.serial_no = line.serial_no
            diff.channel_direction, diff.channel_amount = line.direction, line.amount
        if record is not None:
            diff.entry_id, diff.posting_id = record.entry_id, record.posting_id
            diff.serial_no = diff.serial_no or record.serial
            diff.ledger_direction, diff.ledger_amount = record.direction, record.amount
        diff.difference = (_signed(diff.channel_direction, diff.channel_amount)
                           - _signed(diff.ledger_direction, diff.ledger_amount))

    def _set_outcome(self, diff, outcome, note=""):
        if diff.outcome != outcome:
            self._event(diff, DifferenceEvent.Kind.OUTCOME, diff.outcome, outcome, note)
            diff.outcome = outcome

    def _resolve_late(self, diff, note):
        diff.status, diff.resolution = DifferenceStatus.RESOLVED, Resolution.MATCHED_LATE
        diff.resolved_at, diff.resolved_by = timezone.now(), self.actor
        self._event(diff, DifferenceEvent.Kind.RESOLVED, to_value=Resolution.MATCHED_LATE, note=note)

    def matched(self, line, record):
        # A pair that agrees; a difference an earlier run left on either side
        # (the other side arrived since) is resolved as matched late.
        for diff in {self.by_line.get(line.pk), self.by_entry.get(record.entry_id)} - {None}:
            if diff.status != DifferenceStatus.RESOLVED:
                if diff.statement_line_id is None and line.pk not in self.by_line:
                    self._attach(diff, line=line)
                if diff.entry_id is None and record.entry_id not in self.by_entry:
                    self._attach(diff, record=record)
                self._resolve_late(diff, f"statement line {line.line_no} and entry E{record.entry_id} agree")
                diff.save()

    def mismatch(self, line, record):
        diff = self.by_line.get(line.pk) or self.by_entry.get(record.entry_id)
        if diff is None:
            self._create(Outcome.AMOUNT_MISMATCH, line=line, record=record)
            return
        if diff.statement_line_id is None and line.pk not in self.by_line:
            self._attach(diff, line=line)
        if diff.entry_id is None and record.entry_id not in self.by_entry:
            self._attach(diff, record=record)
        if diff.status != DifferenceStatus.RESOLVED:
            self._set_outcome(diff, Outcome.AMOUNT_MISMATCH)
        diff.save()

    def long(self, line):
        if line.pk in self.by_line:
            return  # found by an earlier run
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
        earlier.save()

    def unmatched_record(self, record, *, pending: bool):
        if record.entry_id in self.by_entry:
            return  # found by an earlier run
        earlier = self._earlier(record.serial, needs="entry") if record.serial else None
        if earlier is None:
            self._create(Outcome.PENDING if pending else Outcome.SHORT, record=record)
            return
        self._attach(earlier, record=record)
        if earlier.difference == 0:
            self._resolve_late(earlier, f"booked on {self.recon_date} as entry E{record.entry_id}")
        else:
            self._set_outcome(earlier, Outcome.AMOUNT_MISMATCH, f"booked on {self.recon_date} with another amount")
        earlier.save()

    def _earlier(self, serial: str, *, needs: str) -> Difference | None:
        """An unresolved difference of another day waiting for this side (usually
        an earlier day; a later one if the days were run out of order)."""
        qs = Difference.objects.select_for_update(no_key=True).filter(channel=self.channel, serial_no=serial).exclude(
            status=DifferenceStatus.RESOLVED
        ).exclude(recon_date=self.recon_date)
        if needs == "line":
            qs = qs.filter(statement_line__isnull=True, outcome__in=[Outcome.PENDING, Outcome.SHORT])
        else:
            qs = qs.filter(entry__isnull=True, outcome=Outcome.LONG)
        return qs.order_by("recon_date", "id").first()


def _age_pending(channel: Channel, recon_date: date, actor: str) -> set[date]:
    """Pending differences held long enough become short; the days they were found on."""
    due = list(
        Difference.objects.select_for_update(no_key=True).filter(
            channel=channel, outcome=Outcome.PENDING, recon_date__lte=recon_date - timedelta(days=pending_days()),
        ).exclude(status=DifferenceStatus.RESOLVED)
    )
    for diff in due:
        DifferenceEvent.objects.create(
            difference=diff, kind=DifferenceEvent.Kind.OUTCOME, from_value=Outcome.PENDING, to_value=Outcome.SHORT,
            note=f"not in the statements up to {recon_date}", actor=actor,
        )
        diff.outcome = Outcome.SHORT
        diff.save(update_fields=["outcome", "updated_at"])
    return {diff.recon_date for diff in due}


def _expected_fee(channel: Channel, line: StatementLine) -> Decimal:
    if line.direction == IN:
        fixed, rate = channel.expected_fee_in_fixed, channel.expected_fee_in_rate
    else:
        fixed, rate = channel.expected_fee_out_fixed, channel.expected_fee_out_rate
    exponent = Decimal(1).scaleb(-currency_places(channel.currency))
    return fixed + (line.amount * rate / 100).quantize(exponent, rounding=ROUND_HALF_UP)


def _summarize(run: ReconRun, channel: Channel, statement: StatementImport, account_ids: list[int]) -> None:
    all_lines = StatementLine.objects.filter(statement=statement).only("direction", "amount", "fee", "counts")
    run.channel_count = run.channel_skipped_count = 0
    run.channel_in = run.channel_out = run.fee_charged = run.fee_expected = ZERO
    for line in all_lines:
        if not line.counts:
            run.channel_skipped_count += 1
            continue
        run.channel_count += 1
        if line.direction == IN:
            run.channel_in += line.amount
        else:
            run.channel_out += line.amount
        run.fee_charged += line.fee
        run.fee_expected += _expected_fee(channel, line)
    run.ledger_count, run.ledger_in, run.ledger_out = 0, ZERO, ZERO
    for direction, amount in _channel_entries(channel, account_ids, run.recon_date).values_list("direction", "amount"):
        run.ledger_count += 1
        if direction == "D":
            run.ledger_in += amount
        else:
            run.ledger_out += amount
    _count_differences(run)
    late = Difference.objects.filter(channel=channel, resolution=Resolution.MATCHED_LATE).exclude(
        recon_date=run.recon_date
    ).filter(
        Q(statement_line__statement=statement)
        | Q(entry__accounting_date=run.recon_date, entry__account_id__in=account_ids)
    )
    run.late_matched_count, run.late_matched_amount = 0, ZERO
    for diff in late:
        run.late_matched_count += 1
        run.late_matched_amount += diff.ledger_amount or diff.channel_amount or ZERO


def _count_differences(run: ReconRun) -> None:
    """The outcome counts and amounts of the differences found on the run's day."""
    counts = {outcome: [0, ZERO] for outcome in (Outcome.LONG, Outcome.SHORT, Outcome.AMOUNT_MISMATCH,
                                                  Outcome.PENDING)}
    for diff in Difference.objects.filter(channel_id=run.channel_id, recon_date=run.recon_date):
        amount = {
            Outcome.LONG: diff.channel_amount,
            Outcome.SHORT: diff.ledger_amount,
            Outcome.PENDING: diff.ledger_amount,
            Outcome.AMOUNT_MISMATCH: abs(diff.difference),
        }[diff.outcome] or ZERO
        counts[diff.outcome][0] += 1
        counts[diff.outcome][1] += amount
    run.long_count, run.long_amount = counts[Outcome.LONG]
    run.short_count, run.short_amount = counts[Outcome.SHORT]
    run.mismatch_count, run.mismatch_amount = counts[Outcome.AMOUNT_MISMATCH]
    run.pending_count, run.pending_amount = counts[Outcome.PENDING]
