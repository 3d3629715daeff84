"""What one matching run writes: the differences of the day, found again
and changed only where no longer true, each change with its history event
(see ``reports.channel.matching``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils import timezone

from accounts.kernel.money import ZERO

from .models import Difference, DifferenceEvent, DifferenceStatus, MoneyDirection, Outcome, Resolution

IN, OUT = MoneyDirection.IN, MoneyDirection.OUT


# The kinds of row of the pairing query (``matching._PAIRING_SQL``), in the order they are handled.
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


class OutcomeWriter:
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
                else _Line(line_id, line_no, serial_no, line_direction, line_amount, self.statement_date)
            )
            record = (
                None
                if entry_id is None
                else _Record(entry_id, posting_id, serial or "", direction, amount, bool(pending))
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
