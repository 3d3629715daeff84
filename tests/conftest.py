"""Shared fixtures. Everything is built through the services, as production does."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from accounts.models import Account, AccountType, Entity
from accounts.services import account_open, customer_create, member_create
from postings.chart import install_defaults
from postings.services import posting_create_by_rule

_seq = itertools.count(1)


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
    import os
    import subprocess
    import sys
    import uuid

    from celery import Celery
    from django.conf import settings
    from django.db import connection

    from config import embedded_db

    broker = redis_url
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
    try:
        yield run
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        client.close()
