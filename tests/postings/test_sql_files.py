"""The ledger's SQL functions and guard triggers are exactly the files of
postings/sql/ (and of the other apps' sql/ directories, SQL_DIRS).

Two checks, because a migration reads the files when it runs (so a test
database always holds the files' version, edited or not):

* each function a file creates is installed with that body, whitespace
  aside (so nothing else wrote it, and no later migration changed it), and
  each trigger it creates is installed on its table, calling its function;
* the newest migration that loads a file records the file's SHA-256, so a
  file edited without a new migration fails here, before a database that
  migrated earlier keeps running the old text unnoticed.
"""

import re

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from postings.sql import ROOT, LoadSqlFiles, sql_hash, sql_text

FUNCTION = re.compile(
    r"CREATE\s+OR\s+REPLACE\s+FUNCTION\s+(?P<name>\w+)\s*\(.*?\bAS\s+(?P<tag>\$\w*\$)(?P<body>.*?)(?P=tag)",
    re.DOTALL | re.IGNORECASE,
)
TRIGGER = re.compile(
    r"CREATE\s+(?:CONSTRAINT\s+)?TRIGGER\s+(?P<name>\w+)\s.*?\bON\s+(?P<table>\w+)\s.*?"
    r"EXECUTE\s+FUNCTION\s+(?P<function>\w+)\(",
    re.DOTALL | re.IGNORECASE,
)
SQL_DIRS = (
    "postings/sql",
    "postings/agreements/sql",
    "postings/credit/sql",
    "withdrawals/sql",
    "reports/sql",
    "events/sql",
    "events/webhooks/sql",
)
# (directory, file name) of every SQL file, shown as its path.
FILES = sorted((d, p.name) for d in SQL_DIRS for p in (ROOT / d).glob("*.sql"))
IDS = [f"{d}/{name}" for d, name in FILES]


def _squeezed(text: str) -> str:
    return " ".join(text.split())


def _functions(name: str, directory: str = "postings/sql") -> dict[str, str]:
    return {m["name"]: m["body"] for m in FUNCTION.finditer(sql_text(name, directory))}


def _triggers(name: str, directory: str) -> list[tuple[str, str, str]]:
    return [(m["table"], m["name"], m["function"]) for m in TRIGGER.finditer(sql_text(name, directory))]


def _loaders() -> dict[tuple[str, str], tuple[str, str]]:
    """Each file (directory, name): (the newest migration loading it, the hash it records)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    newest: dict[tuple[str, str], tuple[str, str]] = {}
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        for operation in migration.operations:
            if isinstance(operation, LoadSqlFiles):
                for file, digest in operation.files.items():
                    newest[operation.directory, file] = (f"{app}.{name}", digest)
    return newest


def test_there_are_files_and_each_creates_functions_or_triggers():
    assert {("postings/sql", "ledger_post.sql"), ("postings/sql", "guards.sql")} <= set(FILES)
    for directory, name in FILES:
        assert _functions(name, directory) or _triggers(name, directory), (
            f"{directory}/{name} creates no function or trigger this test can read"
        )


@pytest.mark.parametrize("directory, name", FILES, ids=IDS)
def test_each_file_is_loaded_by_a_migration_that_records_its_hash(directory, name):
    loaders = _loaders()
    assert (directory, name) in loaders, f"no migration loads {directory}/{name}"
    migration, recorded = loaders[directory, name]
    digest = sql_hash(name, directory)
    assert recorded == digest, (
        f"{directory}/{name} changed after migration {migration} recorded it: add a migration that loads it "
        f"(LoadSqlFiles({{{name!r}: {digest!r}}}, directory={directory!r}))"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("directory, name", FILES, ids=IDS)
def test_the_installed_triggers_are_the_files(directory, name):
    for table, trigger, function in _triggers(name, directory):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT p.proname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
                " WHERE t.tgrelid = %s::regclass AND t.tgname = %s AND t.tgenabled = 'O'",
                [table, trigger],
            )
            installed = [row[0] for row in cursor.fetchall()]
        assert installed == [function], f"{trigger} on {table} is not installed, enabled, as {directory}/{name} says"


@pytest.mark.django_db
@pytest.mark.parametrize("directory, name", FILES, ids=IDS)
def test_the_installed_functions_are_the_files(directory, name):
    for function, body in _functions(name, directory).items():
        with connection.cursor() as cursor:
            cursor.execute("SELECT p.prosrc FROM pg_proc p WHERE p.proname = %s", [function])
            installed = [row[0] for row in cursor.fetchall()]
        assert len(installed) == 1, f"{function}: {len(installed)} functions of that name installed"
        assert _squeezed(installed[0]) == _squeezed(body), f"{function} in the database is not {directory}/{name}"


def test_the_check_fails_for_an_edited_body():
    """The comparison sees a one-character change (it is not vacuous)."""
    body = next(iter(_functions("ledger_post.sql").values()))
    assert _squeezed(body) != _squeezed(body.replace("p_amounts[i]", "p_amounts[i] + 0", 1))
