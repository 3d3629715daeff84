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
the day's entries: one ``INSERT ... SELECT`` that aggregates the day's
entries per account and full-joins the previous sheet's closings. Accounts
without entries are carried forward by the same statement, so every account
with a balance has a row every day, and the cost follows the day's entries
and the number of accounts, never the history. Nothing of a day is loaded
into Python: the checks fetch at most ``DETAILS_CAP`` failing rows (with a
count of all), and vouchers are aggregated in SQL. The checks read the
day's entries in two passes (one sorted, for the chain and the last entry
of each account; one grouped, per currency and per subject) and the sheet.

Cost, measured with bench/eod.py (1,000,000 accounts, 2,000,000 entries,
2 cores): about 55 s against 4 s for a plain aggregate of the day, the
worker under 100 MB. Most of it is writing a million indexed rows and
sorting the day for the entry chain, which the 3x target does not allow for.

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

SQLite (the embedded demo) runs the same statements except the balance
sheet's (no FULL JOIN before SQLite 3.39); it stores decimals as floating
point, so sums are rounded to the stored places and comparisons allow half
a unit of the last place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from accounts.models import Account, Entity
from postings.calendar import calendar_for, cuts_due, day_close, day_cut
from postings.buffers import buffers_flush
from postings.exceptions import LedgerError, LedgerValidationError
from postings.models import AccountingCalendar, AccountingDay, DayStatus, Entry

from .models import EOD_STEPS, CheckResult, DailyBalance, EodRun, EodStep, RunStatus, Voucher

logger = logging.getLogger(__name__)

# Failing rows kept in a CheckResult's details; all of them are counted.
DETAILS_CAP = 100
# The beat retries a failed step this many times, then waits for a person.
AUTO_RETRIES = getattr(settings, "EOD_AUTO_RETRIES", 3)
# Hash aggregates of a million accounts stay in memory with this much per sort/hash.
WORK_MEM = getattr(settings, "EOD_WORK_MEM", "128MB")
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
            status=RunStatus.RUNNING, started_at=started, ended_at=None, rows=0, message="",
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


def _tune_session() -> None:
    """Inside the step's transaction only (SET LOCAL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [WORK_MEM])


def _differs(a: str, b: str) -> str:
    """SQL: a and b are different amounts (a NULL differs from anything).
    PostgreSQL compares numerics exactly; SQLite keeps floats, so it allows
    half a unit of the fourth place."""
    if connection.vendor == "postgresql":
        return f"({a}) IS DISTINCT FROM ({b})"
    return f"COALESCE(ABS(({a}) - ({b})) > 0.00005, 1)"


def _money(value) -> str | None:
    if value is None:
        return None
    return str(Decimal(str(value)).quantize(_Q4))


def _amount(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(_Q4)


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
    return EodRun.objects.filter(
        entity=entity, accounting_date__lt=accounting_date, status=RunStatus.DONE
    ).aggregate(d=Max("accounting_date"))["d"]


# -------------------------------------------------------- balance sheet ----

# PostgreSQL: the day's entries aggregated per account (the same work as a
# plain aggregate of the day), full-joined with the previous sheet's closings.
_BALANCE_SHEET_SQL = """
WITH day AS (
    SELECT e.account_id,
           SUM(CASE WHEN e.direction = 'D' THEN e.amount ELSE 0 END) AS debit,
           SUM(CASE WHEN e.direction = 'C' THEN e.amount ELSE 0 END) AS credit,
           COUNT(*) AS entry_count
    """ + _DAY_ENTRIES + """
     GROUP BY e.account_id
), previous AS (
    SELECT p.account_id, p.closing
      FROM reports_dailybalance p
     WHERE p.entity_id = %(entity)s AND p.accounting_date = %(prev)s
)
INSERT INTO reports_dailybalance
       (entity_id, accounting_date, account_id, account_type_code, subject_code, category, currency,
        opening, debit, credit, closing, entry_count)
