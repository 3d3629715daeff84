"""Hot accounts under real concurrency: parallel PostgreSQL connections
(threads) posting and flushing at once, and a Celery worker process killed
with SIGKILL in the middle of a flush batch."""

import os
import random
import signal
import threading
import time
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

from accounts.models import PostingMode
from postings import services
from postings.models import Entry
from postings.selectors import account_balance, account_chain_breaks, account_signed_turnover, identity_totals
from postings.services import Leg, PostingRequest, posting_create, posting_create_batch
from postings.services import batch as batch_module
from postings.services.buffers import buffers_flush, posting_mode_set
from tests.postings.test_concurrency import run_parallel

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal


@pytest.mark.parametrize("by", ["lone postings", "batches"])
def test_a_storm_on_one_buffered_account_with_racing_flushes(ledger, monkeypatch, by):
    """6 threads post 150 fees each to one buffered account (one by one, or
    in batches of 10, which ledger_post_batch writes) while 2 threads
    flush in small batches and one samples the identity: after the final
    flush, balance = sum of entries, the chain is continuous, the identity
    held at every sample, nothing was applied twice."""
    batches_in_one_call = []
    original = batch_module._batch_in_one_call

    def counted(*args, **kw):
        original(*args, **kw)
        batches_in_one_call.append(1)

    monkeypatch.setattr(batch_module, "_batch_in_one_call", counted)
    fee = ledger.internal("FEE_INCOME")
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="ops")
    members = [ledger.cash() for _ in range(20)]
    for m in members:
        ledger.recharge(m, "1000")
    posters, per_poster = 6, 150
    done = threading.Event()
    posting = [posters]
    counter = threading.Lock()
    samples: list[bool] = []

    def work(i):
        if i < posters:
            try:
                rng = random.Random(i)
                items = [
                    PostingRequest(
                        f"storm-{i}-{n}",
                        "fee",
                        [Leg.debit(rng.choice(members).account_no, "0.01"), Leg.credit(fee.account_no, "0.01")],
                    )
                    for n in range(per_poster)
                ]
                if by == "batches":
                    for k in range(0, per_poster, 10):
                        results = posting_create_batch(items[k : k + 10], posted_by=f"trade{i}")
                        assert all(r.ok for r in results), [r.error for r in results if r.error]
                else:
                    for item in items:
                        posting_create(
                            request_no=item.request_no, business_type="fee", posted_by=f"trade{i}", legs=item.legs
                        )
                return "posted"
            finally:
                with counter:
                    posting[0] -= 1
                    if posting[0] == 0:
                        done.set()  # the flushers and the sampler stop once every poster is through
        if i < posters + 2:
            applied = 0
            while not done.is_set():
                applied += buffers_flush(batch_size=17)
            return applied
        while not done.is_set():
            samples.append(all(t.holds for t in identity_totals()))
            done.wait(0.01)  # pace the sampling; stop as soon as the posters are through
        return "sampled"

    results = run_parallel(posters + 3, work)

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    flushed_in_race = sum(r for r in results[posters : posters + 2])
    final = buffers_flush()
    assert flushed_in_race + final == posters * per_poster  # each entry applied exactly once
    assert flushed_in_race > 0  # the flushers did race the posters

    row = ledger.fresh(fee)
    assert row.balance == D("0.01") * posters * per_poster
    assert row.balance == account_signed_turnover(account=row)
    assert row.entry_seq == posters * per_poster
    assert account_chain_breaks(account=row) == []
    assert not Entry.objects.filter(account_seq__isnull=True).exists()
    assert len(samples) > 5 and all(samples)
    assert all(t.holds for t in identity_totals())
    assert len(batches_in_one_call) == (posters * per_poster // 10 if by == "batches" else 0)


def _wait_for(predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_flush_killed_mid_batch_loses_nothing_and_applies_nothing_twice(ledger, celery_worker_on_redis):
    fee = ledger.internal("FEE_INCOME")
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="ops")
    member = ledger.cash()
    ledger.recharge(member, "100")
    for n in range(300):
        posting_create(
            request_no=f"k-{n}",
            business_type="fee",
            posted_by="trade",
            legs=[Leg.debit(member.account_no, "0.10"), Leg.credit(fee.account_no, "0.10")],
        )
    pending = list(Entry.objects.filter(account=fee).order_by("serial_no").values_list("serial_no", flat=True))
    assert len(pending) == 300

    # Another session holds one entry in the middle of the batch, so the
    # worker's flush stops inside its UPDATE with half the batch written.
    db = connection.settings_dict
    blocker = psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"])
    watcher = psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True)
    flushing = None
    try:
        blocker.execute("SELECT 1 FROM postings_entry WHERE serial_no = %s FOR UPDATE", [pending[150]])
        worker = celery_worker_on_redis.process
        flushing = threading.Thread(
            target=_swallow, args=(celery_worker_on_redis, "postings.tasks.buffers_flush"), daemon=True
        )
        flushing.start()
        backend = _wait_for(lambda: _blocked_flush_backend(watcher), what="the worker's flush to block mid-batch")

        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=20)
        blocker.rollback()
        # The server notices its client is gone when it tries to answer, and
        # rolls the whole batch back.
        _wait_for(lambda: not _backend_alive(watcher, backend), what="the killed worker's session to end")
    finally:
        blocker.close()
        watcher.close()
    if flushing is not None:
        flushing.join(timeout=30)

    row = ledger.fresh(fee)
    assert (row.balance, row.entry_seq) == (D("0"), 0)
    assert Entry.objects.filter(account=fee, account_seq__isnull=True).count() == 300
    assert account_balance(account=row).total == D("30.00")
    assert all(t.holds for t in identity_totals())

    assert buffers_flush() == 300
    row = ledger.fresh(fee)
    assert (row.balance, row.entry_seq) == (D("30.00"), 300)
    assert account_chain_breaks(account=row) == []
    assert sorted(Entry.objects.filter(account=fee).values_list("account_seq", flat=True)) == list(range(1, 301))


def _swallow(run, task):
    try:
        run(task, timeout=5)  # never answers: the worker is killed under it
    except Exception:  # noqa: BLE001 - the worker is killed under it
        pass


def _blocked_flush_backend(conn):
    row = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
        "AND query LIKE %s AND pid <> pg_backend_pid()",
        ["%ledger_entries_apply%"],  # the flush applies its batch in there (postings/sql/entry_hash.sql)
    ).fetchone()
    return row[0] if row else None


def _backend_alive(conn, pid) -> bool:
    return conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone() is not None


def test_the_flush_task_runs_on_a_real_worker(ledger, celery_worker_on_redis):
    fee = ledger.internal("FEE_INCOME")
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="ops")
    member = ledger.cash()
    ledger.recharge(member, "10")
    for n in range(5):
        posting_create(
            request_no=f"wk-{n}",
            business_type="fee",
            posted_by="trade",
            legs=[Leg.debit(member.account_no, "1"), Leg.credit(fee.account_no, "1")],
        )
    assert celery_worker_on_redis("postings.tasks.buffers_flush") == 5
    assert ledger.balance(fee) == D("5")
    assert celery_worker_on_redis("postings.tasks.buffers_flush") == 0
