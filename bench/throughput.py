#!/usr/bin/env python3
"""Posting throughput against the physical limit (issue 6, "Benchmark").

    .venv/bin/python bench/throughput.py                 # the full run, about 6 minutes
    .venv/bin/python bench/throughput.py --seconds 3 --clients 1,2 --members 2000 --history 3000 --db ledger_tp_quick

It prints figures and ratios; it asserts nothing and is not a test. See
bench/README.md for the figures of the last run.

On the local PostgreSQL with its default durability (fsync and
synchronous_commit as the server has them; printed at the start):

1. The limit: ``pgbench`` with a script doing what one posting must do at
   minimum, in one transaction update two account rows and insert two entry
   rows, between random accounts among 100,000 ("random"), and with the
   credit going to one shared row ("hot"), at each client count.
2. Ours, random: two-leg transfers between random members' cash accounts
   among 100,000, through ``posting_create``, from N processes; and, at each
   client count right after ours, the peer Django ledger django-hordak doing
   the same transfers among as many accounts in its own database on the same
   server (``bench/peer_hordak.py``, in its own venv ``bench/.venv-hordak``,
   made on the first run). Single postings are measured against it.
3. Ours, hot: every posting credits one shared internal account (fee
   income) and debits a random member; the account real-time (row-locked per
   posting), then buffered (with one flusher process applying the buffer,
   as the beat job would).
4. Batch posting: ``posting_create_batch`` with batches of 100 transfers.
5. Reads of an account with ``--history`` entries (100,000): the balance
   read (``account_balance``: posted + pending, one statement) and the last
   50 entries, median latency; next to it what summing the legs on read
   costs (what peers do).

The database (``ledger_tp`` by default) is built once through the services
(accounts opened in bulk with zero balances, funded by batch postings) and
reused; ``--rebuild`` starts over.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import peer_hordak  # noqa: E402  (imports no Django; the peer runs in its own venv)

MEMBERS = 100_000
FUNDING = Decimal("1000000.00")
AMOUNT = "0.01"


def log(msg: str) -> None:
    print(msg, flush=True)


def bench_parser(doc: str, db_help: str = "the benchmark's database") -> argparse.ArgumentParser:
    """The options the posting benchmarks share (this one, cost.py, one_call.py)."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--db", default="ledger_tp", help=db_help)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", default="5432")
    p.add_argument("--user", default="postgres")
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each measured run")
    return p


def parse_args():
    p = bench_parser(__doc__)
    p.add_argument("--clients", default="1,2,4,8", help="client / process counts")
    p.add_argument("--members", type=int, default=MEMBERS)
    p.add_argument("--history", type=int, default=100_000, help="entries of the account whose reads are timed")
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--hordak-db", help="the peer's database (default: --db with ledger -> hordak, e.g. hordak_tp)")
    p.add_argument("--no-peer", action="store_true", help="skip django-hordak")
    args = p.parse_args()
    if not args.hordak_db:
        args.hordak_db = args.db.replace("ledger", "hordak", 1) if "ledger" in args.db else f"{args.db}_hordak"
    return args


# ------------------------------------------------------------------ setup ----


def django_setup(args) -> None:
    os.environ["DATABASE_URL"] = f"postgres://{args.user}@{args.host}:{args.port}/{args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")  # and DEBUG off: no query log
    import django

    django.setup()