SELECT a.entity_id, %(day)s, m.account_id, t.code, t.subject_code, a.category, a.currency,
       m.opening, m.debit, m.credit,
       m.opening + """ + _SIGNED.format(cat="a.category", d="m.debit", c="m.credit") + """,
       m.entry_count
  FROM (SELECT COALESCE(d.account_id, p.account_id) AS account_id, COALESCE(p.closing, 0) AS opening,
               COALESCE(d.debit, 0) AS debit, COALESCE(d.credit, 0) AS credit,
               COALESCE(d.entry_count, 0) AS entry_count
          FROM day d FULL JOIN previous p ON p.account_id = d.account_id
         WHERE d.account_id IS NOT NULL OR p.closing <> 0) m
  JOIN accounts_account a ON a.id = m.account_id
  JOIN accounts_accounttype t ON t.id = a.account_type_id
"""

# SQLite (the demo; FULL JOIN only since 3.39): both sides in one GROUP BY.
# It sums decimals as floats, so amounts are rounded to the stored places,
# and a closing carried forward day after day does not drift.
_BALANCE_SHEET_SQL_SQLITE = """
INSERT INTO reports_dailybalance
       (entity_id, accounting_date, account_id, account_type_code, subject_code, category, currency,
        opening, debit, credit, closing, entry_count)
SELECT a.entity_id, %(day)s, m.account_id, t.code, t.subject_code, a.category, a.currency,
       ROUND(m.opening, 4), ROUND(m.debit, 4), ROUND(m.credit, 4),
       ROUND(m.opening + """ + _SIGNED.format(cat="a.category", d="m.debit", c="m.credit") + """, 4),
       m.entry_count
  FROM (SELECT u.account_id, SUM(u.opening) AS opening, SUM(u.debit) AS debit, SUM(u.credit) AS credit,
               SUM(u.entry_count) AS entry_count
          FROM (SELECT p.account_id, p.closing AS opening, 0 AS debit, 0 AS credit, 0 AS entry_count
                  FROM reports_dailybalance p
                 WHERE p.entity_id = %(entity)s AND p.accounting_date = %(prev)s
                UNION ALL
                SELECT e.account_id, 0,
                       CASE WHEN e.direction = 'D' THEN e.amount ELSE 0 END,
                       CASE WHEN e.direction = 'C' THEN e.amount ELSE 0 END,
                       1
                """ + _DAY_ENTRIES + """
               ) u
         GROUP BY u.account_id) m
  JOIN accounts_account a ON a.id = m.account_id
  JOIN accounts_accounttype t ON t.id = a.account_type_id
 WHERE m.entry_count > 0 OR ROUND(m.opening, 4) <> 0
