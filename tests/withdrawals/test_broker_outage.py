"""Issue 18 §2 end to end: Redis stops in the middle of withdrawal requests.

A Redis of the test's own on a free port is both the broker and the cache
(CACHE_URL defaults to it: the API's rate limit counts there). A web process
(gunicorn) and a Celery worker run against it and the test database, as in
production. With Redis up a request is reviewed by the worker; then Redis is
killed and three more requests are made: each is answered at once with the
saved withdrawal (201, status requested, its amount + fee frozen), and its
review waits in the task outbox. Redis is started again on the same port,
the outbox sweep runs on the worker, and the three reviews complete, each
once, with the frozen amounts unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from decimal import Decimal

import pytest
from django.conf import settings

from accounts.kernel.models import PendingTask
from postings.models import Hold
from withdrawals.models import Status, Withdrawal
from withdrawals.services import AUTO_REVIEW

from ..api.conftest import client_with_key
from ..conftest import celery_worker
from .conftest import CARD_OK

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int, workdir: str) -> subprocess.Popen:
    import redis

    server = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            redis.Redis(port=port, socket_connect_timeout=1).ping()
            return server
        except redis.RedisError:
            time.sleep(0.1)
    server.kill()
    pytest.fail(f"redis-server on port {port} did not answer")


def call(base: str, method: str, path: str, key: str, body=None) -> tuple[int, dict, float]:
    request = urllib.request.Request(
        f"{base}/api/v1/{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Api-Key {key}", "Content-Type": "application/json"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, json.loads(raw or b"{}"), time.monotonic() - started


def wait_until(check, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


@pytest.fixture
def outage_stack(desk):
    """Redis on its own port, a worker and a web process on it; yields what the test drives."""
    port, web_port = free_port(), free_port()
    workdir = tempfile.mkdtemp(prefix="ledger-outage-redis-")
    servers = {"redis": start_redis(port, workdir)}
    broker = f"redis://127.0.0.1:{port}/0"
    try:
        with celery_worker(broker, TASK_OUTBOX_RESEND_SECONDS="0") as run:
            env = {**run.env, "DEBUG": "0", "API_RATE_LIMIT_PER_MINUTE": "1000"}
            env.pop("CACHE_URL", None)  # the cache is the broker's Redis, as by default
            web = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{web_port}", "-w", "1"],
                env=env,
                cwd=settings.BASE_DIR,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            servers["web"] = web
            base = f"http://127.0.0.1:{web_port}"
            wait_until(lambda: _answers(base), "the web process answers", timeout=60)

            def stop_redis():
                servers["redis"].send_signal(signal.SIGKILL)
                servers["redis"].wait(10)

            def restart_redis():
                servers["redis"] = start_redis(port, workdir)

            yield {"base": base, "run": run, "stop_redis": stop_redis, "restart_redis": restart_redis}
    finally:
        for server in servers.values():
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _answers(base: str) -> bool:
    try:
        urllib.request.urlopen(f"{base}/api/v1/accounts/0", timeout=2)
    except urllib.error.HTTPError:
        return True  # 401: it is up
    except OSError:
        return False
    return True


def body(desk, request_no: str, amount: str) -> dict:
    return {
        "request_no": request_no,
        "account_no": desk.member_account.account_no,
        "amount": amount,
        "bank_card": {"holder": "Alice Zhang", "bank": "ICBC", "number": CARD_OK},
    }


def status_of(withdrawal_id: int) -> str:
    return Withdrawal.objects.get(pk=withdrawal_id).status


def test_requests_made_while_redis_is_down_are_saved_answered_honestly_and_reviewed_when_it_is_back(desk, outage_stack):
    stack = outage_stack
    _, key = client_with_key("trade", ["read", "withdraw"])
    account = desk.member_account.account_no

    status, first, _ = call(stack["base"], "POST", "withdrawals", key, body(desk, "w-1", "10.00"))
    assert status == 201, first
    wait_until(lambda: status_of(first["withdrawal_id"]) != Status.REQUESTED, "the worker reviews W1")

    stack["stop_redis"]()
    saved = []
    for n, amount in [(2, "20.00"), (3, "21.00"), (4, "25.00")]:  # 66.00, as in the issue
        status, answer, seconds = call(stack["base"], "POST", "withdrawals", key, body(desk, f"w-{n}", amount))
        # The honest answer: the request was saved (and its amount frozen); its review is to follow.
        assert status == 201, answer
        assert answer["status"] == Status.REQUESTED and answer["amount"] == amount
        assert seconds < 5, f"W{n} took {seconds:.1f}s with the broker down"
        saved.append(answer["withdrawal_id"])
    # The same request again while Redis is down: the saved one, nothing frozen twice.
    status, again, _ = call(stack["base"], "POST", "withdrawals", key, body(desk, "w-2", "20.00"))
    assert status == 200 and again["withdrawal_id"] == saved[0]
    assert sorted(
        tuple(a) for a in PendingTask.objects.filter(task_name=AUTO_REVIEW).values_list("args", flat=True)
    ) == [(pk,) for pk in saved]
    assert {status_of(pk) for pk in saved} == {Status.REQUESTED}
    _, balance, _ = call(stack["base"], "GET", f"accounts/{account}", key)
    frozen_before = Decimal(balance["frozen"])

    stack["restart_redis"]()
    # The outbox sweep (beat runs it every minute) on the worker: the three reviews are sent, once.
    assert stack["run"]("accounts.kernel.tasks.pending_tasks_send", timeout=120) == 3
    wait_until(lambda: all(status_of(pk) != Status.REQUESTED for pk in saved), "the reviews run after the outage")
    assert not PendingTask.objects.exists()
    assert stack["run"]("accounts.kernel.tasks.pending_tasks_send") == 0

    for pk in saved:
        w = Withdrawal.objects.get(pk=pk)
        assert w.status in {Status.IN_REVIEW, Status.APPROVED}
        assert [e.to_status for e in w.events.order_by("id")] == [Status.REQUESTED, w.status]  # reviewed once
        assert Hold.objects.get(pk=w.hold_id).amount == w.amount + w.fee
    _, balance, _ = call(stack["base"], "GET", f"accounts/{account}", key)
    assert (
        Decimal(balance["frozen"])
        == frozen_before
        == sum(Withdrawal.objects.get(pk=pk).total for pk in [first["withdrawal_id"], *saved])
    )
