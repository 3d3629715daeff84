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

Import (``statement_import``, in ``reports.channel.importing``). The file is read with the channel's column
mapping (encoding, header lines, footer, columns; see ``Channel``) and is
stored whole or not at all: any problem refuses the file, and the error
names the line (counting from 1, as an editor does) and the reason. A file
imported before (same SHA-256) or a second file for a channel and day is
refused, naming the earlier import. The file is read a line at a time:
each line is checked as it is read and kept in a temporary file until the
whole file is known good, then stored with COPY, so memory holds
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
server-side cursor, and each chunk's new differences, changes and events
are written in bulk. The summary figures are SQL aggregates. So a run's
memory does not grow with the statement's size
(bench/recon.py: a million lines against a million records).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, DecimalField, F, Q, Sum, Value, When
from django.db.models.functions import Abs, Coalesce, Round
from django.utils import timezone

from accounts.kernel.events import event_record
from accounts.kernel.money import ZERO, currency_places
from postings.models import Entry, Posting
from postings.services.calendar import calendar_for

from . import progress
from .exceptions import ChannelNotConfigured, StatementMissing
from .models import (
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
from .outcomes import _LEFT, _LONG, _MATCHED, _MISMATCH, _TOTAL, OutcomeWriter

IN, OUT = MoneyDirection.IN, MoneyDirection.OUT


SYSTEM_ACTOR = "system:channel-recon"


def pending_days() -> int:
    return int(getattr(settings, "CHANNEL_RECON_PENDING_DAYS", 1))


# ------------------------------------------------------------ matching ----

# Rows of the pairing's outcome handled at a time; their writes go to the database in bulk after each chunk.
CHUNK = 2000


def channel_recon_run(*, channel: Channel, recon_date: date, actor: str = SYSTEM_ACTOR) -> ReconRun:
    """Match the channel's statement of ``recon_date`` with the ledger (see the
    module docstring). Re-runnable: a second run changes nothing."""
    statements = StatementImport.objects.filter(channel=channel, statement_date=recon_date)
    # A voided statement's lines are out of matching: its day is matched as
    # one without lines until the right statement is imported.
    statement = statements.filter(voided_at__isnull=True).first() or statements.order_by("-voided_at").first()
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
    try:
        run = _run(channel, recon_date, actor, statement, account_ids, near_cut)
    except Exception as exc:
        progress.progress_set(channel.code, recon_date, progress.FAILED, note=str(exc)[:300])
        raise
    progress.progress_set(channel.code, recon_date, progress.DONE, done=run.channel_count, total=run.channel_count)
    return run


def _run(channel, recon_date, actor, statement, account_ids, near_cut) -> ReconRun:
    progress.progress_set(channel.code, recon_date, progress.PAIRING)
    with transaction.atomic():
        Channel.objects.select_for_update(no_key=True).filter(pk=channel.pk).first()  # one run per channel at a time
        # The pairing sorts and hashes the day's lines and records (about 170 MB for a million of each).
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.CHANNEL_RECON_WORK_MEM])
            cursor.execute("SET LOCAL jit = off")
        work = OutcomeWriter(
            channel=channel, recon_date=recon_date, actor=actor, statement_date=statement.statement_date
        )
        matched_count, matched_amount = _match(work, statement, account_ids, near_cut)
        aged_days = _age_pending(channel, recon_date, actor)
        progress.progress_set(channel.code, recon_date, progress.SUMMING)

        run, _ = ReconRun.objects.select_for_update(no_key=True).get_or_create(
            channel=channel, recon_date=recon_date, defaults={"statement": statement}
        )
        run.statement = statement  # the statement that replaced a voided one
        run.matched_count, run.matched_amount = matched_count, matched_amount
        _summarize(run, channel, statement, account_ids)
        run.runs += 1
        run.last_run_at, run.last_run_by = timezone.now(), actor
        run.save()
        _finished_event(run, channel)
        for day in sorted(aged_days - {recon_date}):
            earlier = ReconRun.objects.select_for_update(no_key=True).filter(channel=channel, recon_date=day).first()
            if earlier is not None:
                _count_differences(earlier)
                earlier.save()
    return run


