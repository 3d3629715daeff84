#!/usr/bin/env python3
"""The peer for single postings: django-hordak doing bench/throughput.py's transfers.

    .venv/bin/python bench/throughput.py ...    # calls this; see bench/README.md

Two halves in one file:

- ``ensure_venv()``, ``setup()`` and ``run()`` run in our venv (they import
  nothing of Django): they make ``bench/.venv-hordak`` once (``python3 -m venv``
  and ``pip install`` of django-hordak with a Django it supports), and call
  this file with that venv's interpreter. django-hordak never becomes a
  dependency of the application.
- ``main()`` runs in the hordak venv, with the settings module
  ``bench/hordak_peer/settings.py``, against its own database on the same
  server as ours:
  - ``setup --members N``: create the database, migrate, open N asset
    accounts (root accounts, currency CNY; inserted in bulk with their tree
    fields set, as 100,000 saves through django-mptt would take minutes).
  - ``run --clients C --seconds S``: C processes, each its own interpreter
    and connection, post two-leg transfers of 0.01 between random accounts
    among the N, one database transaction per transfer, through hordak's own
    API as its docs show it: ``with transaction.atomic():
    a.transfer_to(b, Money(...))`` (a Transaction row and two Leg rows; its
    deferred constraint trigger ``check_leg`` checks per leg that the
    transaction's legs sum to zero, at COMMIT). Prints one JSON line with the
    rate.

What hordak does per transfer, against ours: hordak keeps no balance on the
account (a balance is the sum of its legs, computed on read), so it locks
no account row, refuses nothing for lack of funds, writes no running
balance, no idempotency key and no accounting day. Ours does all of these
(``posting_create``). The peer is what a Django team would otherwise use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
VENV = BENCH / ".venv-hordak"
PYTHON = VENV / "bin" / "python"
# django-hordak 2.0 declares django>=4; the peer runs on the Django this
# project runs (5.2), with psycopg 3 as ours.
REQUIREMENTS = ["django-hordak==2.0.0", "Django>=5.2,<5.3", "psycopg[binary]>=3.1"]
AMOUNT = "0.01"


# ---------------------------------------------------- called from our venv ----


def ensure_venv(log=print) -> Path:
    if not PYTHON.exists():
        log(f"  creating {VENV.relative_to(BENCH.parent)} (django-hordak, once) ...")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)
    return PYTHON


def _call(args, *argv: str) -> dict:
    env = dict(os.environ)
    env["HORDAK_DATABASE_URL"] = f"postgres://{args.user}@{args.host}:{args.port}/{args.hordak_db}"
    env["DJANGO_SETTINGS_MODULE"] = "hordak_peer.settings"
    env["PYTHONPATH"] = str(BENCH)
    env.pop("DATABASE_URL", None)
    out = subprocess.run(
        [str(ensure_venv()), str(Path(__file__).resolve()), *argv], env=env, capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(f"hordak peer failed ({' '.join(argv)}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def setup(args) -> dict:
    return _call(args, "setup", "--members", str(args.members))


def run(args, clients: int) -> float:
    return _call(args, "run", "--clients", str(clients), "--seconds", str(args.seconds))["rate"]


# ---------------------------------------------------- in the hordak venv ----


def _django():
    import django

    django.setup()


def _create_database() -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            c.execute(f'CREATE DATABASE "{db["NAME"]}"')


def cmd_setup(members: int) -> dict:
    _create_database()
    _django()
    from django.core.management import call_command
    from django.db import connection, transaction
    from hordak.models import Account, AccountType

    call_command("migrate", verbosity=0)
    have = Account.objects.filter(name__startswith="bench ").count()
    t0 = time.perf_counter()
    if have < members:
        start = (Account.objects.order_by("-tree_id").values_list("tree_id", flat=True).first() or 0) + 1
        with transaction.atomic():
            for lo in range(have, members, 10_000):
                hi = min(lo + 10_000, members)
                Account.objects.bulk_create(
                    [
                        Account(
                            name=f"bench {i}",
                            type=AccountType.asset,
                            currencies=["CNY"],
                            tree_id=start + i - have,
                            lft=1,
                            rght=2,
                            level=0,
                        )
                        for i in range(lo, hi)
                    ]
                )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"accounts": max(have, members), "opened": max(0, members - have), "seconds": time.perf_counter() - t0}


def _worker(members: int, seed: int, ready, start, stop, counts, index: int) -> None:
    import random

    _django()
    from django.db import transaction
    from djmoney.money import Money
    from hordak.models import Account

    accounts = list(Account.objects.filter(name__startswith="bench ").order_by("id")[:members])
    rng = random.Random(seed)
    amount = Money(AMOUNT, "CNY")
    n = 0
    ready[index] = 1
    start.wait()
    while not stop.is_set():
        a, b = rng.sample(accounts, 2)
        with transaction.atomic():
            a.transfer_to(b, amount, description="bench transfer")
        n += 1
        counts[index] = n


def cmd_run(clients: int, seconds: float) -> dict:
    import multiprocessing as mp

    _django()
    from hordak.models import Account

    members = Account.objects.filter(name__startswith="bench ").count()
    ctx = mp.get_context("spawn")
    start, stop = ctx.Event(), ctx.Event()
    counts, ready = ctx.Array("q", clients), ctx.Array("b", clients)
    procs = [
        ctx.Process(target=_worker, args=(members, 2000 * clients + i, ready, start, stop, counts, i))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    # Start the clock when every process has Django, its connection and the
    # accounts loaded (100,000 model instances take a few seconds).
    deadline = time.monotonic() + 300
    while sum(ready) < clients:
        if time.monotonic() > deadline or any(p.exitcode for p in procs):
            stop.set()
            raise SystemExit("the hordak processes did not start")
        time.sleep(0.1)
    before = sum(counts)
    t0 = time.perf_counter()
    start.set()
    time.sleep(seconds)
    done = sum(counts) - before
    elapsed = time.perf_counter() - t0
    stop.set()
    for p in procs:
        p.join(timeout=120)
        if p.exitcode:
            raise SystemExit(f"a hordak process failed (exit {p.exitcode})")
    return {"clients": clients, "rate": done / elapsed, "transfers": done}


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--members", type=int, required=True)
    r = sub.add_parser("run")
    r.add_argument("--clients", type=int, required=True)
    r.add_argument("--seconds", type=float, required=True)
    args = p.parse_args()
    result = cmd_setup(args.members) if args.cmd == "setup" else cmd_run(args.clients, args.seconds)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
