"""The ledger's SQL functions are exactly the files of postings/sql/.

Two checks, because a migration reads the files when it runs (so a test
database always holds the files' version, edited or not):

* each function a file creates is installed with that body, whitespace
  aside (so nothing else wrote it, and no later migration changed it);
* the newest migration that loads a file records the file's SHA-256, so a
  file edited without a new migration fails here, before a database that
  migrated earlier keeps running the old text unnoticed.
"""

import re

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from postings.sql import SQL_DIR, LoadSqlFiles, sql_hash, sql_text

FUNCTION = re.compile(
    r"CREATE\s+OR\s+REPLACE\s+FUNCTION\s+(?P<name>\w+)\s*\(.*?\bAS\s+(?P<tag>\$\w*\$)(?P<body>.*?)(?P=tag)",
    re.DOTALL | re.IGNORECASE,
)
FILES = sorted(p.name for p in SQL_DIR.glob("*.sql"))


def _squeezed(text: str) -> str:
    return " ".join(text.split())


def _functions(name: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in FUNCTION.finditer(sql_text(name))}


def _loaders() -> dict[str, tuple[str, str]]:
    """Each file: (the newest migration loading it, the hash it records)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    newest: dict[str, tuple[str, str]] = {}
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        if app != "postings":
            continue
        for operation in migration.operations:
            if isinstance(operation, LoadSqlFiles):
                for file, digest in operation.files.items():
                    newest[file] = (name, digest)
    return newest


def test_there_are_files_and_each_creates_functions():
    assert {"ledger_post.sql", "ledger_post_batch.sql"} <= set(FILES)
    for name in FILES:
        assert _functions(name), f"{name} creates no function this test can read"


@pytest.mark.parametrize("name", FILES)
def test_each_file_is_loaded_by_a_migration_that_records_its_hash(name):
    loaders = _loaders()
    assert name in loaders, f"no migration loads postings/sql/{name}"
    migration, recorded = loaders[name]
    assert recorded == sql_hash(name), (
        f"postings/sql/{name} changed after migration {migration} recorded it: add a migration that loads it "
        f"(LoadSqlFiles({{{name!r}: {sql_hash(name)!r}}}))"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", FILES)
def test_the_installed_functions_are_the_files(name):
    for function, body in _functions(name).items():
        with connection.cursor() as cursor:
            cursor.execute("SELECT p.prosrc FROM pg_proc p WHERE p.proname = %s", [function])
            installed = [row[0] for row in cursor.fetchall()]
        assert len(installed) == 1, f"{function}: {len(installed)} functions of that name installed"
        assert _squeezed(installed[0]) == _squeezed(body), f"{function} in the database is not postings/sql/{name}"


def test_the_check_fails_for_an_edited_body():
    """The comparison sees a one-character change (it is not vacuous)."""
    body = next(iter(_functions("ledger_post.sql").values()))
    assert _squeezed(body) != _squeezed(body.replace("p_amounts[i]", "p_amounts[i] + 0", 1))
