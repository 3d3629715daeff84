"""Other processes on the test database: the relay, posting workers."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings
from django.db import connection

from config import embedded_db


def env(**extra: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": embedded_db.url(connection.settings_dict),
        "SECRET_KEY": "test-only-secret-key",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def start(args: list[str], **extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], env=env(**extra), cwd=settings.BASE_DIR)


def relay(exchange: str, name: str) -> subprocess.Popen:
    return start(["manage.py", "ledger_events_relay", "--exchange", exchange, "--name", name, "--batch", "5"])
