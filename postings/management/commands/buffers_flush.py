"""Apply hot accounts' pending entries now (the beat job does it every few seconds)."""

from django.core.management.base import BaseCommand

from accounts.models import Entity
from postings.services.buffers import buffers_flush


class Command(BaseCommand):
    help = "Apply pending (buffered) entries of hot accounts: all of them, or one entity's, or up to a date."

    def add_arguments(self, parser):
        parser.add_argument("--entity", help="entity code (default: every entity)")
        parser.add_argument("--up-to", help="only entries dated up to this accounting date (YYYY-MM-DD)")
        parser.add_argument("--batch-size", type=int, help="entries per transaction (default BUFFER_FLUSH_BATCH)")

    def handle(self, *args, entity=None, up_to=None, batch_size=None, **options):
        applied = buffers_flush(
            entity=Entity.objects.get(code=entity) if entity else None,
            up_to=up_to,
            batch_size=batch_size,
        )
        self.stdout.write(f"{applied} pending entries applied")
