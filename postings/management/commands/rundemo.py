"""The newcomer's one command: migrate, seed the demo once, make an admin
login, and serve the staff pages and the admin on http://127.0.0.1:8000/."""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from accounts.kernel.errors import LedgerError
from accounts.models import Account, PostingMode
from postings.models import Posting
from postings.services.buffers import posting_mode_set

from .seed_demo import demo_member_count

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"


def demo_console_quiet() -> None:
    """Tasks run in-process in the demo (no broker): Celery would print a
    "Task ... succeeded" line for each, burying the server's own lines.
    A failure still shows: it is raised to the request or command that ran
    the task, which logs it with its traceback. (A refused page's traceback
    is dropped by settings.LOGGING for every process: config/log_filters.py.)"""
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    # An in-process task still takes a producer from a pool, which warns once
    # that the (absent) broker has no host name: noise where there is no broker.
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)


class Command(BaseCommand):
    help = "Migrate, seed the demo ledger if it has none, create admin/admin and run the development server."

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000", help="Where to serve (default 127.0.0.1:8000).")
        parser.add_argument("--no-server", action="store_true", help="Prepare everything, but do not serve.")

    def handle(self, *args, addrport: str, no_server: bool, verbosity: int, **options):
        # The demo is a development server: tracebacks on error pages. DEBUG
        # is read per request, so turning it on here covers the server below;
        # DEBUG=0 in the environment keeps it off.
        if os.environ.get("DEBUG") is None:
            settings.DEBUG = True
        demo_console_quiet()
        db = connection.settings_dict
        kind = "embedded PostgreSQL" if settings.EMBEDDED else "PostgreSQL"
        self.stdout.write(
            self.style.MIGRATE_HEADING(f"Database: {kind} {db['NAME']!r} on {db.get('HOST') or 'localhost'}")
        )
        call_command("migrate", interactive=False, verbosity=min(verbosity, 1), stdout=self.stdout._out)

        members, postings = demo_member_count(), Posting.objects.count()
        if members:
            self.stdout.write(f"Demo data already there ({members} demo members, {postings} postings); not seeding.")
        elif postings:
            self.stdout.write(f"The ledger has {postings} postings that are not demo data; not seeding.")
        else:
            self.stdout.write(self.style.MIGRATE_HEADING("Seeding the demo ledger (a month of activity) ..."))
            call_command("seed_demo", verbosity=verbosity, stdout=self.stdout._out)

        call_command("seed_withdrawal_desk", verbosity=verbosity, stdout=self.stdout._out)

        # The demo's history is back-dated: close every past day (balance
        # sheets, checks, vouchers for the report pages) and whatever cut is
        # due by now. Today stays open. Days already closed are skipped.
        self.stdout.write(self.style.MIGRATE_HEADING("End of day for the days of the history ..."))
        try:
            call_command(
                "eod", catch_up=True, due=True, actor="rundemo", stdout=self.stdout._out, stderr=self.stderr._out
            )
        except CommandError as exc:
            self.stderr.write(f"End of day did not finish: {exc} (see the end-of-day page).")

        self.make_fee_income_hot()
        try:
            call_command("seed_recon_demo", stdout=self.stdout._out)
        except LedgerError as exc:
            self.stderr.write(f"Demo channel reconciliation did not finish: {exc}")

        User = get_user_model()
        if User.objects.filter(username=ADMIN_USERNAME).exists():
            login = f"user {ADMIN_USERNAME!r} already exists; its password was left as it was"
        else:
            User.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", ADMIN_PASSWORD)
            login = f"username {ADMIN_USERNAME}, password {ADMIN_PASSWORD}"
        host = addrport if ":" in addrport else f"127.0.0.1:{addrport}"
        self.stdout.write(
            self.style.SUCCESS(
                f"Staff pages: http://{host}/withdrawals/  Admin: http://{host}/admin/  "
                f"({login}; demo staff: password = user name)"
            )
        )

        if no_server:
            return
        # No autoreloader: it would re-run this whole command in a child process.
        # --insecure serves the admin's static files even when DEBUG is off.
        call_command("runserver", addrport, use_reloader=False, insecure_serving=True)

    def make_fee_income_hot(self) -> None:
        """MAIN's fee income account is credited by every withdrawal fee: the
        demo runs it buffered (a hot account), so the fees of what staff pay
        in the demo wait as pending entries on Reports > Hot accounts. With
        no Celery beat in the demo, they are applied by "Flush now" or the
        end of day."""
        fee_income = Account.objects.filter(entity__code="MAIN", account_type__code="FEE_INCOME").first()
        if fee_income is not None and not fee_income.is_buffered:
            posting_mode_set(mode=PostingMode.BUFFERED, account=fee_income, actor="rundemo")
            self.stdout.write(f"Fee income {fee_income.account_no} is now a buffered (hot) account.")
