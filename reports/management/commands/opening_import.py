"""Import opening balances (期初建账) from the terminal, for a file too large
for the staff page's upload (layout: docs/opening.md).

    manage.py opening_import FILE --date 2026-12-01 --user finance_lead          # check, then import
    manage.py opening_import FILE --date 2026-12-01 --user finance_lead --check  # check only, write nothing

The same checks as the page, and the same refusal: whole, naming rows and
columns. ``--user`` names the member of staff the import is recorded
under; they need the ``reports.import_opening`` permission, as on the page.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.kernel.errors import LedgerError
from reports.opening.services import opening_import, opening_preview


class Command(BaseCommand):
    help = "Import opening balances (期初建账) from a CSV or XLSX file, refused whole on any problem."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--date", required=True, type=date.fromisoformat, help="accounting date, YYYY-MM-DD")
        parser.add_argument("--user", required=True, help="username the import is recorded under")
        parser.add_argument("--check", action="store_true", help="check the file and write nothing")

    def handle(self, *args, file: Path, date: date, user: str, check: bool, **options):
        try:
            actor = get_user_model().objects.get(username=user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {user!r}.") from None
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from None
        try:
            preview = opening_preview(file_name=file.name, content=content, user=actor)
            for t in preview["totals"]:
                self.stdout.write(
                    f"{t['entity']} {t['currency']}: {t['accounts']} accounts, assets {t['asset']} = liabilities "
                    f"{t['liability']} + internal {t['internal']}; frozen {t['frozen']} in {t['holds']} holds"
                )
            if check:
                self.stdout.write("The file is good; nothing was written (--check).")
                return
            record = opening_import(accounting_date=date, file_name=file.name, content=content, user=actor)
        except LedgerError as exc:
            problems = getattr(exc, "problems", None)
            if problems:
                for problem in problems:
                    self.stderr.write(problem)
                if getattr(exc, "more", 0):
                    self.stderr.write(f"and {exc.more} more")
            raise CommandError(exc.message) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Opening import #{record.pk}: {record.account_count} accounts, {record.hold_count} holds, "
                f"posted on {record.accounting_date:%Y-%m-%d}."
            )
        )