"""


def balance_sheet_build(*, entity: Entity, accounting_date: date) -> int:
    """Build the day's balance sheet (余额表), replacing any earlier build.

    Per account with entries that day or a non-zero opening: opening (the
    previous run day's closing, 0 if none), debit and credit turnover, entry
    count, closing = opening + turnover on the account's normal side. The
    account's type, subject and category are copied as they are today.
    Returns the number of rows."""
    prev = previous_run_date(entity=entity, accounting_date=accounting_date)
    params = {"entity": entity.pk, "day": accounting_date, "prev": prev}
    with transaction.atomic():
        _tune_session()
        _execute("DELETE FROM reports_dailybalance WHERE entity_id = %(entity)s AND accounting_date = %(day)s",
                 params)
        if connection.vendor == "postgresql":
            # The planner cannot know how many accounts survive the join;
            # guessing few, it would probe the accounts index a million times.
            _execute("SET LOCAL enable_nestloop = off", {})
            rows = _execute(_BALANCE_SHEET_SQL, params)
            _execute("SET LOCAL enable_nestloop TO DEFAULT", {})
        else:
            rows = _execute(_BALANCE_SHEET_SQL_SQLITE, params)
        if connection.vendor == "postgresql":
            # Fresh statistics (ANALYZE counts this transaction's own rows):
            # else the checks and the report pages plan a day's million rows
            # as one and nest loops over them.
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


@dataclass(frozen=True)
class _Day:
    entity: Entity
    day: date
    prev: date | None
    sheet_rows: int = 0  # accounts on the day's sheet
    day_accounts: int = 0  # of which with entries that day
    day_entries: int = 0

    @property
    def params(self) -> dict:
        return {"entity": self.entity.pk, "day": self.day, "prev": self.prev, "cap": DETAILS_CAP}


def _account_numbers(ids) -> dict[int, str]:
    return dict(Account.objects.filter(id__in=set(ids)).values_list("id", "account_no"))


def _check_account_balance(d: _Day) -> CheckOutcome:
    """Per account on the sheet: opening = the previous day's closing (0 if
    none) and closing = opening + turnover on the normal side; no account
    with a balance the day before is missing. (That the closing is the last
    entry's balance after is checked in the same pass as the entry chain.)

    One numeric sum per account (opening - previous closing), so the hash
    table of a million accounts stays small."""
    arithmetic = _differs("b.closing", "b.opening + " + _SIGNED.format(cat="b.category", d="b.debit", c="b.credit"))
    rows = _fetch(f"""
        SELECT g.account_id, g.in_sheet, COUNT(*) OVER () AS total
          FROM (SELECT u.account_id, MAX(u.in_sheet) AS in_sheet, MAX(u.bad_row) AS bad_row, SUM(u.gap) AS gap
                  FROM (SELECT b.account_id, 1 AS in_sheet,
                               CASE WHEN {arithmetic} THEN 1 ELSE 0 END AS bad_row, b.opening AS gap
                          FROM reports_dailybalance b
                         WHERE b.entity_id = %(entity)s AND b.accounting_date = %(day)s
                        UNION ALL
                        SELECT p.account_id, 0, 0, -p.closing
                          FROM reports_dailybalance p
                         WHERE p.entity_id = %(entity)s AND p.accounting_date = %(prev)s) u
                 GROUP BY u.account_id) g
         WHERE g.bad_row = 1 OR {_differs("g.gap", "0")}
         ORDER BY g.account_id
         LIMIT %(cap)s""", d.params)
    outcome = CheckOutcome("account_balance", checked_rows=d.sheet_rows, failures=rows[0][-1] if rows else 0)
    ids = [r[0] for r in rows]
    numbers = _account_numbers(ids)
    sheet = {b.account_id: b for b in DailyBalance.objects.filter(accounting_date=d.day, account_id__in=ids)}
    previous = dict(DailyBalance.objects.filter(accounting_date=d.prev, account_id__in=ids).values_list(
        "account_id", "closing")) if d.prev else {}
    for account_id, in_sheet, _ in rows:
        before = _amount(previous.get(account_id))
        item = {"account_no": numbers.get(account_id), "account_id": account_id, "previous_closing": _money(before)}
        b = sheet.get(account_id)
        if b is None:
            item["problem"] = f"missing from the balance sheet (previous closing {before})"
        else:
            moved = b.debit - b.credit if b.category == "asset" else b.credit - b.debit
            problems = []
            if _amount(b.opening) != before:
                problems.append(f"opening {_amount(b.opening)} != previous closing {before}")
            if _amount(b.closing) != _amount(b.opening + moved):
                problems.append(f"closing {_amount(b.closing)} != opening {_amount(b.opening)} "
                                f"{_amount(moved):+} turnover")
            item.update(opening=_money(b.opening), debit=_money(b.debit), credit=_money(b.credit),
                        closing=_money(b.closing), problem="; ".join(problems))
        outcome.details.append(item)
    outcome.summary = (
        f"{outcome.failures} accounts do not follow from the previous closing and the day's turnover"
        if outcome.failures else f"{outcome.checked_rows} accounts: opening + turnover = closing"
    )
    return outcome


def _check_debits_credits(d: _Day) -> CheckOutcome:
    """Per currency: the day's debits equal its credits. On a difference,
    the postings of the day that do not balance are named."""
    totals = _fetch(f"""
        SELECT e.currency,
               SUM(CASE WHEN e.direction = 'D' THEN e.amount ELSE 0 END),
               SUM(CASE WHEN e.direction = 'C' THEN e.amount ELSE 0 END),
               COUNT(*)
        {_DAY_ENTRIES}
         GROUP BY e.currency
         ORDER BY e.currency""", d.params)
    outcome = CheckOutcome("debits_credits", checked_rows=sum(int(r[3]) for r in totals))
    unequal = []
    for currency, debit, credit, _ in totals:
        if _amount(debit) != _amount(credit):
            unequal.append(currency)
            outcome.details.append({"currency": currency, "debit": _money(debit), "credit": _money(credit),
                                    "difference": _money(_amount(debit) - _amount(credit))})
    if not unequal:
        outcome.summary = ", ".join(f"{c} debits = credits = {_money(dr)}" for c, dr, _, _ in totals) or "no entries"
        return outcome
    postings = _fetch(f"""
        SELECT e.posting_id, e.currency,
               SUM(CASE WHEN e.direction = 'D' THEN e.amount ELSE 0 END),
               SUM(CASE WHEN e.direction = 'C' THEN e.amount ELSE 0 END),
               COUNT(*) OVER () AS total
        {_DAY_ENTRIES}
         GROUP BY e.posting_id, e.currency
        HAVING {_differs("SUM(CASE WHEN e.direction = 'D' THEN e.amount ELSE -e.amount END)", "0")}
         ORDER BY e.posting_id
         LIMIT %(cap)s""", d.params)
    entries_of: dict[int, list[int]] = {}
    for posting_id, serial in Entry.objects.filter(posting_id__in=[p[0] for p in postings]).order_by(
        "serial_no"
    ).values_list("posting_id", "serial_no"):
        entries_of.setdefault(posting_id, []).append(serial)
    for posting_id, currency, debit, credit, _ in postings:
        outcome.details.append({"posting": posting_id, "currency": currency, "debit": _money(debit),
                                "credit": _money(credit), "entries": entries_of.get(posting_id, [])})
    outcome.failures = len(unequal) + (postings[0][-1] if postings else 0)
    outcome.summary = "debits != credits in " + ", ".join(unequal) + (
        f"; {postings[0][-1]} unbalanced postings" if postings else "")
    return outcome


def _check_identity(d: _Day) -> CheckOutcome:
    """Per currency, from the day's closings: sum(asset) = sum(liability) + sum(internal)."""
    rows = _fetch("""
        SELECT currency,
               SUM(CASE WHEN category = 'asset' THEN closing ELSE 0 END),
               SUM(CASE WHEN category = 'liability' THEN closing ELSE 0 END),
               SUM(CASE WHEN category = 'internal' THEN closing ELSE 0 END),
               COUNT(*)
          FROM reports_dailybalance
         WHERE entity_id = %(entity)s AND accounting_date = %(day)s
         GROUP BY currency
         ORDER BY currency""", d.params)
    outcome = CheckOutcome("identity", checked_rows=sum(int(r[4]) for r in rows))
    parts = []
    for currency, asset, liability, internal, _ in rows:
        asset, liability, internal = _amount(asset), _amount(liability), _amount(internal)
        difference = asset - liability - internal
        parts.append(f"{currency} {asset} = {liability} + {internal}" if not difference
                     else f"{currency} off by {difference}")
        if difference:
            outcome.failures += 1
            outcome.details.append({"currency": currency, "asset": _money(asset), "liability": _money(liability),
                                    "internal": _money(internal), "difference": _money(difference)})
    outcome.summary = "; ".join(parts) or "no balances"
    return outcome


def _check_subject_totals(d: _Day) -> CheckOutcome:
    """总分核对: per subject and currency, the sum of its accounts' closings
    equals the subject computed on its own, the previous subject closing plus
    the day's subject turnover from the entries; and the accounts' debit and
    credit turnover add up to the subject's."""
    signed = _SIGNED.format(cat="a.category", d="CASE WHEN e.direction = 'D' THEN e.amount ELSE 0 END",
                            c="CASE WHEN e.direction = 'C' THEN e.amount ELSE 0 END")
    rows = _fetch(f"""
        SELECT u.subject_code, u.currency, SUM(u.closing), SUM(u.previous), SUM(u.moved),
               SUM(u.debit), SUM(u.credit), SUM(u.entry_debit), SUM(u.entry_credit), SUM(u.accounts)
          FROM (SELECT subject_code, currency, closing, 0 AS previous, 0 AS moved, debit, credit,
                       0 AS entry_debit, 0 AS entry_credit, 1 AS accounts
                  FROM reports_dailybalance
                 WHERE entity_id = %(entity)s AND accounting_date = %(day)s
                UNION ALL
                SELECT subject_code, currency, 0, closing, 0, 0, 0, 0, 0, 0
                  FROM reports_dailybalance
                 WHERE entity_id = %(entity)s AND accounting_date = %(prev)s
                UNION ALL
                SELECT t.subject_code, e.currency, 0, 0, SUM({signed}), 0, 0,
                       SUM(CASE WHEN e.direction = 'D' THEN e.amount ELSE 0 END),
                       SUM(CASE WHEN e.direction = 'C' THEN e.amount ELSE 0 END), 0
                  FROM postings_entry e
                  JOIN accounts_account a ON a.id = e.account_id
                  JOIN accounts_accounttype t ON t.id = a.account_type_id
                 WHERE e.accounting_date = %(day)s AND a.entity_id = %(entity)s
                 GROUP BY t.subject_code, e.currency) u
         GROUP BY u.subject_code, u.currency
         ORDER BY u.subject_code, u.currency""", d.params)
    outcome = CheckOutcome("subject_totals", checked_rows=len(rows))
    for subject, currency, closing, previous, moved, debit, credit, entry_debit, entry_credit, accounts in rows:
        closing, subject_total = _amount(closing), _amount(previous) + _amount(moved)
        problems = []
        if closing != subject_total:
            problems.append(f"accounts {closing} != subject {subject_total}")
        if _amount(debit) != _amount(entry_debit) or _amount(credit) != _amount(entry_credit):
            problems.append(f"accounts' turnover Dr {_amount(debit)} Cr {_amount(credit)} != entries' "
                            f"Dr {_amount(entry_debit)} Cr {_amount(entry_credit)}")
        if problems:
            outcome.failures += 1
            outcome.details.append({
                "subject_code": subject, "currency": currency, "accounts": int(accounts),
                "accounts_closing": _money(closing), "subject_closing": _money(subject_total),
                "difference": _money(closing - subject_total), "problem": "; ".join(problems),
            })
    outcome.summary = (f"{outcome.failures} of {len(rows)} subjects differ from their accounts" if outcome.failures
                       else f"{len(rows)} subjects agree with their accounts")
    return outcome


def _check_entries(d: _Day) -> list[CheckOutcome]:
    """Two checks from one sorted pass over the day's entries.

    entry_chain: every entry of the day continues its account's previous
    entry (by account_seq, whatever that entry's day): balance before = the
    previous balance after (0 for an account's first entry), and balance
    after = before + the amount on the account's normal side. The previous
    entry is the day's own previous row (LAG) where the sequence is
    unbroken; otherwise (each account's first entry of the day, or a gap)
    it is looked up by the (account, account_seq) index.

    last_entry: each account's closing on the sheet = the balance after of
    its last entry of the day, and its entry count = the day's entries."""
    signed = "CASE WHEN (w.category = 'asset') = (w.direction = 'D') THEN w.amount ELSE -w.amount END"
    # The day's entries are read once, in storage order, and sorted; walking
    # the (account, account_seq) index instead would read all of history.
    materialized = "MATERIALIZED" if connection.vendor == "postgresql" else ""
    rows = _fetch(f"""
    WITH day AS {materialized} (
        SELECT e.serial_no, e.account_id, e.account_seq, a.category, e.direction, e.amount,
               e.balance_before, e.balance_after
        {_DAY_ENTRIES}
    )
    SELECT f.serial_no, f.account_id, f.account_seq, f.category, f.direction, f.amount, f.balance_before,
           f.balance_after, f.prev_after, f.n, f.sheet_account, f.sheet_closing, f.sheet_count,
           f.chain_bad, f.last_bad, f.chain_total, f.last_total
      FROM (SELECT b.*,
                   SUM(b.chain_bad) OVER () AS chain_total, SUM(b.last_bad) OVER () AS last_total,
                   ROW_NUMBER() OVER (PARTITION BY b.chain_bad ORDER BY b.serial_no) AS chain_rank,
                   ROW_NUMBER() OVER (PARTITION BY b.last_bad ORDER BY b.account_id) AS last_rank
              FROM (SELECT w.*, s.account_id AS sheet_account, s.closing AS sheet_closing,
                           s.entry_count AS sheet_count,
                           CASE WHEN {_differs("w.balance_before", "w.prev_after")}
                                  OR {_differs("w.balance_after", "w.balance_before + " + signed)}
                                THEN 1 ELSE 0 END AS chain_bad,
                           CASE WHEN w.is_last = 1
                                 AND (s.account_id IS NULL OR s.entry_count <> w.n
                                      OR {_differs("s.closing", "w.balance_after")})
                                THEN 1 ELSE 0 END AS last_bad
                      FROM (SELECT v.serial_no, v.account_id, v.account_seq, v.category, v.direction, v.amount,
                                   v.balance_before, v.balance_after, v.is_last, v.n,
                                   CASE WHEN v.account_seq = 1 THEN 0
                                        WHEN v.lag_seq = v.account_seq - 1 THEN v.lag_after
                                        ELSE (SELECT p.balance_after FROM postings_entry p
                                               WHERE p.account_id = v.account_id
                                                 AND p.account_seq = v.account_seq - 1)
                                   END AS prev_after
                              FROM (SELECT e.serial_no, e.account_id, e.account_seq, e.category, e.direction,
                                           e.amount, e.balance_before, e.balance_after,
                                           LAG(e.account_seq) OVER win AS lag_seq,
                                           LAG(e.balance_after) OVER win AS lag_after,
                                           CASE WHEN LEAD(e.account_seq) OVER win IS NULL THEN 1 ELSE 0 END AS is_last,
                                           COUNT(*) OVER (PARTITION BY e.account_id) AS n
                                      FROM day e
                                    WINDOW win AS (PARTITION BY e.account_id ORDER BY e.account_seq)) v) w
                      LEFT JOIN reports_dailybalance s
                             ON w.is_last = 1 AND s.account_id = w.account_id AND s.accounting_date = %(day)s
                   ) b
             WHERE b.chain_bad = 1 OR b.last_bad = 1) f
     WHERE (f.chain_bad = 1 AND f.chain_rank <= %(cap)s) OR (f.last_bad = 1 AND f.last_rank <= %(cap)s)
     ORDER BY f.serial_no""", d.params)
    checked, accounts = d.day_entries, d.day_accounts
    chain = CheckOutcome("entry_chain", checked_rows=checked, failures=int(rows[0][-2]) if rows else 0)
    last = CheckOutcome("last_entry", checked_rows=accounts, failures=int(rows[0][-1]) if rows else 0)
    numbers = _account_numbers(r[1] for r in rows)
    for (serial, account_id, seq, category, direction, amount, before, after, prev_after, n, sheet_account,
         sheet_closing, sheet_count, chain_bad, last_bad, _, _) in rows:
        if chain_bad:
            problems = []
            if prev_after is None:
                problems.append(f"previous entry (seq {seq - 1}) is missing")
            elif _amount(before) != _amount(prev_after):
                problems.append(f"balance before {_amount(before)} != previous balance after {_amount(prev_after)}")
            moved = _amount(amount) if (category == "asset") == (direction == "D") else -_amount(amount)
            if _amount(after) != _amount(before) + moved:
                problems.append(f"balance after {_amount(after)} != {_amount(before)} {moved:+}")
            chain.details.append({
                "entry": serial, "account_no": numbers.get(account_id), "account_seq": seq,
                "balance_before": _money(before), "balance_after": _money(after),
                "previous_balance_after": _money(prev_after), "problem": "; ".join(problems),
            })
        if last_bad:
            if sheet_account is None:
                problem = f"{n} entries but missing from the balance sheet"
            else:
                problems = []
                if _amount(sheet_closing) != _amount(after):
                    problems.append(f"closing {_amount(sheet_closing)} != balance after {_amount(after)} "
                                    f"of entry {serial}")
                if int(sheet_count) != int(n):
                    problems.append(f"entry count {sheet_count} != {n} entries of the day")
                problem = "; ".join(problems)
            last.details.append({
                "account_no": numbers.get(account_id), "account_id": account_id, "entry": serial,
                "closing": _money(sheet_closing), "last_balance_after": _money(after), "problem": problem,
            })
    last.details.sort(key=lambda item: item["account_id"])
    chain.summary = (f"{chain.failures} entries break their account's chain" if chain.failures
                     else f"{checked} entries chain")
    last.summary = (f"{last.failures} accounts' closings differ from their last entry" if last.failures
                    else f"{accounts} accounts close at their last entry's balance")
    return [chain, last]


def _check_live_balance(d: _Day) -> CheckOutcome:
    """Each account's stored balance = the day's closing + the turnover
    posted after the day: the sheet agrees with the balances the ledger
    holds now. (One statement, so a posting committing meanwhile is seen
    in both or neither.)"""
    signed = "CASE WHEN (x.category = 'asset') = (e.direction = 'D') THEN e.amount ELSE -e.amount END"
    rows = _fetch(f"""
        SELECT g.account_id, COUNT(*) OVER () AS total
          FROM (SELECT u.account_id, SUM(u.gap) AS gap
                  FROM (SELECT acc.id AS account_id, acc.balance AS gap
                          FROM accounts_account acc
                         WHERE acc.entity_id = %(entity)s
                        UNION ALL
                        SELECT b.account_id, -b.closing
                          FROM reports_dailybalance b
                         WHERE b.entity_id = %(entity)s AND b.accounting_date = %(day)s
                        UNION ALL
                        SELECT e.account_id, -({signed})
                          FROM postings_entry e JOIN accounts_account x ON x.id = e.account_id
                         WHERE e.accounting_date > %(day)s AND x.entity_id = %(entity)s) u
                 GROUP BY u.account_id) g
         WHERE {_differs("g.gap", "0")}
         ORDER BY g.account_id
         LIMIT %(cap)s""", d.params)
    outcome = CheckOutcome("live_balance", checked_rows=Account.objects.filter(entity=d.entity).count(),
                           failures=rows[0][-1] if rows else 0)
    ids = [r[0] for r in rows]
    closing = dict(DailyBalance.objects.filter(accounting_date=d.day, account_id__in=ids).values_list(
        "account_id", "closing"))
    later = {}
    for e in Entry.objects.filter(account_id__in=ids, accounting_date__gt=d.day).values(
            "account_id", "account__category", "direction", "amount").iterator():
        moved = e["amount"] if (e["account__category"] == "asset") == (e["direction"] == "D") else -e["amount"]
        later[e["account_id"]] = later.get(e["account_id"], Decimal(0)) + moved
    for account_id, account_no, balance in Account.objects.filter(id__in=ids).order_by("id").values_list(
            "id", "account_no", "balance"):
        c, m = _amount(closing.get(account_id)), _amount(later.get(account_id))
        outcome.details.append({
            "account_no": account_no, "account_id": account_id, "balance": _money(balance), "closing": _money(c),
            "later_turnover": _money(m), "problem": f"balance {_amount(balance)} != closing {c} {m:+} posted since",
        })
    outcome.summary = (f"{outcome.failures} accounts' balances do not follow from the day's closing"
                       if outcome.failures else f"{outcome.checked_rows} balances follow from the day's closing")
    return outcome


def _one(check: Callable[[_Day], CheckOutcome]) -> Callable[[_Day], list[CheckOutcome]]:
    return lambda d: [check(d)]


# Each pass reads what it needs once and yields one or more checks.
CHECKS: list[Callable[[_Day], list[CheckOutcome]]] = [
    _one(_check_account_balance),
    _check_entries,  # entry_chain and last_entry
    _one(_check_debits_credits),
    _one(_check_identity),
    _one(_check_subject_totals),
    _one(_check_live_balance),
]
CHECK_NAMES = ["account_balance", "entry_chain", "last_entry", "debits_credits", "identity", "subject_totals",
               "live_balance"]


def checks_run(*, entity: Entity, accounting_date: date, run: EodRun | None = None) -> list[CheckResult]:
    """Run every check of ``CHECKS`` on the day's balance sheet and entries
    and store one ``CheckResult`` each, replacing the day's earlier results.
    Needs the day's balance sheet (``balance_sheet_build``)."""
    params = {"entity": entity.pk, "day": accounting_date}
    with transaction.atomic():
        _tune_session()
        sheet_rows, day_accounts, day_entries = _fetch("""
            SELECT COUNT(*), SUM(CASE WHEN entry_count > 0 THEN 1 ELSE 0 END), SUM(entry_count)
              FROM reports_dailybalance WHERE entity_id = %(entity)s AND accounting_date = %(day)s""", params)[0]
        d = _Day(entity, accounting_date, previous_run_date(entity=entity, accounting_date=accounting_date),
                 sheet_rows=int(sheet_rows or 0), day_accounts=int(day_accounts or 0),
                 day_entries=int(day_entries or 0))
        outcomes = [outcome for check in CHECKS for outcome in check(d)]
        CheckResult.objects.filter(entity=entity, accounting_date=accounting_date).delete()
        return CheckResult.objects.bulk_create([
            CheckResult(
                entity=entity, accounting_date=accounting_date, run=run, check_name=o.name, passed=o.passed,
                checked_rows=o.checked_rows, details=o.details[:DETAILS_CAP], summary=o.summary[:255],
            )
            for o in outcomes
        ])


# ------------------------------------------------------------- vouchers ----


def vouchers_build(*, entity: Entity, accounting_date: date) -> int:
    """Summary vouchers (会计凭证) of the day, replacing any earlier build: one
    per subject, direction, business type and currency, with the amount,
    the number of entries and the first and last entry serial numbers it
    covers. Numbered V<yyyymmdd>-0001 ... by currency, business type,
    debit before credit, subject, so a re-run numbers them the same.

    The grouping is done in SQL; what comes back is one row per voucher
    (bounded by the chart, not by the entries)."""
    lines = _fetch("""
        SELECT t.subject_code, e.direction, e.business_type, e.currency, SUM(e.amount), COUNT(*),
               MIN(e.serial_no), MAX(e.serial_no)
          FROM postings_entry e
          JOIN accounts_account a ON a.id = e.account_id
          JOIN accounts_accounttype t ON t.id = a.account_type_id
         WHERE e.accounting_date = %(day)s AND a.entity_id = %(entity)s
         GROUP BY t.subject_code, e.direction, e.business_type, e.currency
         ORDER BY e.currency, e.business_type, e.direction DESC, t.subject_code""",
                   {"entity": entity.pk, "day": accounting_date})
    with transaction.atomic():
        Voucher.objects.filter(entity=entity, accounting_date=accounting_date).delete()
        Voucher.objects.bulk_create([
            Voucher(
                entity=entity, accounting_date=accounting_date, voucher_no=f"V{accounting_date:%Y%m%d}-{n:04d}",
                subject_code=subject, direction=direction, business_type=business_type, currency=currency,
                amount=_amount(amount), entry_count=count, first_entry_serial=first, last_entry_serial=last,
            )
            for n, (subject, direction, business_type, currency, amount, count, first, last) in enumerate(lines, 1)
        ])
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
                logger.warning("end of day %s %s failed %s times; waiting for a retry by staff",
                               entity.code, day, AUTO_RETRIES)
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
        run__entity=entity, run__accounting_date=day, run__status=RunStatus.FAILED,
        status=RunStatus.FAILED, attempts__gte=AUTO_RETRIES,
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
        start = Entry.objects.filter(account__entity=entity).order_by("accounting_date").values_list(
            "accounting_date", flat=True).first()
        if start is None:
            return []
    return [start + timedelta(days=n) for n in range((until - start).days + 1)]