def psql(args, sql: str, db: str = "postgres") -> str:
    out = subprocess.run(
        ["psql", "-h", args.host, "-p", args.port, "-U", args.user, "-d", db, "-Atqc", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def ensure_database(args) -> None:
    exists = psql(args, f"SELECT 1 FROM pg_database WHERE datname = '{args.db}'")
    if exists and args.rebuild:
        psql(args, f"DROP DATABASE {args.db} WITH (FORCE)")
        exists = ""
    if not exists:
        psql(args, f"CREATE DATABASE {args.db}")
    django_setup(args)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build_ledger(args) -> dict:
    """Members with funded cash accounts, a fee income account, a history
    account; built once. Accounts are created in bulk with zero balances
    (nothing the posting service guards is bypassed: no balance, no entry),
    then funded through batch postings, so the identity holds."""
    from django.db import connection, transaction

    from accounts.models import Account, AccountType, Customer, Entity, Member
    from accounts.services import account_number
    from postings.chart import install_defaults
    from postings.services import Leg, PostingRequest, posting_create_batch

    install_defaults()
    entity = Entity.objects.get(code="MAIN")
    cash = AccountType.objects.get(code="USER_CASH")
    have = Account.objects.filter(account_type=cash, name__startswith="bench").count()
    if have < args.members:
        log(f"  opening {args.members - have:,} member accounts ...")
        t0 = time.perf_counter()
        today = time.strftime("%Y-%m-%d")
        with transaction.atomic():
            for start in range(have, args.members, 10_000):
                n = range(start, min(start + 10_000, args.members))
                customers = Customer.objects.bulk_create(
                    [Customer(kind="person", name=f"bench {i}", id_type="resident_id", id_no=f"B{i:012d}") for i in n]
                )
                members = Member.objects.bulk_create(
                    [Member(member_no=f"B{i:09d}", customer=c, name=c.name) for i, c in zip(n, customers)]
                )
                accounts = Account.objects.bulk_create(
                    [
                        Account(
                            account_no=f"tmp-b{i}",
                            name=f"bench {i}",
                            member=m,
                            entity=entity,
                            account_type=cash,
                            category=cash.category,
                            allow_negative=cash.allow_negative,
                            currency="CNY",
                            opened_on=today,
                        )
                        for i, m in zip(n, members)
                    ]
                )
                for a in accounts:
                    a.account_no = account_number(subject_code=cash.subject_code, entity_id=entity.id, account_id=a.id)
                Account.objects.bulk_update(accounts, ["account_no"])
        log(f"  opened in {time.perf_counter() - t0:.1f} s")
    channel = _internal(entity, "CHANNEL_CLEARING")
    fee = _internal(entity, "FEE_INCOME")
    members = list(
        Account.objects.filter(account_type=cash, name__startswith="bench")
        .order_by("id")
        .values_list("account_no", flat=True)[: args.members]
    )
    unfunded = list(Account.objects.filter(account_no__in=members, balance=0).values_list("account_no", flat=True))
    if unfunded:
        log(f"  funding {len(unfunded):,} accounts by batch posting ...")
        t0 = time.perf_counter()
        for start in range(0, len(unfunded), 1000):
            chunk = unfunded[start : start + 1000]
            results = posting_create_batch(
                [
                    PostingRequest(f"fund-{no}", "recharge", [Leg.debit(channel, FUNDING), Leg.credit(no, FUNDING)])
                    for no in chunk
                ],
                posted_by="bench",
                source_system="bench",
            )
            bad = [r.error for r in results if r.error]
            if bad:
                raise SystemExit(f"funding failed: {bad[:3]}")
        log(f"  funded in {time.perf_counter() - t0:.1f} s")
    history = _history_account(args, entity, cash, channel)
    connection.close()
    return {"members": members, "fee": fee, "channel": channel, "history": history}


def _internal(entity, code: str) -> str:
    from accounts.models import Account, AccountType
    from accounts.services import account_open

    t = AccountType.objects.get(code=code)
    a = Account.objects.filter(entity=entity, account_type=t, currency="CNY").order_by("id").first()
    return (a or account_open(entity=entity, account_type=t, currency="CNY")).account_no


def _history_account(args, entity, cash, channel) -> str:
    """A member account with ``--history`` entries (recharges of 0.01)."""
    from accounts.models import Account, Member
    from accounts.services import account_open, customer_create, member_create
    from postings.services import Leg, PostingRequest, posting_create_batch

    member = Member.objects.filter(member_no="HISTORY").first()
    if member is None:
        customer = customer_create(kind="person", name="history", id_type="resident_id", id_no="HISTORY0001")
        member = member_create(member_no="HISTORY", customer=customer, name="history")
        account_open(entity=entity, account_type=cash, member=member, currency="CNY")
    account = Account.objects.get(member=member)
    missing = args.history - account.entry_seq
    if missing > 0:
        log(f"  posting {missing:,} entries to the history account ...")
        t0 = time.perf_counter()
        for start in range(account.entry_seq, args.history, 1000):
            posting_create_batch(
                [
                    PostingRequest(
                        f"hist-{i}", "recharge", [Leg.debit(channel, AMOUNT), Leg.credit(account.account_no, AMOUNT)]
                    )
                    for i in range(start, min(start + 1000, args.history))
                ],
                posted_by="bench",
                source_system="bench",
            )
        log(f"  posted in {time.perf_counter() - t0:.1f} s")
    return account.account_no


# ---------------------------------------------------------------- pgbench ----

PGBENCH_SETUP = """
DROP TABLE IF EXISTS pgb_entry, pgb_account;
CREATE TABLE pgb_account (id int PRIMARY KEY, balance numeric(20,4) NOT NULL DEFAULT 0);
CREATE TABLE pgb_entry (id bigserial PRIMARY KEY, account_id int NOT NULL, amount numeric(20,4) NOT NULL,
                        created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON pgb_entry (account_id);
INSERT INTO pgb_account SELECT g, 1000000 FROM generate_series(0, {n}) g;
"""

# Two account rows updated in id order (no deadlocks), two entries inserted.
PGBENCH_RANDOM = """\\set a random(1, {n})
\\set b random(1, {n})
\\set lo least(:a, :b)
\\set hi greatest(:a, :b)
BEGIN;
UPDATE pgb_account SET balance = balance - 0.01 WHERE id = :lo;
UPDATE pgb_account SET balance = balance + 0.01 WHERE id = :hi;
INSERT INTO pgb_entry (account_id, amount) VALUES (:lo, -0.01);
INSERT INTO pgb_entry (account_id, amount) VALUES (:hi, 0.01);
END;
"""

# Every transaction also locks the one shared row 0: the hot account.
PGBENCH_HOT = """\\set a random(1, {n})
BEGIN;
UPDATE pgb_account SET balance = balance + 0.01 WHERE id = 0;
UPDATE pgb_account SET balance = balance - 0.01 WHERE id = :a;
INSERT INTO pgb_entry (account_id, amount) VALUES (:a, -0.01);
INSERT INTO pgb_entry (account_id, amount) VALUES (0, 0.01);
END;
"""


def pgbench(args, clients: list[int]) -> dict[tuple[str, int], float]:
    if not shutil.which("pgbench"):
        raise SystemExit("pgbench not found (Debian package postgresql-client)")
    psql(args, PGBENCH_SETUP.format(n=args.members), db=args.db)
    psql(args, "VACUUM ANALYZE pgb_account", db=args.db)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, script in (("random", PGBENCH_RANDOM), ("hot", PGBENCH_HOT)):
            path = Path(tmp) / f"{name}.sql"
            path.write_text(script.format(n=args.members))
            for c in clients:
                out = subprocess.run(
                    [
                        "pgbench",
                        "-h",
                        args.host,
                        "-p",
                        args.port,
                        "-U",
                        args.user,
                        "-n",
                        "-f",
                        str(path),
                        "-c",
                        str(c),
                        "-j",
                        str(min(c, os.cpu_count() or 1)),
                        "-T",
                        str(int(args.seconds)),
                        args.db,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                tps = next(
                    float(line.split("=")[1].split()[0]) for line in out.splitlines() if line.startswith("tps =")
                )
                results[(name, c)] = tps
                log(f"  pgbench {name:6} {c} clients: {tps:8.0f} tx/s")
    psql(args, "DROP TABLE IF EXISTS pgb_entry, pgb_account", db=args.db)
    return results


# ------------------------------------------------------------------- ours ----


def _worker(args, kind: str, ledger: dict, seed: int, start, stop, counts, index: int) -> None:
    django_setup(args)
    from postings.services import Leg, PostingRequest, posting_create, posting_create_batch

    rng = random.Random(seed)
    members = ledger["members"]
    prefix = f"{kind}-{seed}-{time.time_ns()}"
    n = 0
    start.wait()
    while not stop.is_set():
        if kind == "batch":
            items = []
            for _ in range(100):
                a, b = rng.sample(members, 2)
                items.append(PostingRequest(f"{prefix}-{n}", "transfer", [Leg.debit(a, AMOUNT), Leg.credit(b, AMOUNT)]))
                n += 1
            results = posting_create_batch(items, posted_by="bench", source_system="bench")
            errors = [r.error for r in results if r.error]
            if errors:
                raise SystemExit(f"batch errors: {errors[:3]}")
            counts[index] = n
            continue
        if kind == "random":
            a, b = rng.sample(members, 2)
            legs = [Leg.debit(a, AMOUNT), Leg.credit(b, AMOUNT)]
            business_type = "transfer"
        else:
            legs = [Leg.debit(rng.choice(members), AMOUNT), Leg.credit(ledger["fee"], AMOUNT)]
            business_type = "fee"
        posting_create(
            request_no=f"{prefix}-{n}", business_type=business_type, legs=legs, posted_by="bench", source_system="bench"
        )
        n += 1
        counts[index] = n


def _flusher(args, start, stop, counts, index: int) -> None:
    django_setup(args)
    from django.conf import settings

    from postings.services.buffers import buffers_flush

    # As often as the beat job runs it (BUFFER_FLUSH_SECONDS, 2 by default).
    every = settings.CELERY_BEAT_SCHEDULE["buffers-flush"]["schedule"].total_seconds()
    start.wait()
    applied = 0
    while not stop.is_set():
        applied += buffers_flush()
        counts[index] = applied
        stop.wait(every)
    counts[index] = applied + buffers_flush()


def run_ours(args, kind: str, processes: int, ledger: dict, *, flusher: bool = False) -> float:
    ctx = mp.get_context("spawn")  # each process builds its own Django and connection
    start, stop = ctx.Event(), ctx.Event()
    counts = ctx.Array("q", processes + 1)
    procs = [
        ctx.Process(target=_worker, args=(args, kind, ledger, 1000 * processes + i, start, stop, counts, i))
        for i in range(processes)
    ]
    if flusher:
        procs.append(ctx.Process(target=_flusher, args=(args, start, stop, counts, processes)))
    for p in procs:
        p.start()
    time.sleep(3.0 + 0.3 * len(procs))  # let every process import Django and connect
    before = sum(counts[:processes])
    t0 = time.perf_counter()
    start.set()
    time.sleep(args.seconds)
    done = sum(counts[:processes]) - before
    elapsed = time.perf_counter() - t0
    stop.set()
    for p in procs:
        p.join(timeout=120)
        if p.exitcode:
            raise SystemExit(f"a {kind} process failed (exit {p.exitcode})")
    rate = done / elapsed
    extra = f", flusher applied {counts[processes]:,}" if flusher else ""
    log(f"  ours {kind:14} {processes} procs: {rate:8.0f} postings/s{extra}")
    return rate


def set_mode(args, account_no: str, mode: str) -> None:
    from accounts.models import Account
    from postings.services.buffers import posting_mode_set

    posting_mode_set(mode=mode, account=Account.objects.get(account_no=account_no), actor="bench")


# ------------------------------------------------------------------ reads ----


def reads(args, ledger: dict) -> dict[str, float]:
    from django.db import connection

    from accounts.models import Account
    from postings.selectors import account_balance, account_signed_turnover, recent_entries

    account = Account.objects.get(account_no=ledger["history"])

    def median_ms(fn, n=200) -> float:
        fn()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    figures = {
        "balance": median_ms(lambda: account_balance(account=account)),  # reads the row itself
        "last 50 entries": median_ms(lambda: list(recent_entries(account=account, limit=50))),
        "sum of legs": median_ms(lambda: account_signed_turnover(account=account), n=30),
    }
    for name, ms in figures.items():
        log(f"  read {name:26} {ms:7.2f} ms median ({account.entry_seq:,} entries)")
    connection.close()
    return figures


# ------------------------------------------------------------------ main ----


def main() -> None:
    args = parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    log(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    t_all = time.perf_counter()
    ensure_database(args)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), current_setting('fsync'), current_setting('synchronous_commit')")
        version, fsync, sync_commit = cursor.fetchone()
    log(f"server: {version.split(',')[0]}; fsync={fsync}, synchronous_commit={sync_commit}")
    log("setup:")
    ledger = build_ledger(args)
    # Fresh statistics, as autovacuum keeps them on a production server (it
    # is off on some machines this runs on, and the tables grow run by run).
    psql(args, "VACUUM ANALYZE", db=args.db)

    log("1. the limit (pgbench):")
    limit = pgbench(args, clients)
    log("2. ours, random accounts (posting_create), each count followed by the peer (django-hordak):")
    if not args.no_peer:
        made = peer_hordak.setup(args)
        log(f"  hordak: {made['accounts']:,} accounts in {args.hordak_db} ({made['opened']:,} opened now)")
    ours, hordak = {}, {}
    for c in clients:
        ours[c] = run_ours(args, "random", c, ledger)
        if not args.no_peer:
            hordak[c] = peer_hordak.run(args, c)
            log(f"  hordak transfer_to       {c} procs: {hordak[c]:8.0f} postings/s")
    log("3. ours, one hot account credited by every posting:")
    set_mode(args, ledger["fee"], "realtime")
    hot_rt = {c: run_ours(args, "hot real-time", c, ledger) for c in clients}
    set_mode(args, ledger["fee"], "buffered")
    hot_buf = {c: run_ours(args, "hot buffered", c, ledger, flusher=True) for c in clients}
    set_mode(args, ledger["fee"], "realtime")  # flushes what is left
    log("4. batch posting, batches of 100:")
    batch = {c: run_ours(args, "batch", c, ledger) for c in sorted({1, max(clients)})}
    log("5. reads:")
    read = reads(args, ledger)

    log("")
    log(
        f"{'clients':>7} | {'hordak':>6} {'ours/hordak':>11} | {'pgbench random':>14} | {'ours random':>11} {'ratio':>6} | "
        f"{'pgbench hot':>11} | {'hot real-time':>13} {'vs ours':>7} | {'hot buffered':>12} {'vs ours':>7} {'vs pgb hot':>10}"
    )
    for c in clients:
        pr, ph = limit[("random", c)], limit[("hot", c)]
        peer = f"{hordak[c]:6.0f} {ours[c] / hordak[c]:10.2f}x" if c in hordak else f"{'-':>6} {'-':>11}"
        log(
            f"{c:>7} | {peer} | {pr:14.0f} | {ours[c]:11.0f} {ours[c] / pr:6.0%} | {ph:11.0f} | "
            f"{hot_rt[c]:13.0f} {hot_rt[c] / ours[c]:7.0%} | {hot_buf[c]:12.0f} {hot_buf[c] / ours[c]:7.0%} "
            f"{hot_buf[c] / ph:10.0%}"
        )
    top = max(clients)
    log("")
    log("targets, measured in this run:")
    for c in hordak:
        log(
            f"  single postings against django-hordak, {c} process(es): {ours[c]:.0f} / {hordak[c]:.0f} = {ours[c] / hordak[c]:.2f}x"
        )
    log(
        f"  (informative) single postings at {top} processes against pgbench random: "
        f"{ours[top]:.0f} / {limit[('random', top)]:.0f} = {ours[top] / limit[('random', top)]:.0%}"
    )
    log(f"  buffered hot >= 90% of our random: {hot_buf[top]:.0f} / {ours[top]:.0f} = {hot_buf[top] / ours[top]:.0%}")
    log(
        f"  buffered hot above pgbench hot row: {hot_buf[top]:.0f} vs {limit[('hot', top)]:.0f} "
        f"= {hot_buf[top] / limit[('hot', top)]:.2f}x"
    )
    log(f"  real-time hot collapses: {hot_rt[top]:.0f} = {hot_rt[top] / ours[top]:.0%} of our random")
    for c, rate in batch.items():
        log(f"  batch posting (100 per call), {c} process(es) >= 5,000/s: {rate:.0f}/s")
    log(
        f"  balance read < 2 ms median: {read['balance']:.2f} ms; last 50 entries {read['last 50 entries']:.2f} ms; "
        f"summing the legs on read instead (peers' way) {read['sum of legs']:.2f} ms"
    )
    log(f"total bench time {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
