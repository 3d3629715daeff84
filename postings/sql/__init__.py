"""The ledger's SQL functions and guard triggers, in ``.sql`` files read and
reviewed like any other source file (as django-hordak keeps its SQL): the
posting functions and the ledger's guards here, other apps' guards in their
own ``sql/`` directory (withdrawals/sql, reports/sql), loaded the same way.

A migration loads them with ``LoadSqlFiles``: it runs each file as it is at
migrate time (every file is ``CREATE OR REPLACE``, so running it again is
harmless) and records the SHA-256 of the file it was written for. A file
edited without a new migration that records its new hash fails
tests/postings/test_sql_files.py, which also compares the functions
installed in the database with the files, so what runs is always what the
files say.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent
# The project's root: an app's SQL directory is named from it ("withdrawals/sql").
ROOT = SQL_DIR.parents[1]
DIRECTORY = "postings/sql"


def sql_text(name: str, directory: str = DIRECTORY) -> str:
    return (ROOT / directory / name).read_text(encoding="utf-8")


def sql_hash(name: str, directory: str = DIRECTORY) -> str:
    return hashlib.sha256((ROOT / directory / name).read_bytes()).hexdigest()


class LoadSqlFiles(migrations.RunPython):
    """Run ``<directory>/<name>`` for each name of ``files`` ({name: the
    file's SHA-256 when the migration was written}); ``directory`` is an
    app's SQL directory from the project's root, postings/sql by default.
    ``reverse_sql`` undoes it (e.g. the DROP of a new function, or nothing
    when an earlier migration's load stays in force)."""

    def __init__(self, files: dict[str, str], reverse_sql: str | None = None, directory: str = DIRECTORY):
        self.files = dict(files)
        self.reverse_sql = reverse_sql
        self.directory = directory

        def forwards(apps, schema_editor):
            for name in self.files:
                schema_editor.execute(sql_text(name, self.directory), None)

        def backwards(apps, schema_editor):
            if self.reverse_sql:
                schema_editor.execute(self.reverse_sql, None)

        super().__init__(forwards, backwards)

    def describe(self) -> str:
        return f"Load SQL files {', '.join(f'{self.directory}/{name}' for name in self.files)}"
