"""The end of day (日终): day cut, balance sheet, checks, vouchers, close.

Design overview
---------------
``eod_run`` takes one entity and one accounting date through ``EOD_STEPS``
in order. Each step runs in its own transaction and is recorded as an
``EodStep`` (start, end, rows, outcome, attempts), so a failure rolls back
only that step, stops the run, and a later call resumes at that step. The
steps write only rows of the day (delete, then insert, in one transaction),
and the entries they read are append-only and can no longer change once the
day is cut, so re-running a day gives the same rows.

Incremental. A day's balance sheet is the previous *run* day's sheet plus
the day's entries. Accounts without entries are carried forward, so every
account with a balance has a row every day, and the cost follows the day's
entries and the number of accounts, never the history. Nothing of a day is
loaded into Python: the checks fetch at most ``DETAILS_CAP`` failing rows
(with a count of all), and vouchers are aggregated in SQL.

One pass per question. The day's entries are read twice in all: once
sorted per account (the sheet's turnover, and the first and last entries
and the links of each account's chain, in the temporary table eod_day),
once grouped per subject, direction, business type and currency (the
vouchers, and the entries' side of the per-currency and per-subject checks:
eod_lines). The sheet is inserted from eod_day; the checks read the stored
sheet back once, joined with eod_day, and count every check's failures in
that pass; a failing check then queries its own details. See "The day"
below for the reasoning, ``_day_sql`` for what marks an account's chain
for a closer look.

Cost, measured with bench/eod.py (1,000,000 accounts, 2,000,000 entries,
2 cores, PostgreSQL 15): 5.8 - 8.1 times a plain aggregate of the day
(11 - 18 s, depending on the machine's load), against 12 - 14 times before;
the worker at 80 MB. The 3x target is not met; bench/README.md lists where
the time goes and what is left.

Order. The opening of day D is the closing of the last day whose run is
done, so that day must be complete: D is refused (``EodOutOfOrder``, naming
the day) while an earlier run is unfinished, or an earlier day has entries
but no finished run (backfill it first: ``manage.py eod --from .. --to ..``).
Days in between without entries and without a run are legitimately empty:
D's sheet carries the balances over them, and they are closed in the
calendar under the calendar lock, so a late back-dated posting cannot slip
into a day whose balances were already carried forward. The very first run
of an entity opens from zero and is refused if there are earlier entries.

Checks record what they find; they do not stop the run. A check that fails
is a fact about immutable entries: re-running cannot fix it, and the
correction is a posting on the open day that names the corrected day. So
the day still closes and the failed ``CheckResult`` (red on the dashboard)
names the accounts and entries. A step that raises is different (a database
error, a bug): it fails the run and is retried.

One run per entity at a time: PostgreSQL session advisory lock (released if
the worker dies); a concurrent call raises ``EodInProgress``.

SQLite (the embedded demo) runs the same statements, except that it has
no FULL JOIN before 3.39: the rows only the other side has are added to
eod_day by a statement of their own. It stores decimals as floating point,
so sums are rounded to the stored places and comparisons allow half a unit
of the last place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from accounts.kernel.errors import LedgerError, LedgerValidationError
from accounts.models import Account, Entity
from postings.buffers import buffers_flush
from postings.calendar import calendar_for, cuts_due, day_close, day_cut
from postings.models import AccountingCalendar, AccountingDay, DayStatus, Entry

from .models import EOD_STEPS, CheckResult, EodRun, EodStep, RunStatus, Voucher

logger = logging.getLogger(__name__)

# Failing rows kept in a CheckResult's details; all of them are counted.
DETAILS_CAP = 100
# The beat retries a failed step this many times, then waits for a person.
AUTO_RETRIES = getattr(settings, "EOD_AUTO_RETRIES", 3)
# Per sort or hash of the end of day's statements: a day of 2,000,000 entries
# sorts in memory (about 250 MB), and a million accounts hash in memory.
WORK_MEM = getattr(settings, "EOD_WORK_MEM", "320MB")
_LOCK_NAMESPACE = 0x454F44  # "EOD"
_Q4 = Decimal("0.0001")


class EodInProgress(LedgerError):
    code = "eod_running"
    http_status = 409
    default_message = "The end of day of this entity is already running."


class EodOutOfOrder(LedgerValidationError):
    code = "eod_out_of_order"
    default_message = "An earlier accounting day must finish its end of day first."


# ------------------------------------------------------------------ run ----


def eod_run(*, entity: Entity, accounting_date: date, actor: str, from_step: str | None = None) -> EodRun:
    """Run (or resume, or re-run) the end of day of ``entity`` for ``accounting_date``.

    A new day runs every step. A failed or interrupted run resumes at its
    first unfinished step; a done day is recomputed from the start. Either
    may start at ``from_step`` instead, provided every step before it is done.
    Returns the run: ``done``, or ``failed`` with the failed step recorded.
    Raises ``EodOutOfOrder`` (nothing recorded) when an earlier day must run
    first, ``EodInProgress`` when another run of the entity holds the lock.
    """
    if from_step is not None and from_step not in EOD_STEPS:
        raise LedgerValidationError(
            f"Unknown step {from_step!r}; the steps are {', '.join(EOD_STEPS)}.", from_step=from_step
        )
    with _entity_lock(entity):
        _refuse_out_of_order(entity=entity, day=accounting_date)
        run, start = _run_begin(entity=entity, day=accounting_date, actor=actor, from_step=from_step)
        with _day_tables():  # the steps share what they derive from the day's entries
            for position in range(start, len(EOD_STEPS)):
                if not _step_execute(run, position):
                    return run
        run.status, run.ended_at = RunStatus.DONE, timezone.now()
        run.save(update_fields=["status", "ended_at"])
    return run


@contextmanager
def _entity_lock(entity: Entity) -> Iterator[None]:
    if connection.vendor != "postgresql":  # the demo: one process
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, entity.pk])
        if not cursor.fetchone()[0]:
            raise EodInProgress(f"The end of day of {entity.code} is already running.", entity=entity.code)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, entity.pk])


def _refuse_out_of_order(*, entity: Entity, day: date) -> None:
    """Every earlier day with entries must have a finished run; see the module docstring."""
    calendar = calendar_for(entity=entity)
    if day > calendar.open_date:
        raise LedgerValidationError(
            f"{entity.code} is on {calendar.open_date}; the end of day of {day} cannot run before it opens.",
            accounting_date=day,
        )
    runs = EodRun.objects.filter(entity=entity, accounting_date__lt=day)
    last_done = runs.filter(status=RunStatus.DONE).aggregate(d=Max("accounting_date"))["d"]
    between = runs if last_done is None else runs.filter(accounting_date__gt=last_done)
    unfinished = between.order_by("accounting_date").first()
    if unfinished is not None:
        raise EodOutOfOrder(
            f"The end of day of {entity.code} {unfinished.accounting_date} is {unfinished.status}; "
            f"finish it before {day}.",
            missing_day=unfinished.accounting_date,
        )
    with transaction.atomic():
        # The calendar row FOR UPDATE waits for postings in flight (they hold
        # it FOR KEY SHARE) and keeps new ones out while we look and close.
        AccountingCalendar.objects.select_for_update().get(entity=entity)
        entries = Entry.objects.filter(account__entity=entity, accounting_date__lt=day)
        if last_done is not None:
            entries = entries.filter(accounting_date__gt=last_done)
        first_missing = entries.order_by("accounting_date").values_list("accounting_date", flat=True).first()
        if first_missing is not None:
            raise EodOutOfOrder(
                f"{entity.code} has entries on {first_missing} and that day's end of day has not run; "
                f"run the days from {first_missing} in order first "
                f"(manage.py eod --entity {entity.code} --from {first_missing} --to {day}).",
                missing_day=first_missing,
            )
        if last_done is not None:
            _close_empty_days(entity=entity, after=last_done, before=day)


def _close_empty_days(*, entity: Entity, after: date, before: date) -> None:
    """Close the days strictly between two run days: they have no entries
    (checked under the calendar lock), and the later sheet carries balances
    over them, so they must not take a back-dated posting any more."""
    days = [after + timedelta(days=n) for n in range(1, (before - after).days)]
    if not days:
        return
    now = timezone.now()
    AccountingDay.objects.bulk_create(
        [AccountingDay(entity=entity, date=d, status=DayStatus.CLOSED, cut_at=now, closed_at=now) for d in days],
        ignore_conflicts=True,
    )
    AccountingDay.objects.filter(entity=entity, date__in=days).exclude(status=DayStatus.CLOSED).update(
        status=DayStatus.CLOSED, cut_at=now, closed_at=now
    )


def _run_begin(*, entity: Entity, day: date, actor: str, from_step: str | None) -> tuple[EodRun, int]:
    run, created = EodRun.objects.get_or_create(entity=entity, accounting_date=day, defaults={"triggered_by": actor})
    done = set() if created else set(run.steps.filter(status=RunStatus.DONE).values_list("name", flat=True))
    first_open = next((i for i, name in enumerate(EOD_STEPS) if name not in done), None)
    if from_step is not None:
        start = EOD_STEPS.index(from_step)
        if first_open is not None and start > first_open:
            raise LedgerValidationError(
                f"The end of day of {entity.code} {day} cannot start at {from_step}: "
                f"{EOD_STEPS[first_open]} has not completed.",
                from_step=from_step,
            )
    else:
        start = 0 if first_open is None else first_open  # done: recompute the whole day
    run.status, run.ended_at, run.triggered_by = RunStatus.RUNNING, None, actor
    run.save(update_fields=["status", "ended_at", "triggered_by"])
    return run, start


def _step_execute(run: EodRun, position: int) -> bool:
    name = EOD_STEPS[position]
    started = timezone.now()
    step, created = EodStep.objects.get_or_create(
        run=run, name=name, defaults={"position": position, "started_at": started}
    )
    if not created:
        EodStep.objects.filter(pk=step.pk).update(
            status=RunStatus.RUNNING,
            started_at=started,
            ended_at=None,
            rows=0,
            message="",
            attempts=F("attempts") + 1,
        )
    try:
        with transaction.atomic():
            rows, message = STEPS[name](run)
            EodStep.objects.filter(pk=step.pk).update(
                status=RunStatus.DONE, ended_at=timezone.now(), rows=rows, message=message[:2000]
            )
        return True
    except Exception as exc:  # any failure of a step is recorded and stops the run
        logger.exception("end of day %s %s: step %s failed", run.entity_id, run.accounting_date, name)
        ended = timezone.now()
        message = exc.message if isinstance(exc, LedgerError) else f"{type(exc).__name__}: {exc}"
        EodStep.objects.filter(pk=step.pk).update(status=RunStatus.FAILED, ended_at=ended, message=message[:2000])
        run.status, run.ended_at = RunStatus.FAILED, ended
        run.save(update_fields=["status", "ended_at"])
        return False


# ---------------------------------------------------------------- steps ----


def _step_day_cut(run: EodRun) -> tuple[int, str]:
    cut = day_cut(entity=run.entity, day=run.accounting_date)
    when = f" at {timezone.localtime(cut.cut_at):%Y-%m-%d %H:%M:%S}" if cut.cut_at else ""
    return 1, f"{run.accounting_date} cut{when}; postings go to {calendar_for(entity=run.entity).open_date}"


def flush_buffers(*, entity: Entity, accounting_date: date) -> int:
    """Apply what hot accounts buffered up to the day (汇总记账) before the
    balance sheet reads the day's entries. The day cut has already waited
    for every posting of the day, so nothing of the day can still arrive.
    Returns the number of entries applied."""
    return buffers_flush(entity=entity, up_to=accounting_date)


def _step_flush_buffers(run: EodRun) -> tuple[int, str]:
    rows = flush_buffers(entity=run.entity, accounting_date=run.accounting_date)
    return rows, "no pending hot-account entries" if not rows else f"{rows} pending entries applied"


def _step_balance_sheet(run: EodRun) -> tuple[int, str]:
    rows = balance_sheet_build(entity=run.entity, accounting_date=run.accounting_date)
    return rows, f"{rows} accounts"


def _step_checks(run: EodRun) -> tuple[int, str]:
    results = checks_run(entity=run.entity, accounting_date=run.accounting_date, run=run)
    failed = [r.check_name for r in results if not r.passed]
    if failed:
        return len(results), f"{len(failed)} of {len(results)} checks failed: {', '.join(failed)}"
    return len(results), f"all {len(results)} checks passed"


def _step_vouchers(run: EodRun) -> tuple[int, str]:
    rows = vouchers_build(entity=run.entity, accounting_date=run.accounting_date)
    return rows, f"{rows} vouchers"


def _step_advance_day(run: EodRun) -> tuple[int, str]:
    day_close(entity=run.entity, day=run.accounting_date)
    return 1, f"{run.accounting_date} closed"


STEPS: dict[str, Callable[[EodRun], tuple[int, str]]] = {
    "day_cut": _step_day_cut,
    "flush_buffers": _step_flush_buffers,
    "balance_sheet": _step_balance_sheet,
    "checks": _step_checks,
    "vouchers": _step_vouchers,
    "advance_day": _step_advance_day,
}
assert list(STEPS) == EOD_STEPS, "every step of EOD_STEPS needs its function, in order"


# ----------------------------------------------------------- SQL helpers ----


def _execute(sql: str, params: dict) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# ------------------------------------------------------------- the day ----
#
# The balance sheet, the checks and the vouchers are derived from two
# passes over the day's entries, kept for the run in temporary tables of the
# worker's session (they are a by-product, never a record):
#
# eod_day, one sorted pass: one row per account of the entity, with the
#   day's facts (debit, credit, entry count, first entry's balance before,
#   last entry's balance after and serial, whether the day's chain may be
#   broken), the account's type and balance, the previous sheet's closing
#   and what was posted after the day. Rows of the previous sheet whose
#   account is not the entity's get a row too (of_entity = 0): only
#   tampering makes them, and the checks must see them.
# eod_lines, one grouped pass: the day's entries per subject, category,
#   direction, business type and currency: the vouchers, and the entries'
#   side of the per-currency and per-subject checks, summed independently of
#   the per-account pass.
#
# The balance sheet is inserted from eod_day. The checks read the stored
# sheet back once, joined with eod_day, and sum every check's failures in
# that one pass; only a check that fails runs a second query, for its
# details. Inside ``eod_run`` a step reuses what an earlier step of the same
# run built; any other call builds its own and drops it when done.

_DAY, _LINES = "eod_day", "eod_lines"
_built: ContextVar[set | None] = ContextVar("eod_built", default=None)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _temp(name: str) -> str:
    return f"pg_temp.{name}" if _postgres() else f"temp.{name}"


@contextmanager
def _day_tables() -> Iterator[None]:
    """Scope of the temporary tables: the run (reused by its later steps),
    or the one call when no run is going on. Dropped on leaving it."""
    if _built.get() is not None:
        yield
        return
    token = _built.set(set())
    try:
        yield
    finally:
        _built.reset(token)
        try:
            with connection.cursor() as cursor:
                for name in (_DAY, _LINES):
                    cursor.execute(f"DROP TABLE IF EXISTS {_temp(name)}")
        except DatabaseError:  # a broken connection takes its temporary tables with it
            logger.warning("end of day: could not drop the temporary tables", exc_info=True)


def _reusable(name: str, d: _Day) -> bool:
    """Built by an earlier step of this run, and still there (a step that
    failed rolled back what it built)."""
    if (name, d.entity.pk, d.day) not in (_built.get() or ()):
        return False
    if _postgres():
        return _fetch("SELECT to_regclass(%(t)s) IS NOT NULL", {"t": _temp(name)})[0][0]
    return bool(_fetch("SELECT 1 FROM sqlite_temp_master WHERE type = 'table' AND name = %(t)s", {"t": name}))


def _mark_built(name: str, d: _Day) -> None:
    built = _built.get()
    if built is not None:
        built.add((name, d.entity.pk, d.day))


def _tune_session() -> None:
    """Inside the step's transaction only (SET LOCAL). Sorting and hashing
    a day of entries needs more than the server's default work_mem; JIT
    compiling these statements costs more than it saves."""
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [WORK_MEM])
            cursor.execute("SET LOCAL jit = off")


def _differs(a: str, b: str) -> str:
    """SQL: a and b are different amounts (a NULL differs from anything).
    PostgreSQL compares numerics exactly; SQLite keeps floats, so it allows
    half a unit of the fourth place."""
    if _postgres():
        return f"({a}) IS DISTINCT FROM ({b})"
    return f"COALESCE(ABS(({a}) - ({b})) > 0.00005, 1)"


def _round(expr: str) -> str:
    """SQLite sums decimals as floats: round to the stored places."""
    return expr if _postgres() else f"ROUND({expr}, 4)"


def _money(value) -> str | None:
    if value is None:
        return None
    return str(Decimal(str(value)).quantize(_Q4))


def _amount(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(_Q4)


def _exact(value) -> Decimal:
    """A sum as the database returned it, before rounding (SQLite: a float)."""
    return Decimal(str(value or 0))


# The day's entries of one entity (Entry has no entity column: its account does).
_DAY_ENTRIES = """
      FROM postings_entry e
      JOIN accounts_account a ON a.id = e.account_id
     WHERE e.accounting_date = %(day)s AND a.entity_id = %(entity)s"""

# Turnover on the account's normal side: debit-normal assets, credit-normal the rest.
_SIGNED = "CASE WHEN {cat} = 'asset' THEN {d} - {c} ELSE {c} - {d} END"


def previous_run_date(*, entity: Entity, accounting_date: date) -> date | None:
    """The last day before ``accounting_date`` whose end of day is done: its
    balance sheet holds the opening balances of ``accounting_date``."""
    return EodRun.objects.filter(entity=entity, accounting_date__lt=accounting_date, status=RunStatus.DONE).aggregate(
        d=Max("accounting_date")
    )["d"]


@dataclass(frozen=True)
class _Day:
    entity: Entity
    day: date
    prev: date | None
    sole_entity: bool  # no other entity has accounts: every entry is this entity's

    @property
    def params(self) -> dict:
        return {"entity": self.entity.pk, "day": self.day, "prev": self.prev, "cap": DETAILS_CAP}


def _day_of(entity: Entity, day: date) -> _Day:
    others = Entity.objects.exclude(pk=entity.pk).values_list("pk", flat=True)  # a handful: one probe each
    return _Day(
        entity,
        day,
        previous_run_date(entity=entity, accounting_date=day),
        sole_entity=not any(Account.objects.filter(entity_id=pk).exists() for pk in others),
    )


def _day_sql(d: _Day) -> str:
    """eod_day (see above). The day's entries are sorted once per account by
    account_seq; each account's facts are aggregated from that order.

    chain_suspect = 1 marks an account whose chain of the day may be broken:
    an entry whose balance after is not its balance before plus its amount on
    the account's normal side; an entry whose balance before is not the
    balance after of the day's previous entry, or that does not follow it in
    account_seq; or a first entry of the day whose balance before is not the
    balance after of the account's previous entry (whatever its day: looked
    up by the (account, account_seq) index, one probe per account) or not 0
    for the account's very first entry. The entry_chain check then examines
    these accounts' entries one by one; an account not marked has no broken
    entry of the day."""
    entries_of_entity = (
        "" if d.sole_entity else ("AND e.account_id IN (SELECT id FROM accounts_account WHERE entity_id = %(entity)s)")
    )
    # An entry moves its balance by its amount: up on the account's normal side, down on the other.
    debit_normal = _differs(
        "CASE WHEN w.direction = 'D' THEN w.balance_after - w.balance_before "
        "ELSE w.balance_before - w.balance_after END",
        "w.amount",
    )
    credit_normal = _differs(
        "CASE WHEN w.direction = 'C' THEN w.balance_after - w.balance_before "
        "ELSE w.balance_before - w.balance_after END",
        "w.amount",
    )
    # A fence: the day's rows are read (by date) and sorted; walking an index by account
    # instead, as the planner may prefer, would read every account's whole history.
    fence = "OFFSET 0" if _postgres() else "LIMIT -1 OFFSET 0"
    previous_after = """CASE WHEN f.first_seq = 1 THEN 0
                             ELSE (SELECT q.balance_after FROM postings_entry q
                                    WHERE q.account_id = f.account_id AND q.account_seq = f.first_seq - 1) END"""
    later = {
        (state, side): f"SUM(CASE WHEN e.balance_after IS {state} NULL AND e.direction = '{side}' "
        f"THEN e.amount ELSE 0 END)"
        for state in ("NOT", "")
        for side in "DC"
    }
    accounts = f"""
        SELECT a.id AS account_id, t.code AS account_type_code, t.subject_code, a.category, a.currency, a.balance,
               f.debit, f.credit, f.entry_count, f.first_before, f.last_after, f.last_serial,
               CASE WHEN f.account_id IS NULL THEN 0
                    WHEN f.links_broken > 0 OR f.first_seq IS NULL
                      OR (CASE WHEN a.category = 'asset' THEN f.off_if_debit_normal
                               ELSE f.off_if_credit_normal END) > 0
                      OR {_differs("f.first_before", previous_after)}
                    THEN 1 ELSE 0 END AS chain_suspect,
               {_SIGNED.format(cat="a.category", d="l.applied_debit", c="l.applied_credit")} AS later_applied,
               {_SIGNED.format(cat="a.category", d="l.pending_debit", c="l.pending_credit")} AS later_pending
          FROM accounts_account a
          JOIN accounts_accounttype t ON t.id = a.account_type_id
          LEFT JOIN (
               SELECT w.account_id,
                      SUM(CASE WHEN w.direction = 'D' THEN w.amount ELSE 0 END) AS debit,
                      SUM(CASE WHEN w.direction = 'C' THEN w.amount ELSE 0 END) AS credit,
                      COUNT(*) AS entry_count,
                      MIN(w.account_seq) AS first_seq,
                      MAX(CASE WHEN w.previous_serial IS NULL THEN w.balance_before END) AS first_before,
                      MAX(CASE WHEN w.next_serial IS NULL THEN w.balance_after END) AS last_after,
                      MAX(CASE WHEN w.next_serial IS NULL THEN w.serial_no END) AS last_serial,
                      SUM(CASE WHEN w.previous_serial IS NOT NULL
                                AND (w.previous_seq IS NULL OR w.account_seq IS NULL
                                     OR w.previous_seq <> w.account_seq - 1
                                     OR {_differs("w.previous_after", "w.balance_before")})
                               THEN 1 ELSE 0 END) AS links_broken,
                      SUM(CASE WHEN {debit_normal} THEN 1 ELSE 0 END) AS off_if_debit_normal,
                      SUM(CASE WHEN {credit_normal} THEN 1 ELSE 0 END) AS off_if_credit_normal
                 FROM (SELECT e.serial_no, e.account_id, e.account_seq, e.direction, e.amount,
                              e.balance_before, e.balance_after,
                              LAG(e.serial_no) OVER win AS previous_serial,
                              LEAD(e.serial_no) OVER win AS next_serial,
                              LAG(e.account_seq) OVER win AS previous_seq,
                              LAG(e.balance_after) OVER win AS previous_after
                         FROM (SELECT serial_no, account_id, account_seq, direction, amount, balance_before,
                                      balance_after
                                 FROM postings_entry e
                                WHERE e.accounting_date = %(day)s {entries_of_entity} {fence}) e
                       WINDOW win AS (PARTITION BY e.account_id ORDER BY e.account_seq, e.serial_no)) w
                GROUP BY w.account_id) f ON f.account_id = a.id
          LEFT JOIN (
               SELECT e.account_id, {later["NOT", "D"]} AS applied_debit, {later["NOT", "C"]} AS applied_credit,
                      {later["", "D"]} AS pending_debit, {later["", "C"]} AS pending_credit
                 FROM postings_entry e
                WHERE e.accounting_date > %(day)s
                GROUP BY e.account_id) l ON l.account_id = a.id
         WHERE a.entity_id = %(entity)s"""
    columns = """x.account_type_code, x.subject_code, x.category, x.currency, x.balance, x.debit, x.credit,
               x.entry_count, x.first_before, x.last_after, x.last_serial, x.chain_suspect, x.later_applied,
               x.later_pending, p.closing AS prev_closing, p.subject_code AS prev_subject,
               p.currency AS prev_currency"""
    previous = """(SELECT account_id, closing, subject_code, currency FROM reports_dailybalance
                    WHERE entity_id = %(entity)s AND accounting_date = %(prev)s) p"""
    if _postgres():
        return f"""
            CREATE TEMP TABLE {_DAY} AS
            SELECT COALESCE(x.account_id, p.account_id) AS account_id,
                   CASE WHEN x.account_id IS NULL THEN 0 ELSE 1 END AS of_entity, {columns}
              FROM ({accounts}) x
              FULL JOIN {previous} ON p.account_id = x.account_id"""
    # SQLite has FULL JOIN only since 3.39: the previous sheet's other rows are added after.
    return f"""
        CREATE TEMP TABLE {_DAY} AS
        SELECT x.account_id, 1 AS of_entity, {columns}
          FROM ({accounts}) x
          LEFT JOIN {previous} ON p.account_id = x.account_id"""


def _day_build(d: _Day, *, fresh: bool = False) -> None:
    if not fresh and _reusable(_DAY, d):
        return
    _execute(f"DROP TABLE IF EXISTS {_temp(_DAY)}", {})
    if _postgres():
        # The planner cannot know how many accounts survive the joins;
        # guessing few, it would probe indexes a million times.
        _execute("SET LOCAL enable_nestloop = off", {})
        _execute(_day_sql(d), d.params)
        _execute("SET LOCAL enable_nestloop TO DEFAULT", {})
    else:
        _execute(_day_sql(d), d.params)
        _execute(
            f"""
            INSERT INTO {_temp(_DAY)} (account_id, of_entity, chain_suspect, prev_closing, prev_subject,
                                       prev_currency)
            SELECT p.account_id, 0, 0, p.closing, p.subject_code, p.currency
              FROM reports_dailybalance p
             WHERE p.entity_id = %(entity)s AND p.accounting_date = %(prev)s
               AND NOT EXISTS (SELECT 1 FROM {_temp(_DAY)} g WHERE g.account_id = p.account_id)""",
            d.params,
        )
    _mark_built(_DAY, d)


def _lines_build(d: _Day) -> None:
    if _reusable(_LINES, d):
        return
    _execute(f"DROP TABLE IF EXISTS {_temp(_LINES)}", {})
    _execute(
        f"""
        CREATE TEMP TABLE {_LINES} AS
        SELECT t.subject_code, a.category, e.direction, e.business_type, e.currency, SUM(e.amount) AS amount,
               COUNT(*) AS entry_count, MIN(e.serial_no) AS first_serial, MAX(e.serial_no) AS last_serial
          FROM postings_entry e
          JOIN accounts_account a ON a.id = e.account_id
          JOIN accounts_accounttype t ON t.id = a.account_type_id
         WHERE e.accounting_date = %(day)s AND a.entity_id = %(entity)s
         GROUP BY t.subject_code, a.category, e.direction, e.business_type, e.currency""",
        d.params,
    )
    _mark_built(_LINES, d)


# -------------------------------------------------------- balance sheet ----


def balance_sheet_build(*, entity: Entity, accounting_date: date) -> int:
    """Build the day's balance sheet (余额表), replacing any earlier build.

    Per account with entries that day or a non-zero opening: opening (the
    previous run day's closing, 0 if none), debit and credit turnover, entry
    count, closing = opening + turnover on the account's normal side. The
    account's type, subject and category are copied as they are today.
    Returns the number of rows."""
    with _day_tables(), transaction.atomic():
        _tune_session()
        d = _day_of(entity, accounting_date)
        _day_build(d, fresh=True)
        _execute(
            "DELETE FROM reports_dailybalance WHERE entity_id = %(entity)s AND accounting_date = %(day)s", d.params
        )
        opening, debit, credit = "COALESCE(g.prev_closing, 0)", "COALESCE(g.debit, 0)", "COALESCE(g.credit, 0)"
        closing = f"{opening} + {_SIGNED.format(cat='g.category', d=debit, c=credit)}"
        # In account order, so the (account, date) index is filled leaf after leaf.
        rows = _execute(
            f"""
            INSERT INTO reports_dailybalance
                   (entity_id, accounting_date, account_id, account_type_code, subject_code, category, currency,
                    opening, debit, credit, closing, entry_count)
            SELECT %(entity)s, %(day)s, g.account_id, g.account_type_code, g.subject_code, g.category, g.currency,
                   {_round(opening)}, {_round(debit)}, {_round(credit)}, {_round(closing)},
                   COALESCE(g.entry_count, 0)
              FROM {_temp(_DAY)} g
             WHERE g.of_entity = 1 AND (g.entry_count IS NOT NULL OR {_round(opening)} <> 0)
             ORDER BY g.account_id""",
            d.params,
        )
        if _postgres():
            # Fresh statistics (ANALYZE counts this transaction's own rows):
            # else the report pages plan a day's million rows as one.
            _execute("ANALYZE reports_dailybalance", {})
        return rows


# --------------------------------------------------------------- checks ----


@dataclass
class CheckOutcome:
    name: str
    checked_rows: int
    failures: int = 0
    details: list[dict] = field(default_factory=list)
    summary: str = ""

    @property
    def passed(self) -> bool:
        return self.failures == 0


def _account_numbers(ids) -> dict[int, str]:
    return dict(Account.objects.filter(id__in=set(ids)).values_list("id", "account_no"))


# Per row of eod_day g joined with the stored sheet s of the day: 1 where a
# check fails for that account, else 0. The sweep sums them; the details
# queries select the rows where they are 1.
def _failing_account_balance() -> str:
    """account_balance: the stored row's closing = opening + turnover on the
    normal side, and its opening = the previous closing (0 if none); an
    account without a row had a zero previous closing."""
    arithmetic = _differs("s.closing", "s.opening + " + _SIGNED.format(cat="s.category", d="s.debit", c="s.credit"))
    return f"""CASE WHEN s.account_id IS NOT NULL
                    THEN CASE WHEN {arithmetic} OR {_differs("s.opening", "COALESCE(g.prev_closing, 0)")}
                              THEN 1 ELSE 0 END
                    WHEN {_differs("COALESCE(g.prev_closing, 0)", "0")} THEN 1 ELSE 0 END"""


def _failing_last_entry() -> str:
    """last_entry: an account with entries that day has a stored row whose
    closing is its last entry's balance after and whose count is its entries."""
    return f"""CASE WHEN g.entry_count IS NOT NULL
                     AND (s.account_id IS NULL OR s.entry_count <> g.entry_count
                          OR {_differs("s.closing", "g.last_after")})
                    THEN 1 ELSE 0 END"""


def _failing_live_balance() -> str:
    """live_balance: stored balance + pending = closing + everything posted
    after the day, where pending is what was posted after the day and not
    yet applied to the balance (hot-account buffering: balance_after NULL).
    The pending amounts are on both sides: balance = closing + applied."""
    return f"""CASE WHEN {_differs("COALESCE(g.balance, 0)", "COALESCE(s.closing, 0) + COALESCE(g.later_applied, 0)")}
                    THEN 1 ELSE 0 END"""


def _joined(d: _Day) -> str:
    """eod_day g joined with the stored sheet s of the day, both ways: a
    stored row of an account that is not the entity's is seen too."""
    sheet = """(SELECT account_id, category, currency, subject_code, opening, debit, credit, closing, entry_count
                  FROM reports_dailybalance WHERE entity_id = %(entity)s AND accounting_date = %(day)s) s"""
    if _postgres():
        return f"{_temp(_DAY)} g FULL JOIN {sheet} ON s.account_id = g.account_id"
    return f"{_temp(_DAY)} g LEFT JOIN {sheet} ON s.account_id = g.account_id"


def _sweep(d: _Day) -> list[tuple]:
    """One pass over the stored sheet joined with eod_day: per subject,
    currency and category of the stored rows and per subject and currency of
    the previous ones, the sums the checks compare and each check's failures."""
    if not _postgres():  # no FULL JOIN: give the stored rows of other accounts a row of eod_day first
        _execute(
            f"""
            INSERT INTO {_temp(_DAY)} (account_id, of_entity, chain_suspect)
            SELECT s.account_id, 0, 0 FROM reports_dailybalance s
             WHERE s.entity_id = %(entity)s AND s.accounting_date = %(day)s
               AND NOT EXISTS (SELECT 1 FROM {_temp(_DAY)} g WHERE g.account_id = s.account_id)""",
            d.params,
        )
    return _fetch(
        f"""
        SELECT s.subject_code, s.currency, s.category, g.prev_subject, g.prev_currency,
               COUNT(s.account_id), SUM(CASE WHEN s.entry_count > 0 THEN 1 ELSE 0 END), SUM(s.entry_count),
               SUM(s.closing), SUM(s.debit), SUM(s.credit), SUM(g.prev_closing),
               SUM(CASE WHEN g.of_entity = 1 THEN 1 ELSE 0 END),
               SUM({_failing_account_balance()}), SUM({_failing_last_entry()}), SUM(g.chain_suspect),
               SUM({_failing_live_balance()})
          FROM {_joined(d)}
         GROUP BY s.subject_code, s.currency, s.category, g.prev_subject, g.prev_currency""",
        d.params,
    )


def _failing_rows(d: _Day, condition: str, columns: str) -> list[tuple]:
    return _fetch(
        f"""
        SELECT COALESCE(g.account_id, s.account_id) AS account_id, {columns}
          FROM {_joined(d)}
         WHERE ({condition}) = 1
         ORDER BY COALESCE(g.account_id, s.account_id)
         LIMIT %(cap)s""",
        d.params,
    )


@dataclass
class _Sweep:
    """What the sweep found, summed over its groups."""

    sheet_rows: int = 0  # stored rows of the day
    day_accounts: int = 0  # of which with entries that day
    day_entries: int = 0
    accounts: int = 0  # accounts of the entity
    failing: dict[str, int] = field(default_factory=dict)
    # currency -> category -> stored closings; currency -> stored rows
    closing_by_category: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    rows_by_currency: dict[str, int] = field(default_factory=dict)
    # (subject, currency) -> [stored closing, stored debit, stored credit, stored rows, previous closing]
    subjects: dict[tuple[str, str], list] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: list[tuple]) -> _Sweep:
        sweep = cls(failing=dict.fromkeys(["account_balance", "last_entry", "entry_chain", "live_balance"], 0))
        for (
            subject,
            currency,
            category,
            prev_subject,
            prev_currency,
            sheet_rows,
            day_accounts,
            day_entries,
            closing,
            debit,
            credit,
            prev_closing,
            accounts,
            *failing,
        ) in rows:
            sweep.sheet_rows += int(sheet_rows or 0)
            sweep.day_accounts += int(day_accounts or 0)
            sweep.day_entries += int(day_entries or 0)
            sweep.accounts += int(accounts or 0)
            for name, n in zip(sweep.failing, failing):
                sweep.failing[name] += int(n or 0)
            if sheet_rows:
                by_category = sweep.closing_by_category.setdefault(currency, {})
                by_category[category] = by_category.get(category, Decimal(0)) + _exact(closing)
                sweep.rows_by_currency[currency] = sweep.rows_by_currency.get(currency, 0) + int(sheet_rows)
                figures = sweep.subjects.setdefault((subject, currency), [Decimal(0)] * 5)
                figures[0] += _exact(closing)
                figures[1] += _exact(debit)
                figures[2] += _exact(credit)
                figures[3] += int(sheet_rows)
            if prev_subject is not None:
                figures = sweep.subjects.setdefault((prev_subject, prev_currency), [Decimal(0)] * 5)
                figures[4] += _exact(prev_closing)
        return sweep


