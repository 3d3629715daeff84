"""Run the end of day from the terminal: a date range (backfill), a retry
from a step, what is due now, or every missing day of the history.

    manage.py eod --entity MAIN --from 2026-11-01 --to 2026-11-24
    manage.py eod --entity MAIN --from 2026-11-23 --retry-from checks
    manage.py eod --due
    manage.py eod --catch-up            # every entity, every day up to the open one

Days run in order and the command stops at the first that does not finish
(a later day would be refused anyway). Days already done are skipped unless
--rerun or --retry-from is given.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from accounts.kernel.errors import LedgerError
from accounts.models import Entity
from reports.eod.models import EOD_STEPS, EodRun, RunStatus
from reports.eod.services import eod_days_to_catch_up, eod_run, eod_run_due


class Progress:
    """A one-line progress bar on a terminal; one line per item otherwise
    (logs, CI, tests)."""

    def __init__(self, out, total: int, width: int = 30):
        self.out, self.total, self.width, self.done = out, total, width, 0
        self.tty = getattr(out, "isatty", lambda: False)()
        self.started = time.monotonic()
        self.line_open = False  # the bar is drawn and the cursor is still on its line

    def step(self, label: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        if self.tty:
            filled = self.width * self.done // max(self.total, 1)
            bar = "#" * filled + "-" * (self.width - filled)
            eta = elapsed / self.done * (self.total - self.done)
            self.out.write(f"\r[{bar}] {self.done}/{self.total} {label:<40} {elapsed:6.1f}s eta {eta:5.0f}s", ending="")
            self.out.flush()
            self.line_open = True
            if self.done == self.total:
                self.close()
        else:
            self.out.write(f"[{self.done}/{self.total}] {label} ({elapsed:.1f}s)")

    def close(self) -> None:
        if self.line_open:
            self.out.write("")
            self.line_open = False


class Command(BaseCommand):
    help = "Run the end of day (日终) for a date range, retry a step, or run what is due."

    def add_arguments(self, parser):
        parser.add_argument(
            "--entity",
            action="append",
            dest="entities",
            metavar="CODE",
            help="Entity code (repeatable; default: every entity).",
        )
        parser.add_argument("--from", dest="date_from", type=date.fromisoformat, metavar="YYYY-MM-DD")
        parser.add_argument(
            "--to", dest="date_to", type=date.fromisoformat, metavar="YYYY-MM-DD", help="Last day (default: --from)."
        )
        parser.add_argument(
            "--retry-from",
            choices=EOD_STEPS,
            metavar="STEP",
            help=f"Start each day's run at this step ({', '.join(EOD_STEPS)}).",
        )
        parser.add_argument("--rerun", action="store_true", help="Recompute days already done.")
        parser.add_argument("--due", action="store_true", help="Cut the days whose cut time has passed and close them.")
        parser.add_argument(
            "--catch-up",
            action="store_true",
            help="Every day without a finished end of day, up to the day before the open day.",
        )
        parser.add_argument("--actor", default=None, help="Recorded as who ran it (default: command:<user>).")

    def handle(self, *args, entities, date_from, date_to, retry_from, rerun, due, catch_up, actor, **options):
        actor = actor or f"command:{_user()}"
        if not (date_from or due or catch_up):
            raise CommandError("Give --from [--to], --due or --catch-up.")
        selected = self.entities(entities)
        failed = []
        if catch_up:
            plan = [(e, d) for e in selected for d in eod_days_to_catch_up(entity=e)]
            failed += self.run_days(plan, actor=actor, retry_from=None, rerun=False)
        if date_from:
            date_to = date_to or date_from
            if date_to < date_from:
                raise CommandError("--to is before --from.")
            days = [date_from + timedelta(days=n) for n in range((date_to - date_from).days + 1)]
            failed += self.run_days(
                [(e, d) for e in selected for d in days], actor=actor, retry_from=retry_from, rerun=rerun
            )
        if due:
            for run in eod_run_due(actor=actor):
                self.report(run)
                if run.status != RunStatus.DONE:
                    failed.append(f"{run.entity.code} {run.accounting_date}")
        if failed:
            raise CommandError(f"End of day not finished: {', '.join(failed)}.")

    def entities(self, codes: list[str] | None) -> list[Entity]:
        if not codes:
            return list(Entity.objects.order_by("code"))
        found = {e.code: e for e in Entity.objects.filter(code__in=codes)}
        unknown = [c for c in codes if c not in found]
        if unknown:
            raise CommandError(f"Unknown entity {', '.join(unknown)}.")
        return [found[c] for c in codes]

    def run_days(self, plan, *, actor: str, retry_from: str | None, rerun: bool) -> list[str]:
        if not plan:
            self.stdout.write("Nothing to run.")
            return []
        done = set(EodRun.objects.filter(status=RunStatus.DONE).values_list("entity_id", "accounting_date"))
        progress = Progress(self.stdout, len(plan))
        stopped: set[int] = set()
        failed = []
        for entity, day in plan:
            label = f"{entity.code} {day}"
            if entity.pk in stopped:
                progress.step(f"{label} not run (an earlier day did not finish)")
                continue
            if (entity.pk, day) in done and not (rerun or retry_from):
                progress.step(f"{label} already done")
                continue
            try:
                run = eod_run(entity=entity, accounting_date=day, actor=actor, from_step=retry_from)
            except LedgerError as exc:
                progress.step(f"{label} refused")
                progress.close()
                self.stderr.write(f"{label}: {exc.message}")
                failed.append(label)
                stopped.add(entity.pk)
                continue
            progress.step(f"{label} {run.status}")
            if run.status != RunStatus.DONE:
                progress.close()
                self.report(run)
                failed.append(label)
                stopped.add(entity.pk)
        progress.close()
        return failed

    def report(self, run: EodRun) -> None:
        style = self.style.SUCCESS if run.status == RunStatus.DONE else self.style.ERROR
        self.stdout.write(style(f"{run.entity.code} {run.accounting_date}: {run.status}"))
        for step in run.steps.order_by("position"):
            self.stdout.write(
                f"  {step.position} {step.name:<14} {step.status:<8} {step.rows:>10} rows  {step.message}"
            )


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"
