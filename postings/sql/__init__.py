"""The ledger's SQL functions, each in its own ``.sql`` file, read and
reviewed like any other source file (as django-hordak keeps its SQL).

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


def sql_text(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


def sql_hash(name: str) -> str:
    return hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest()


class LoadSqlFiles(migrations.RunPython):
    """Run ``postings/sql/<name>`` for each name of ``files`` ({name: the
    file's SHA-256 when the migration was written}). ``reverse_sql`` undoes
    it (e.g. the DROP of a new function, or nothing when an earlier
    migration's load stays in force)."""

    def __init__(self, files: dict[str, str], reverse_sql: str | None = None):
        self.files = dict(files)
        self.reverse_sql = reverse_sql

        def forwards(apps, schema_editor):
            for name in self.files:
                schema_editor.execute(sql_text(name), None)

        def backwards(apps, schema_editor):
            if self.reverse_sql:
                schema_editor.execute(self.reverse_sql, None)

        super().__init__(forwards, backwards)

    def describe(self) -> str:
        return f"Load SQL files {', '.join(self.files)}"
