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
the day's entries. Only the accounts with entries that day get a stored
row; the others are carried as of the day when the sheet is read
(``BalanceSheetRow``), and the day's totals are the previous day's plus
what the movers changed (``reports.eod.balance_sheet`` has the design). So
the night's cost follows the day's entries and movers, never the history
and, but for one scan of the accounts' balances (the live_balance check),
not the number of accounts. Nothing of a day is
loaded into Python: the checks fetch at most ``DETAILS_CAP`` failing rows
(with a count of all), and vouchers are aggregated in SQL.

One pass per question. The day's entries are read twice in all: once
sorted per account (the sheet's turnover, and the first and last entries
and the links of each account's chain, in the temporary table eod_day),
once grouped per subject, direction, business type and currency (the
vouchers, and the entries' side of the per-currency and per-subject checks:
eod_lines). The sheet is inserted from eod_day; the checks read the stored
sheet back once, joined with eod_day, and count every check's failures in
that pass; a failing check then queries its own details. See
``reports.eod.day`` for the reasoning, its ``_day_sql`` for what marks an
account's chain for a closer look.

Where the code is: this module runs the steps (lock, order, resume,
retries, the beat, the catch-up); ``daycut`` holds the calendar side (the
order of days, closing empty days, the buffers), ``day`` the day's
temporary tables, and ``balance_sheet`` and ``checks`` one step each. The
vouchers step is ``reports.vouchers.build``: vouchers have a lifecycle of
their own (exported ones are never rebuilt, they are reversed in red ink),
and it reads the day's entries once more, grouped by voucher, subject and
the auxiliary dimensions.

Cost, measured with bench/eod.py (1,000,000 accounts, 2,000,000 entries,
2 cores, PostgreSQL 15): 5.8 - 8.1 times a plain aggregate of the day
(11 - 18 s, depending on the machine's load), against 12 - 14 times before;
the worker at 80 MB. The lead's target is 4x; bench/README.md lists where
the time goes and what is left. Before the sheet stored
only the day's movers its cost grew with the accounts: at a fixed day of
200,000 entries and 48,000 movers, 100,000 -> 1,000,000 accounts took the
run from 3.6 to 27.7 s; since, 2.5 to 3.6 s (bench/README.md, "End of day":
bench/eod.py --active and a list of --accounts). The price is paid where most
accounts move: at the full size above (80 % movers) the run is 10.6 times the
aggregate against 8.2 for the dense sheet on the same loaded machine, the
per-mover index probes costing more than the hash joins they replace.

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
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from accounts.kernel.errors import LedgerError, LedgerValidationError
from accounts.kernel.events import event_record
from accounts.kernel.tasks import enqueue_on_commit
from accounts.models import Entity
from postings.credit.services import credit_day_end
from postings.models import AccountingDay, DayStatus, Entry
from postings.services.calendar import calendar_for, cuts_due, day_close, day_cut

from ..vouchers.build import vouchers_build
from .balance_sheet import balance_sheet_build
from .checks import checks_run
from .day import _day_tables
from .daycut import flush_buffers, refuse_out_of_order
from .exceptions import EodInProgress
from .models import EOD_STEPS, EodRun, EodStep, RunStatus

logger = logging.getLogger(__name__)


# The beat retries a failed step this many times, then waits for a person.
AUTO_RETRIES = getattr(settings, "EOD_AUTO_RETRIES", 3)
_LOCK_NAMESPACE = 0x454F44  # "EOD"


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
        refuse_out_of_order(entity=entity, day=accounting_date)
        run, start = _run_begin(entity=entity, day=accounting_date, actor=actor, from_step=from_step)
        with _day_tables():  # the steps share what they derive from the day's entries
            for position in range(start, len(EOD_STEPS)):
                if not _step_execute(run, position):
                    return run
        with transaction.atomic():
            run.status, run.ended_at = RunStatus.DONE, timezone.now()
            run.save(update_fields=["status", "ended_at"])
            _finished_event(run)
            # The closed day's certificate (日结单), drafted by a worker once
            # this commits: it reads the reconciliations too, which build on
            # the end of day, not the other way round (reports.certificates).
            enqueue_on_commit("reports.tasks.certificate_draft", entity.code, accounting_date.isoformat(), actor=actor)
    return run


def _finished_event(run: EodRun) -> None:
    """eod.finished, in the transaction that marks the run done, with the
    day's check results (docs/events/eod.finished.v1.json)."""
    checks = run.checks.order_by("check_name").values("check_name", "passed", "checked_rows", "summary")
    event_record(
        "eod.finished",
        aggregate_type="eod_run",
        aggregate_id=run.pk,
        entity_id=run.entity_id,
        payload={
            "run_id": run.pk,
            "entity": run.entity.code,
            "accounting_date": run.accounting_date,
            "ended_at": run.ended_at,
            "triggered_by": run.triggered_by,
            "checks": [
                {"name": c["check_name"], "passed": c["passed"], "rows": c["checked_rows"], "summary": c["summary"]}
                for c in checks
            ],
            "all_passed": all(c["passed"] for c in checks),
        },
    )


@contextmanager
def _entity_lock(entity: Entity) -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, entity.pk])
        if not cursor.fetchone()[0]:
            raise EodInProgress(f"The end of day of {entity.code} is already running.", entity=entity.code)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, entity.pk])


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
    result = vouchers_build(entity=run.entity, accounting_date=run.accounting_date)
    return result.vouchers, result.message


def _step_credit_accrual(run: EodRun) -> tuple[int, str]:
    # Idempotent per line, day and kind: a re-run books nothing twice.
    return credit_day_end(entity=run.entity, day=run.accounting_date, actor=f"eod:{run.triggered_by}"[:150])


def _step_advance_day(run: EodRun) -> tuple[int, str]:
    day_close(entity=run.entity, day=run.accounting_date)
    return 1, f"{run.accounting_date} closed"


STEPS: dict[str, Callable[[EodRun], tuple[int, str]]] = {
    "day_cut": _step_day_cut,
    "flush_buffers": _step_flush_buffers,
    "balance_sheet": _step_balance_sheet,
    "checks": _step_checks,
    "vouchers": _step_vouchers,
    "credit_accrual": _step_credit_accrual,
    "advance_day": _step_advance_day,
}
assert list(STEPS) == EOD_STEPS, "every step of EOD_STEPS needs its function, in order"


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
