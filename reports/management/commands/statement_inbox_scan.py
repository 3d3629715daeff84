"""Import the channel statements waiting in the statement folder now (what
the beat job ``reports.tasks.statement_inbox_scan`` does every minute).

    manage.py statement_inbox_scan
    manage.py statement_inbox_scan --settle-seconds 0     # do not wait for fresh files
    manage.py statement_inbox_scan --inbox /srv/statements

Layout and outcomes: docs/channel_recon.md, "Statement folder".
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from reports.channel.inbox import statement_inbox_scan


class Command(BaseCommand):
    help = "Import the channel statements waiting in the statement folder (CHANNEL_STATEMENT_INBOX)."

    def add_arguments(self, parser):
        parser.add_argument("--inbox", help="the folder to scan (default: CHANNEL_STATEMENT_INBOX)")
        parser.add_argument(
            "--settle-seconds",
            type=int,
            help="take files unchanged for this long (default: CHANNEL_STATEMENT_SETTLE_SECONDS)",
        )
        parser.add_argument(
            "--claim-minutes",
            type=int,
            help="take over claims older than this (default: CHANNEL_STATEMENT_CLAIM_MINUTES)",
        )

    def handle(self, *args, inbox=None, settle_seconds=None, claim_minutes=None, **options):
        folder = Path(inbox) if inbox else Path(settings.CHANNEL_STATEMENT_INBOX)
        if not folder.is_dir():
            raise CommandError(f"the statement folder {folder} does not exist")
        results = statement_inbox_scan(inbox=folder, settle_seconds=settle_seconds, claim_minutes=claim_minutes)
        for item in results:
            where = f"{item['channel']}/{item['file']}" if item["channel"] else item["file"]
            line = f"{where}: {item['outcome']}"
            if item.get("import_id"):
                line += f" as #{item['import_id']} ({item['statement_date']}, {item['lines']} lines)"
            if item.get("reason"):
                line += f": {item['reason']}"
            if item.get("moved_to"):
                line += f" -> {item['moved_to']}"
            style = (
                self.style.SUCCESS
                if item["outcome"] == "imported"
                else (self.style.ERROR if item["outcome"] in {"refused", "retry"} else str)
            )
            self.stdout.write(style(line))
        counts = Counter(item["outcome"] for item in results)
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "nothing to do"
        self.stdout.write(f"{folder}: {summary}")
