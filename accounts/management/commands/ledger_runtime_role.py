"""Give the runtime database role exactly what the application needs.

Two roles (issue 18, section 1): the owner, which runs ``migrate`` and owns
every table, function and trigger, and the runtime role that the web
processes and the Celery workers connect as. The runtime role reads and
writes rows, and nothing else: it owns nothing, so it cannot ALTER a table,
disable or drop a trigger or replace a function; it is no superuser, so it
cannot set ``session_replication_role`` to switch every trigger off; it has
no TRUNCATE (which would empty a table without its row triggers) and no
TRIGGER or CREATE privilege. Run this as the owner after every ``migrate``;
default privileges cover the tables that later migrations create.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from psycopg import sql


def runtime_role_grant(role: str, *, password: str | None = None) -> None:
    """Create ``role`` if it does not exist and grant it the runtime rights
    on the current database, as the connected (owner) role."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [role])
        found = cursor.fetchone()
        if found is None:
            # A concurrent creation (two test runs on one server) is fine:
            # the role is the same either way.
            create = sql.SQL(
                "DO $$ BEGIN CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;"
                " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            ).format(sql.Identifier(role))
            cursor.execute(create.as_string(cursor.connection))
        elif any(found):
            raise CommandError(f"{role} is a superuser or bypasses row security: it cannot be the runtime role")
        cursor.execute("SELECT current_user, current_database()")
        owner, database = cursor.fetchone()
        if owner == role:
            raise CommandError("connect as the owner role (the one that migrates), not as the runtime role")
        statements = [
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {r}").format(sql.Identifier(database), r=sql.Identifier(role)),
            "GRANT USAGE ON SCHEMA public TO {r}",
            "REVOKE CREATE ON SCHEMA public FROM {r}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r}",
            "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {r}",
            "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {r}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {r}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO {r}",
        ]
        if password:
            statements.append(sql.SQL("ALTER ROLE {r} PASSWORD {p}").format(r=sql.Identifier(role), p=password))
        for statement in statements:
            if isinstance(statement, str):
                statement = sql.SQL(statement).format(r=sql.Identifier(role))
            cursor.execute(statement.as_string(cursor.connection))


class Command(BaseCommand):
    help = "Create the runtime database role if needed and grant it row access only (run as the owner)."

    def add_arguments(self, parser):
        parser.add_argument("role", help="the role the web processes and workers connect as, e.g. ledger_app")
        parser.add_argument("--password", help="set this password on the role (else leave it as it is)")

    def handle(self, *args, role: str, password: str | None = None, **options):
        runtime_role_grant(role, password=password)
        self.stdout.write(f"{role}: rows only; it cannot alter tables, triggers or functions")
