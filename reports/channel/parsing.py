"""Reading a channel's statement file with the channel's column mapping
(encoding, header lines, footer, columns; see ``Channel``): each line is
checked as it is read, and any problem refuses the whole file, naming the
line (counting from 1, as an editor does) and the reason."""

from __future__ import annotations

import codecs
import csv
import functools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

from accounts.kernel.errors import InvalidAmount
from accounts.kernel.money import ZERO, parse_amount, to_amount

from ..refusals import Problems
from .exceptions import StatementFileInvalid
from .models import AmountMode, Channel, MoneyDirection

IN, OUT = MoneyDirection.IN, MoneyDirection.OUT


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


@dataclass
class StatementSummary:
    """What a statement file says, gathered while it is read: shown before an
    import is confirmed, and the dates checked against the statement day."""

    currency: str
    line_count: int = 0
    skipped_count: int = 0  # lines whose status moved no money
    in_count: int = 0
    in_total: Decimal = ZERO
    out_count: int = 0
    out_total: Decimal = ZERO
    fee_total: Decimal = ZERO
    # Lines per local date of their time; None when the time has no date in it.
    line_dates: Counter = dataclass_field(default_factory=Counter)
    # (line, date) of each date written in the lines above the column header.
    header_dates: list[tuple[int, date]] = dataclass_field(default_factory=list)
    first: ParsedLine | None = None
    last: ParsedLine | None = None

    def add(self, line: ParsedLine, *, dated: bool) -> None:
        self.line_count += 1
        if self.first is None:
            self.first = line
        self.last = line
        if dated and line.txn_time is not None:
            self.line_dates[timezone.localtime(line.txn_time).date()] += 1
        if not line.counts:
            self.skipped_count += 1
        elif line.direction == IN:
            self.in_count += 1
            self.in_total += line.amount
        else:
            self.out_count += 1
            self.out_total += line.amount
        if line.counts:
            self.fee_total += line.fee

    def as_preview(self) -> dict:
        """What the preview page shows, as JSON (kept with the staged upload)."""

        def line(parsed: ParsedLine | None) -> dict | None:
            return None if parsed is None else {"line_no": parsed.line_no, "raw": parsed.raw}

        return {
            "dates": [f"{day:%Y-%m-%d}" for day in self.dates_found()],
            "header_dates": [[line_no, f"{day:%Y-%m-%d}"] for line_no, day in self.header_dates],
            "line_dates": [[f"{day:%Y-%m-%d}", n] for day, n in sorted(self.line_dates.items())],
            "line_count": self.line_count,
            "skipped_count": self.skipped_count,
            "totals": [
                {"direction": IN, "currency": self.currency, "count": self.in_count, "amount": str(self.in_total)},
                {"direction": OUT, "currency": self.currency, "count": self.out_count, "amount": str(self.out_total)},
            ],
            "fee_total": str(self.fee_total),
            "currency": self.currency,
            "first": line(self.first),
            "last": line(self.last),
        }

    def dates_found(self) -> list[date]:
        return sorted({day for _, day in self.header_dates} | set(self.line_dates))

    def wrong_day(self, statement_date: date) -> list[str]:
        """Each place where the file names a day other than ``statement_date``."""
        # A header line that names the statement day is right even if it names
        # another (a period "2026-11-20 00:00 to 2026-11-21 00:00").
        right = {line_no for line_no, day in self.header_dates if day == statement_date}
        problems = [
            f"line {line_no}: the header says {day:%Y-%m-%d}, not {statement_date:%Y-%m-%d}"
            for line_no, day in self.header_dates
            if line_no not in right
        ]
        others = sorted(day for day in self.line_dates if day != statement_date)
        if others:
            dated = ", ".join(
                f"{day:%Y-%m-%d} ({self.line_dates[day]} line{'s' if self.line_dates[day] != 1 else ''})"
                for day in sorted(self.line_dates)
            )
            problems.append(f"the lines are dated {dated}, not only {statement_date:%Y-%m-%d}")
        return problems


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


def _parse(channel: Channel, content: bytes, keep) -> StatementSummary:
    """Read the file line by line with the channel's mapping, handing each
    good line to ``keep``; what the file says (``StatementSummary``), or
    StatementFileInvalid naming every problem's line. Only the serial numbers
    seen so far and the totals are held in memory."""
    problems = Problems(StatementFileInvalid)
    summary = StatementSummary(currency=channel.currency)
    dated = bool(channel.col_date) or any(d in channel.time_format for d in ("%d", "%j", "%x", "%c"))
    _refuse_undecodable(channel, content)
    physical = _Physical(channel, content)
    skip = channel.skip_lines
    for _ in range(skip):
        text = next(physical, None)
        if text is None:
            break
        if not _PRODUCED.search(text):
            summary.header_dates += [(physical.count, day) for day in _dates_in(text)]
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
                summary.add(line, dated=dated)
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
    return summary


# A date written in a statement's header block: 2026-11-20, 2026/11/20,
# 2026.11.20, 2026年11月20日 or 20261120 (not part of a longer number, such
# as an account number).
_HEADER_DATE = re.compile(r"(?<!\d)(\d{4})(?:[-/.年](\d{1,2})[-/.月](\d{1,2})日?|(\d{2})(\d{2}))(?!\d)")


# When the file was made (生成/导出/打印/下载时间, generated at ...) is not the day it is for.
_PRODUCED = re.compile(r"生成|导出|打印|下载|generated|exported|printed|downloaded|created", re.I)


def _dates_in(text: str) -> list[date]:
    found = []
    for match in _HEADER_DATE.finditer(text):
        year, month, day = int(match[1]), int(match[2] or match[4]), int(match[3] or match[5])
        if 1990 <= year <= 2999:
            try:
                found.append(date(year, month, day))
            except ValueError:
                continue  # digits that only look like a date
    return found


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
