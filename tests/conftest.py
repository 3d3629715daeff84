"""Shared fixtures. Everything is built through the services, as production does."""

from __future__ import annotations

import contextlib
import itertools
from contextlib import contextmanager
from datetime import datetime
from datetime import time as dt_time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from accounts.models import Account, AccountType, Entity
from accounts.services import account_open, customer_create, member_create
from postings.chart import install_defaults
from postings.services import posting_create_by_rule

_seq = itertools.count(1)


@contextmanager
def as_owner_bypassing_guards():
    """Write what no runtime connection may (backdate a withdrawal, edit a
    card holder), to set up a test: the tests' own connection is the owner
    (a superuser here), which may switch every trigger off for the block;
    the runtime role cannot (tests/postings/test_runtime_role.py)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            cursor.execute("RESET session_replication_role")


class Ledger:
    """A small bookkeeping toolkit for tests: open members and accounts,
    recharge them, and read them back fresh."""

    def __init__(self):
        install_defaults()
        self.entity = Entity.objects.get(code="MAIN")
        self.types = {t.code: t for t in AccountType.objects.all()}
        self._internal: dict[tuple[int, str, str], Account] = {}

    def member(self, name: str | None = None):
        n = next(_seq)
        name = name or f"Member {n}"
        customer = customer_create(kind="person", name=name, id_type="resident_id", id_no=f"ID{n:010d}")
        return member_create(member_no=f"M{n:08d}", customer=customer, name=name)

    def cash(self, member=None, *, currency: str = "CNY", entity: Entity | None = None) -> Account:
        return account_open(
            entity=entity or self.entity,
            account_type=self.types["USER_CASH"],
            member=member or self.member(),
            currency=currency,
        )

    def credit(self, member=None, *, limit="1000", currency: str = "CNY") -> Account:
        return account_open(
            entity=self.entity,
            account_type=self.types["USER_CREDIT"],
            member=member or self.member(),
            credit_limit=limit,
            currency=currency,
        )

    def internal(self, type_code: str, *, currency: str = "CNY", entity: Entity | None = None) -> Account:
        """The entity's one internal account of a type (opened on first use)."""
        entity = entity or self.entity
        key = (entity.id, type_code, currency)
        if key not in self._internal:
            existing = Account.objects.filter(entity=entity, account_type__code=type_code, currency=currency).first()
            self._internal[key] = existing or account_open(
                entity=entity, account_type=self.types[type_code], currency=currency
            )
        return self._internal[key]

    def channel(self, **kw) -> Account:
        return self.internal("CHANNEL_CLEARING", **kw)

    def recharge(self, account: Account, amount, *, request_no: str | None = None):
        return posting_create_by_rule(
            business_type="recharge",
            request_no=request_no or f"rc-{next(_seq)}",
            params={
                "member_account": account.account_no,
                "channel_account": self.channel(currency=account.currency, entity=account.entity).account_no,
                "amount": str(amount),
            },
            posted_by="test",
        )

    @staticmethod
    def fresh(account: Account) -> Account:
        return Account.objects.get(pk=account.pk)

    @staticmethod
    def balance(account: Account) -> Decimal:
        return Account.objects.get(pk=account.pk).balance

    @staticmethod
    def next_request(prefix: str = "req") -> str:
        return f"{prefix}-{next(_seq)}"


# The clock. No test may depend on the hour it runs at: the accounting day is
# Asia/Shanghai's, so a test that builds "today" one way and the code another
# fails near local midnight (16:00 UTC), and one that reads "the last N
# minutes" can fail near noon or midnight too. To prove a suite safe at any
# hour, run it at that hour:
#
#     pytest --clock=2026-12-06T23:59:30+08:00   # half a minute before the day turns
#     pytest --clock=2026-12-06T15:59:50+00:00   # the same midnight, said in UTC
#     pytest --clock=2026-12-07T00:00:05+08:00   # just after it
#     pytest --clock=2026-12-06T11:59:50+08:00   # just before noon
#     pytest --clock=23:59:30                    # today (Asia/Shanghai) at 23:59:30 there
#
# Every test then starts at that instant (time_machine.travel with tick=True:
# the clock runs on from there, monotonic clocks are untouched, threads see
# the same time). Each test starts there afresh, so the result does not depend
# on which tests ran before. Two clocks cannot travel: PostgreSQL's now()
# (created_at of entries written by SQL) and other processes (a Celery worker,
# a subprocess). Tests marked ``real_clock`` (and ``celery_worker``) therefore
# run at the wall clock and pick their dates far from any boundary instead,
# or measure only what both clocks agree on. Keep the instant within a day of
# the real one (a time of day alone does that), as tests that read dates
# PostgreSQL stamped take them to be about "today".
# A test that needs one instant of its own says so with
# ``@pytest.mark.time_machine(instant)`` (time-machine's marker; --clock then
# leaves it alone) or travels inside the test with ``time_machine.travel``.
# A test whose expectations hold within one local day (a daily limit,
# "created today", "opened 6 days ago") must not run across a day's end: mark
# it ``@pytest.mark.local_afternoon`` and it runs from AFTERNOON, far from
# noon and from midnight in Asia/Shanghai, whatever the wall clock or --clock.
AFTERNOON = datetime.fromisoformat("2026-11-18T15:00:00+08:00")


def pytest_addoption(parser):
    parser.addoption(
        "--clock",
        metavar="ISO_INSTANT",
        default=None,
        help="start every test at this instant, e.g. 2026-12-06T23:59:30+08:00 (time-machine, ticking)",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "real_clock: runs at the wall clock even under --clock (it starts processes, or reads PostgreSQL's now(), "
        "neither of which can travel)",
    )
    config.addinivalue_line("markers", "local_afternoon: runs from AFTERNOON (15:00 Asia/Shanghai), never across a day")
    if config.option.clock:
        config.option.clock = _clock_option(config.option.clock)


