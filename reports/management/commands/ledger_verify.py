"""Verify the entries' hash chains and the close certificates (日结单) of an
entity over a range of days, and name the first entry or day that does not
match (reports.certificates.verify).

    manage.py ledger_verify --entity MAIN --from 2026-11-01 --to 2026-11-30

Exit status 0 when everything matches, 1 on a mismatch (the first is named,
then up to 99 more are listed), so a cron job or a CI step can alert on it.
"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Entity
from reports.certificates.verify import ledger_verify


class Command(BaseCommand):
    help = "Recompute the entries' hash chains and the close certificates of a date range; name the first mismatch."

    def add_arguments(self, parser):
        parser.add_argument("--entity", required=True, metavar="CODE")
        parser.add_argument("--from", dest="date_from", required=True, type=date.fromisoformat, metavar="YYYY-MM-DD")
        parser.add_argument(
            "--to", dest="date_to", type=date.fromisoformat, metavar="YYYY-MM-DD", help="Last day (default: --from)."
        )

    def handle(self, *args, entity: str, date_from: date, date_to: date | None, **options):
        date_to = date_to or date_from
        if date_to < date_from:
            raise CommandError("--to is before --from")
        found = Entity.objects.filter(code=entity).first()
        if found is None:
            raise CommandError(f"No entity {entity!r}.")
        result = ledger_verify(entity=found, date_from=date_from, date_to=date_to)
        self.stdout.write(result.summary())
        if result.uncertified:
            days = ", ".join(str(d) for d in result.uncertified[:10])
            self.stdout.write(
                f"closed days without a certificate: {days}{' ...' if len(result.uncertified) > 10 else ''}"
            )
        if result.ok:
            return
        self.stdout.write(f"FIRST MISMATCH: {result.first}")
        for mismatch in result.mismatches[1:]:
            self.stdout.write(f"  also: {mismatch}")
        if result.found > len(result.mismatches):
            self.stdout.write(f"  ... and {result.found - len(result.mismatches)} more")
        raise CommandError(f"verification failed: {result.found} mismatch(es)", returncode=1)