def _finished_event(run: ReconRun, channel: Channel) -> None:
    """recon.finished, in the run's transaction (docs/events/recon.finished.v1.json)."""
    amounts = ("matched", "long", "short", "mismatch", "pending")
    payload = {
        "run_id": run.pk,
        "channel": channel.code,
        "recon_date": run.recon_date,
        "statement_id": run.statement_id,
        "runs": run.runs,
        "finished_at": run.last_run_at,
        "by": run.last_run_by,
        "channel_count": run.channel_count,
        "ledger_count": run.ledger_count,
    }
    for name in amounts:
        payload[f"{name}_count"] = getattr(run, f"{name}_count")
        payload[f"{name}_amount"] = str(getattr(run, f"{name}_amount"))
    event_record(
        "recon.finished", aggregate_type="recon_run", aggregate_id=run.pk, entity_id=channel.entity_id, payload=payload
    )


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
# them yet). The lines and records are each read once (one FULL JOIN), and
# the joined rows are only scanned afterwards: no join of a CTE,
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
_JOINED_SQL = "SELECT {columns} FROM ({lines}) l FULL JOIN ({records}) r ON r.serial_key = l.serial_no"
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


def _match(work: OutcomeWriter, statement: StatementImport, account_ids: list[int], near_cut) -> tuple[int, Decimal]:
    """Pair the day in SQL and hand ``work`` what did not simply match, a chunk
    at a time from a server-side cursor. The matched pairs' count and amount."""
    tables = {
        "line": StatementLine._meta.db_table,
        "difference": Difference._meta.db_table,
        "entry": Entry._meta.db_table,
        "posting": Posting._meta.db_table,
    }
    joined = _JOINED_SQL.format(
        columns=_JOINED_COLUMNS,
        lines=_LINES_SQL.format(**tables),
        records=_RECORDS_SQL.format(accounts=", ".join(f"%(account{i})s" for i in range(len(account_ids))), **tables),
    )
    sql = _PAIRING_SQL.format(joined=joined, total=_TOTAL, matched=_MATCHED, mismatch=_MISMATCH, long=_LONG, left=_LEFT)
    values = {
        "channel": work.channel.pk,
        "statement": statement.pk if statement.voided_at is None else 0,  # a voided statement has no lines
        "true": True,
        "day": work.recon_date,
        "near_cut": near_cut,
        "currency": work.channel.currency,
        "resolved": DifferenceStatus.RESOLVED,
    }
    values.update((f"account{i}", pk) for i, pk in enumerate(account_ids))

    count, amount, written = 0, ZERO, 0
    lines = statement.line_count if statement.voided_at is None else 0
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, values)
        while chunk := cursor.fetchmany(CHUNK):
            if chunk[0][0] == _TOTAL:
                count, amount = chunk[0][2], chunk[0][5] or ZERO
                chunk = chunk[1:]
            work.handle(chunk)
            # Matched pairs are counted in SQL; what comes here is what did not simply match.
            written += len(chunk)
            progress.progress_set(
                work.channel.code, work.recon_date, progress.WRITING, done=count + written, total=max(lines, 1)
            )
    return count, amount


_MONEY = DecimalField(max_digits=40, decimal_places=10)


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


def _summarize(run: ReconRun, channel: Channel, statement: StatementImport, account_ids: list[int]) -> None:
    """The run's figures, by aggregates in the database."""
    lines = StatementLine.objects.filter(statement=statement, statement__voided_at__isnull=True).order_by()
    counted = Q(counts=True)
    figures = {
        "count": Count("id", filter=counted),
        "skipped": Count("id", filter=Q(counts=False)),
        "money_in": Sum("amount", filter=counted & Q(direction=IN)),
        "money_out": Sum("amount", filter=counted & Q(direction=OUT)),
        "fee": Sum("fee", filter=counted),
        "fee_expected": Sum(_expected_fee_sql(channel), filter=counted),
    }
    totals = lines.aggregate(**figures)
    run.channel_count, run.channel_skipped_count = totals["count"], totals["skipped"]
    run.channel_in, run.channel_out = totals["money_in"] or ZERO, totals["money_out"] or ZERO
    run.fee_charged = totals["fee"] or ZERO
    run.fee_expected = totals["fee_expected"] or ZERO
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
    """The fee the channel should charge for a line: fixed + amount x rate %,
    rounded to the currency's places (numeric arithmetic is exact and round()
    rounds half away from zero)."""
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
    reports.channel.work): they are ours alone and in no statement; and a posting
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