def _check_account_balance(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """Per account on the sheet: opening = the previous day's closing (0 if
    none) and closing = opening + turnover on the normal side; no account
    with a balance the day before is missing. (That the closing is the last
    entry's balance after is the last_entry check.)"""
    outcome = CheckOutcome("account_balance", checked_rows=sweep.sheet_rows, failures=sweep.failing["account_balance"])
    if outcome.failures:
        rows = _failing_rows(
            d,
            _failing_account_balance(),
            """s.account_id, s.category, s.opening, s.debit,
                             s.credit, s.closing, g.prev_closing""",
        )
        numbers = _account_numbers(r[0] for r in rows)
        for account_id, in_sheet, category, opening, debit, credit, closing, prev_closing in rows:
            before = _amount(prev_closing)
            item = {"account_no": numbers.get(account_id), "account_id": account_id, "previous_closing": _money(before)}
            if in_sheet is None:
                item["problem"] = f"missing from the balance sheet (previous closing {before})"
            else:
                moved = debit - credit if category == "asset" else credit - debit
                problems = []
                if _amount(opening) != before:
                    problems.append(f"opening {_amount(opening)} != previous closing {before}")
                if _amount(closing) != _amount(opening + moved):
                    problems.append(
                        f"closing {_amount(closing)} != opening {_amount(opening)} {_amount(moved):+} turnover"
                    )
                item.update(
                    opening=_money(opening),
                    debit=_money(debit),
                    credit=_money(credit),
                    closing=_money(closing),
                    problem="; ".join(problems),
                )
            outcome.details.append(item)
    outcome.summary = (
        f"{outcome.failures} accounts do not follow from the previous closing and the day's turnover"
        if outcome.failures
        else f"{outcome.checked_rows} accounts: opening + turnover = closing"
    )
    return outcome


def _check_entry_chain(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """Every entry of the day continues its account's previous entry (by
    account_seq, whatever that entry's day): balance before = the previous
    balance after (0 for an account's first entry), and balance after =
    before + the amount on the account's normal side. An entry still pending
    (a hot account's leg the flush did not apply: no account_seq, no
    balances) breaks it.

    Only the accounts eod_day marks as suspect can hold a broken entry (see
    ``_day_sql``); their entries are walked here one by one, each previous
    entry being the day's own previous row (LAG) where the sequence is
    unbroken, otherwise looked up by the (account, account_seq) index."""
    outcome = CheckOutcome("entry_chain", checked_rows=sweep.day_entries)
    if sweep.failing["entry_chain"]:
        signed = "CASE WHEN (w.category = 'asset') = (w.direction = 'D') THEN w.amount ELSE -w.amount END"
        materialized = "MATERIALIZED" if _postgres() else ""
        rows = _fetch(
            f"""
        WITH day AS {materialized} (
            SELECT e.serial_no, e.account_id, e.account_seq, a.category, e.direction, e.amount,
                   e.balance_before, e.balance_after
            {_DAY_ENTRIES}
               AND e.account_id IN (SELECT g.account_id FROM {_temp(_DAY)} g WHERE g.chain_suspect = 1)
        )
        SELECT w.serial_no, w.account_id, w.account_seq, w.category, w.direction, w.amount, w.balance_before,
               w.balance_after, w.prev_after, COUNT(*) OVER () AS total
          FROM (SELECT v.*,
                       CASE WHEN v.account_seq = 1 THEN 0
                            WHEN v.lag_seq = v.account_seq - 1 THEN v.lag_after
                            ELSE (SELECT p.balance_after FROM postings_entry p
                                   WHERE p.account_id = v.account_id AND p.account_seq = v.account_seq - 1)
                       END AS prev_after
                  FROM (SELECT e.*, LAG(e.account_seq) OVER win AS lag_seq, LAG(e.balance_after) OVER win AS lag_after
                          FROM day e
                        WINDOW win AS (PARTITION BY e.account_id ORDER BY e.account_seq)) v) w
         WHERE w.account_seq IS NULL
            OR {_differs("w.balance_before", "w.prev_after")}
            OR {_differs("w.balance_after", "w.balance_before + " + signed)}
         ORDER BY w.serial_no
         LIMIT %(cap)s""",
            d.params,
        )
        outcome.failures = int(rows[0][-1]) if rows else 0
        numbers = _account_numbers(r[1] for r in rows)
        for serial, account_id, seq, category, direction, amount, before, after, prev_after, _ in rows:
            problems = []
            if seq is None:  # pending: the flush (step 2) should have applied every entry of the day
                problems.append("not applied to the account's balance (no account_seq, balance before or after)")
            elif prev_after is None:
                problems.append(f"previous entry (seq {seq - 1}) is missing")
            elif _amount(before) != _amount(prev_after):
                problems.append(f"balance before {_amount(before)} != previous balance after {_amount(prev_after)}")
            moved = _amount(amount) if (category == "asset") == (direction == "D") else -_amount(amount)
            if seq is not None and _amount(after) != _amount(before) + moved:
                problems.append(f"balance after {_amount(after)} != {_amount(before)} {moved:+}")
            outcome.details.append(
                {
                    "entry": serial,
                    "account_no": numbers.get(account_id),
                    "account_seq": seq,
                    "balance_before": _money(before),
                    "balance_after": _money(after),
                    "previous_balance_after": _money(prev_after),
                    "problem": "; ".join(problems),
                }
            )
    outcome.summary = (
        f"{outcome.failures} entries break their account's chain"
        if outcome.failures
        else f"{outcome.checked_rows} entries chain"
    )
    return outcome


def _check_last_entry(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """Each account's closing on the sheet = the balance after of its last
    entry of the day, and its entry count = the day's entries."""
    outcome = CheckOutcome("last_entry", checked_rows=sweep.day_accounts, failures=sweep.failing["last_entry"])
    if outcome.failures:
        rows = _failing_rows(
            d,
            _failing_last_entry(),
            """s.account_id, s.closing, s.entry_count, g.entry_count,
                             g.last_serial, g.last_after""",
        )
        numbers = _account_numbers(r[0] for r in rows)
        for account_id, sheet_account, sheet_closing, sheet_count, n, serial, after in rows:
            if sheet_account is None:
                problem = f"{n} entries but missing from the balance sheet"
            elif after is None:
                problem = f"last entry {serial} is not applied to the account's balance (no balance after)"
            else:
                problems = []
                if _amount(sheet_closing) != _amount(after):
                    problems.append(
                        f"closing {_amount(sheet_closing)} != balance after {_amount(after)} of entry {serial}"
                    )
                if int(sheet_count) != int(n):
                    problems.append(f"entry count {sheet_count} != {n} entries of the day")
                problem = "; ".join(problems)
            outcome.details.append(
                {
                    "account_no": numbers.get(account_id),
                    "account_id": account_id,
                    "entry": serial,
                    "closing": _money(sheet_closing),
                    "last_balance_after": _money(after),
                    "problem": problem,
                }
            )
    outcome.summary = (
        f"{outcome.failures} accounts' closings differ from their last entry"
        if outcome.failures
        else f"{outcome.checked_rows} accounts close at their last entry's balance"
    )
    return outcome


def _check_live_balance(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """Each account's stored balance = the day's closing + the turnover
    posted after the day that is applied to it (a hot account's buffered
    entries are not yet: balance + pending = closing + all turnover since).
    The sheet agrees with the balances the ledger holds now. (Balances and
    later entries are read by one statement, so a posting committing
    meanwhile is seen in both or neither.)"""
    outcome = CheckOutcome("live_balance", checked_rows=sweep.accounts, failures=sweep.failing["live_balance"])
    if outcome.failures:
        rows = _failing_rows(d, _failing_live_balance(), "g.balance, s.closing, g.later_applied, g.later_pending")
        numbers = _account_numbers(r[0] for r in rows)
        for account_id, balance, closing, applied, pending in rows:
            c, p = _amount(closing), _amount(pending)
            m = _amount(applied) + p
            item = {
                "account_no": numbers.get(account_id),
                "account_id": account_id,
                "balance": _money(balance),
                "closing": _money(c),
                "later_turnover": _money(m),
            }
            if p:
                item["pending"] = _money(p)
                item["problem"] = f"balance {_amount(balance)} + {p} pending != closing {c} {m:+} posted since"
            else:
                item["problem"] = f"balance {_amount(balance)} != closing {c} {m:+} posted since"
            outcome.details.append(item)
    outcome.summary = (
        f"{outcome.failures} accounts' balances do not follow from the day's closing"
        if outcome.failures
        else f"{outcome.checked_rows} balances follow from the day's closing"
    )
    return outcome


def _lines_by_currency(d: _Day) -> list[tuple]:
    """(currency, debit, credit, entries) of the day's entries, from eod_lines."""
    return _fetch(
        f"""
        SELECT currency, SUM(CASE WHEN direction = 'D' THEN amount ELSE 0 END),
               SUM(CASE WHEN direction = 'C' THEN amount ELSE 0 END), SUM(entry_count)
          FROM {_temp(_LINES)} GROUP BY currency ORDER BY currency""",
        {},
    )


def _check_debits_credits(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """Per currency: the day's debits equal its credits. On a difference,
    the postings of the day that do not balance are named."""
    totals = _lines_by_currency(d)
    outcome = CheckOutcome("debits_credits", checked_rows=sum(int(r[3]) for r in totals))
    unequal = []
    for currency, debit, credit, _ in totals:
        if _amount(debit) != _amount(credit):
            unequal.append(currency)
            outcome.details.append(
                {
                    "currency": currency,
                    "debit": _money(debit),
                    "credit": _money(credit),
                    "difference": _money(_amount(debit) - _amount(credit)),
                }
            )
    if not unequal:
        outcome.summary = ", ".join(f"{c} debits = credits = {_money(dr)}" for c, dr, _, _ in totals) or "no entries"
        return outcome
    postings = _fetch(
        f"""
        SELECT e.posting_id, e.currency,
               SUM(CASE WHEN e.direction = 'D' THEN e.amount ELSE 0 END),
               SUM(CASE WHEN e.direction = 'C' THEN e.amount ELSE 0 END),
               COUNT(*) OVER () AS total
        {_DAY_ENTRIES}
         GROUP BY e.posting_id, e.currency
        HAVING {_differs("SUM(CASE WHEN e.direction = 'D' THEN e.amount ELSE -e.amount END)", "0")}
         ORDER BY e.posting_id
         LIMIT %(cap)s""",
        d.params,
    )
    entries_of: dict[int, list[int]] = {}
    for posting_id, serial in (
        Entry.objects.filter(posting_id__in=[p[0] for p in postings])
        .order_by("serial_no")
        .values_list("posting_id", "serial_no")
    ):
        entries_of.setdefault(posting_id, []).append(serial)
    for posting_id, currency, debit, credit, _ in postings:
        outcome.details.append(
            {
                "posting": posting_id,
                "currency": currency,
                "debit": _money(debit),
                "credit": _money(credit),
                "entries": entries_of.get(posting_id, []),
            }
        )
    outcome.failures = len(unequal) + (postings[0][-1] if postings else 0)
    outcome.summary = (
        "debits != credits in " + ", ".join(unequal) + (f"; {postings[0][-1]} unbalanced postings" if postings else "")
    )
    return outcome


def _check_identity(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """Per currency, from the day's closings: sum(asset) = sum(liability) + sum(internal)."""
    outcome = CheckOutcome("identity", checked_rows=sweep.sheet_rows)
    parts = []
    for currency in sorted(sweep.closing_by_category):
        by_category = sweep.closing_by_category[currency]
        asset, liability, internal = (_amount(by_category.get(c)) for c in ("asset", "liability", "internal"))
        difference = asset - liability - internal
        parts.append(
            f"{currency} {asset} = {liability} + {internal}" if not difference else f"{currency} off by {difference}"
        )
        if difference:
            outcome.failures += 1
            outcome.details.append(
                {
                    "currency": currency,
                    "asset": _money(asset),
                    "liability": _money(liability),
                    "internal": _money(internal),
                    "difference": _money(difference),
                }
            )
    outcome.summary = "; ".join(parts) or "no balances"
    return outcome


def _check_subject_totals(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """总分核对: per subject and currency, the sum of its accounts' closings
    equals the subject computed on its own, the previous subject closing plus
    the day's subject turnover from the entries (eod_lines, summed apart
    from the per-account pass); and the accounts' debit and credit turnover
    add up to the subject's."""
    subjects = {key: list(figures) + [Decimal(0)] * 3 for key, figures in sweep.subjects.items()}
    for subject, category, direction, _, currency, amount, _, _, _ in _fetch(f"SELECT * FROM {_temp(_LINES)}", {}):
        figures = subjects.setdefault((subject, currency), [Decimal(0)] * 8)
        amount = _exact(amount)
        figures[5] += amount if (category == "asset") == (direction == "D") else -amount
        figures[6 if direction == "D" else 7] += amount
    outcome = CheckOutcome("subject_totals", checked_rows=len(subjects))
    for (subject, currency), figures in sorted(subjects.items()):
        closing, debit, credit, accounts, previous, moved, entry_debit, entry_credit = figures
        closing, subject_total = _amount(closing), _amount(previous) + _amount(moved)
        problems = []
        if closing != subject_total:
            problems.append(f"accounts {closing} != subject {subject_total}")
        if _amount(debit) != _amount(entry_debit) or _amount(credit) != _amount(entry_credit):
            problems.append(
                f"accounts' turnover Dr {_amount(debit)} Cr {_amount(credit)} != entries' "
                f"Dr {_amount(entry_debit)} Cr {_amount(entry_credit)}"
            )
        if problems:
            outcome.failures += 1
            outcome.details.append(
                {
                    "subject_code": subject,
                    "currency": currency,
                    "accounts": int(accounts),
                    "accounts_closing": _money(closing),
                    "subject_closing": _money(subject_total),
                    "difference": _money(closing - subject_total),
                    "problem": "; ".join(problems),
                }
            )
    outcome.summary = (
        f"{outcome.failures} of {len(subjects)} subjects differ from their accounts"
        if outcome.failures
        else f"{len(subjects)} subjects agree with their accounts"
    )
    return outcome


# In the order they are stored. Each reads the sweep; a failing one queries its details.
CHECKS: list[Callable[[_Day, _Sweep], CheckOutcome]] = [
    _check_account_balance,
    _check_entry_chain,
    _check_last_entry,
    _check_debits_credits,
    _check_identity,
    _check_subject_totals,
    _check_live_balance,
]
CHECK_NAMES = [
    "account_balance",
    "entry_chain",
    "last_entry",
    "debits_credits",
    "identity",
    "subject_totals",
    "live_balance",
]


def checks_run(*, entity: Entity, accounting_date: date, run: EodRun | None = None) -> list[CheckResult]:
    """Run every check of ``CHECKS`` on the day's stored balance sheet and its
    entries and store one ``CheckResult`` each, replacing the day's earlier
    results. Needs the day's balance sheet (``balance_sheet_build``)."""
    with _day_tables(), transaction.atomic():
        _tune_session()
        d = _day_of(entity, accounting_date)
        _day_build(d)
        _lines_build(d)
        sweep = _Sweep.of(_sweep(d))
        outcomes = [check(d, sweep) for check in CHECKS]
        CheckResult.objects.filter(entity=entity, accounting_date=accounting_date).delete()
        return CheckResult.objects.bulk_create(
            [
                CheckResult(
                    entity=entity,
                    accounting_date=accounting_date,
                    run=run,
                    check_name=o.name,
                    passed=o.passed,
                    checked_rows=o.checked_rows,
                    details=o.details[:DETAILS_CAP],
                    summary=o.summary[:255],
                )
                for o in outcomes
            ]
        )


# ------------------------------------------------------------- vouchers ----


def vouchers_build(*, entity: Entity, accounting_date: date) -> int:
    """Summary vouchers (会计凭证) of the day, replacing any earlier build: one
    per subject, direction, business type and currency, with the amount,
    the number of entries and the first and last entry serial numbers it
    covers. Numbered V<yyyymmdd>-0001 ... by currency, business type,
    debit before credit, subject, so a re-run numbers them the same.

    The grouping is done in SQL (eod_lines); what comes back is one row per
    voucher (bounded by the chart, not by the entries)."""
    with _day_tables(), transaction.atomic():
        _tune_session()
        d = _day_of(entity, accounting_date)
        _lines_build(d)
        lines = _fetch(
            f"""
            SELECT subject_code, direction, business_type, currency, SUM(amount), SUM(entry_count),
                   MIN(first_serial), MAX(last_serial)
              FROM {_temp(_LINES)}
             GROUP BY subject_code, direction, business_type, currency
             ORDER BY currency, business_type, direction DESC, subject_code""",
            {},
        )
        Voucher.objects.filter(entity=entity, accounting_date=accounting_date).delete()
        Voucher.objects.bulk_create(
            [
                Voucher(
                    entity=entity,
                    accounting_date=accounting_date,
                    voucher_no=f"V{accounting_date:%Y%m%d}-{n:04d}",
                    subject_code=subject,
                    direction=direction,
                    business_type=business_type,
                    currency=currency,
                    amount=_amount(amount),
                    entry_count=int(count),
                    first_entry_serial=first,
                    last_entry_serial=last,
                )
                for n, (subject, direction, business_type, currency, amount, count, first, last) in enumerate(lines, 1)
            ]
        )
    return len(lines)


# ---------------------------------------------------- scheduling, backfill ----


def eod_run_due(*, actor: str = "system:eod", now: datetime | None = None, max_days: int = 31) -> list[EodRun]:
    """The beat job. First the day cut (日切) of every entity whose cut time
    has passed, on time whatever the state of earlier days (catching up at
    most ``max_days`` if the beat was down). Then the end of day of every
    cut day not yet closed, oldest first, per entity, stopping at the first
    that does not finish; a step that failed ``AUTO_RETRIES`` times waits
    for a person (``manage.py eod --retry-from``). Safe to run twice."""
    now = now or timezone.now()
    for _ in range(max_days):
        due = cuts_due(now=now)
        if not due:
            break
        for entity, day in due:
            day_cut(entity=entity, day=day, now=now)
    runs = []
    for entity in Entity.objects.order_by("code"):
        pending = AccountingDay.objects.filter(entity=entity, status=DayStatus.CLOSING).order_by("date")
        for day in pending.values_list("date", flat=True):
            if _needs_a_person(entity, day):
                logger.warning(
                    "end of day %s %s failed %s times; waiting for a retry by staff", entity.code, day, AUTO_RETRIES
                )
                break
            try:
                run = eod_run(entity=entity, accounting_date=day, actor=actor)
            except (EodInProgress, LedgerValidationError) as exc:
                logger.warning("end of day %s %s not run: %s", entity.code, day, exc)
                break
            runs.append(run)
            if run.status != RunStatus.DONE:
                break
    return runs


def _needs_a_person(entity: Entity, day: date) -> bool:
    return EodStep.objects.filter(
        run__entity=entity,
        run__accounting_date=day,
        run__status=RunStatus.FAILED,
        status=RunStatus.FAILED,
        attempts__gte=AUTO_RETRIES,
    ).exists()


def eod_days_to_catch_up(*, entity: Entity, until: date | None = None) -> list[date]:
    """The days whose end of day is missing, oldest first: from the day
    after the last finished run (or the entity's first day with entries)
    through ``until`` (default: the day before the open day). The open day
    itself is left to its cut."""
    open_date = calendar_for(entity=entity).open_date
    until = min(until or open_date - timedelta(days=1), open_date - timedelta(days=1))
    last_done = EodRun.objects.filter(entity=entity, status=RunStatus.DONE).aggregate(d=Max("accounting_date"))["d"]
    if last_done is not None:
        start = last_done + timedelta(days=1)
    else:
        start = (
            Entry.objects.filter(account__entity=entity)
            .order_by("accounting_date")
            .values_list("accounting_date", flat=True)
            .first()
        )
        if start is None:
            return []
    return [start + timedelta(days=n) for n in range((until - start).days + 1)]