def _clock_option(value: str) -> datetime:
    try:
        if "T" not in value and " " not in value:  # a time of day: today's, in the project's time zone
            from django.conf import settings

            zone = ZoneInfo(settings.TIME_ZONE)
            return datetime.combine(datetime.now(zone).date(), dt_time.fromisoformat(value), zone)
        moment = datetime.fromisoformat(value)
    except ValueError as e:
        raise pytest.UsageError(f"--clock: {e}") from None
    if moment.tzinfo is None:
        raise pytest.UsageError("--clock needs an instant with its offset, e.g. 2026-12-06T23:59:30+08:00")
    return moment


@pytest.fixture(autouse=True)
def _clock(request):
    moment = AFTERNOON if request.node.get_closest_marker("local_afternoon") else request.config.option.clock
    # A test with its own instant (the time_machine marker) keeps it: that
    # marker's fixture starts before this one, so travelling here would undo it.
    own = ("real_clock", "celery_worker", "time_machine")
    if not moment or any(request.node.get_closest_marker(m) for m in own):
        yield
        return
    with time_machine.travel(moment, tick=True):
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """What COMMIT would check, at the end of every test that kept its
    writes in the test's transaction (``django_db`` without transaction=True,
    rolled back at teardown, so its deferred constraint triggers would never
    fire): SET CONSTRAINTS ALL IMMEDIATE runs them now, and a test whose
    writes a commit would refuse fails. So every test of a legitimate path
    also proves that the ledger's deferred checks accept it
    (postings/sql/account_guards.sql, the posting checks)."""
    result = yield
    from django.db import connection

    if connection.in_atomic_block and not connection.needs_rollback:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return result


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture(scope="session")
def redis_url():
    """A Redis for what needs a real broker or a shared cache: the one at
    TEST_CELERY_BROKER_URL (default 127.0.0.1:6379) when it answers, else one
    started here from the redis-server binary on a free port (stopped at the
    end of the session); without either, the test is skipped and says why."""
    import shutil
    import socket
    import subprocess
    import tempfile
    import time

    import redis
    from django.conf import settings

    configured = settings.TEST_CELERY_BROKER_URL
    try:
        redis.Redis.from_url(configured, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unreachable = f"{configured} does not answer ({exc})"
    else:
        yield configured
        return

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(f"needs a real Redis: {unreachable}, and there is no redis-server binary to start one")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="ledger-test-redis-")
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    started = f"redis://127.0.0.1:{port}/15"
    try:
        for _ in range(100):
            try:
                redis.Redis.from_url(started, socket_connect_timeout=1).ping()
                break
            except redis.RedisError:
                time.sleep(0.1)
        else:
            pytest.fail(f"{unreachable}; the redis-server started on port {port} did not answer either")
        yield started
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def celery_worker_on_redis(transactional_db, redis_url):
    """A real Celery worker process on Redis, pointed at the test database.

    Yields a function ``run(task_name, *args, **kwargs) -> result`` that sends
    the task through the broker to that worker and waits for its answer. The
    worker listens on a queue of its own, so nothing else picks the task up.
    """
    with celery_worker(redis_url) as run:
        yield run


@contextlib.contextmanager
def celery_worker(broker: str, **env_extra: str):
    """A worker process on ``broker`` (see celery_worker_on_redis); ``run``
    also carries its ``process``, ``queue`` and the ``env`` it was given (for
    a web process that must queue to it)."""
    import os
    import subprocess
    import sys
    import uuid

    from celery import Celery
    from django.conf import settings
    from django.db import connection

    from config import embedded_db

    queue = f"test-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": embedded_db.url(db),
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": broker,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "SANDBOX_BANK_CALLBACK_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
        **env_extra,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "warning",
            "-n",
            f"{queue}@%h",
        ],
        env=env,
        cwd=settings.BASE_DIR,
    )
    # set_as_current=False: else this client becomes the current app, and every
    # later shared_task .delay() in this process goes to Redis instead of running eagerly.
    client = Celery("test-client", broker=broker, backend=broker, set_as_current=False)

    def run(task_name, *args, timeout=90, **kwargs):
        result = client.send_task(task_name, args=args, kwargs=kwargs, queue=queue)
        try:
            return result.get(timeout=timeout)
        finally:
            result.forget()

    run.process = worker  # for tests that kill the worker mid-task
    run.queue, run.env = queue, env
    try:
        yield run
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        client.close()


RUNTIME_ROLE = "ledger_runtime_test"


@pytest.fixture
def runtime_sql(transactional_db):
    """Raw SQL as the runtime role (issue 18, section 1): a function
    ``run(sql, params=()) -> rows or None`` that executes one transaction on
    its own connection as that role and commits it, as a compromised web
    process or an operator with the application's credentials would. The
    role gets its rights from ``manage.py ledger_runtime_role``, as in
    production. Transactional, so it sees what the test committed."""
    import psycopg
    from django.db import connection

    from accounts.management.commands.ledger_runtime_role import runtime_role_grant

    runtime_role_grant(RUNTIME_ROLE)
    db = connection.settings_dict
    conn = psycopg.connect(host=db["HOST"], port=db["PORT"], dbname=db["NAME"], user=RUNTIME_ROLE)

    def run(sql, params=()):
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else None

    run.connection = conn
    try:
        yield run
    finally:
        conn.close()
