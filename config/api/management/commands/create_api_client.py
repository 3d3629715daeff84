"""Register a calling system and print its first API key, or issue another
key to an existing client (``--new-key``).

    manage.py create_api_client trade --scopes read,post,hold
    manage.py create_api_client "Member app" --source-system member-app --scopes read,withdraw
    KEY=$(manage.py create_api_client trade --new-key)

The key goes alone to standard output (so a script can capture it), the
rest to standard error. It is shown once: the ledger keeps only its hash.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from accounts.kernel.errors import LedgerValidationError
from config.api.models import ApiClient, Scope
from config.api.services import api_client_create, api_key_issue

ACTOR = "manage.py create_api_client"


class Command(BaseCommand):
    help = "Create an API client with its first key, or issue a new key (--new-key); prints the key."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The calling system's name, unique.")
        parser.add_argument("--scopes", default="", help=f"Comma-separated: {', '.join(Scope.values)}.")
        parser.add_argument(
            "--source-system",
            default="",
            help="Its source-system code (request numbers are unique per code); default: the name, slugified.",
        )
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--rate-limit",
            type=int,
            default=None,
            metavar="CALLS_A_MINUTE",
            help="All its keys together; default: API_RATE_LIMIT_PER_MINUTE; 0: no limit.",
        )
        parser.add_argument("--new-key", action="store_true", help="Issue another key to an existing client.")

    def handle(self, *args, name, scopes, source_system, description, new_key, rate_limit, **options):
        if new_key:
            client = ApiClient.objects.filter(name=name).first()
            if client is None:
                raise CommandError(f"No API client named {name!r}.")
            _, raw = api_key_issue(client=client, actor=ACTOR, label="issued by create_api_client")
            self.stderr.write(f"New key for {client.name} ({client.source_system}); shown once, store it now:")
            self.stdout.write(raw)
            return
        source_system = source_system or slugify(name)
        try:
            client, raw = api_client_create(
                name=name,
                source_system=source_system,
                scopes=scopes.split(","),
                actor=ACTOR,
                description=description,
                rate_limit_per_minute=rate_limit,
            )
        except LedgerValidationError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"Created API client {client.name}: source system {client.source_system}, "
            f"scopes {', '.join(client.scopes)}. Its key, shown once, store it now:"
        )
        self.stdout.write(raw)
