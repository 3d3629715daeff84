"""What the entries' hash chain costs a posting (issue 22 section 5): postings
per second and server CPU per posting at N processes, with the chain's
trigger (postings/sql/entry_hash.sql) and without it, alternating, in the
same window.

    .venv/bin/python bench/hashchain.py                     # 8 processes, 3 rounds of 10 s (+ the build, the first time)
    .venv/bin/python bench/hashchain.py --members 2000 --history 0 --seconds 3 --rounds 1 --db ledger_hc_quick  # quick

"With" is bench/throughput.py's database (``--db``, built as that script
builds it: ``--members`` funded member accounts). "Without" is a throw-away
copy of it (``<db>_nohash``) where the trigger entry_hash_chained is disabled
and the column gets a constant default instead, so that the chain guard
(which refuses an applied entry without a hash) passes as it did before the
chain: what is left is the posting path as it was before issue 22 section 5.
Both take the same work: two-leg transfers of 0.01 between random members
through ``posting_create`` (the one call, ledger_post), one transaction each,
from ``--processes`` processes (each its own interpreter and connection).

Server CPU: the user + system time of the PostgreSQL backends of the
posting processes (from /proc; the server runs on this machine), divided by
the postings made. The rounds alternate with and without, so that a drift
of the shared machine's load falls on both; the medians are compared.
Not a test: nothing is asserted.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from throughput import AMOUNT, bench_parser, build_ledger, ensure_database, log, psql  # noqa: E402

WITHOUT_SUFFIX = "_nohash"


def parse_args():
    p = bench_parser(__doc__)
    p.set_defaults(db="ledger_tp")
    p.add_argument("--processes", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3, help="rounds, each with then without the chain")
    p.add_argument("--members", type=int, default=100_000)
    p.add_argument("--history", type=int, default=0, help="(bench/throughput.py's history account; unused here)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the database (and its copy)")
    return p.parse_args()


def _backend_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _worker(args, db: str, members: list[str], seed: int, start, stop, counts, pids, index: int) -> None:
    args.db = db
    from throughput import django_setup

    django_setup(args)
    from django.db import connection

    from postings.services import Leg, posting_create

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pids[index] = cursor.fetchone()[0]
    rng = random.Random(seed)
    prefix = f"hc-{seed}-{time.time_ns()}"
    n = 0
    start.wait()
    while not stop.is_set():
        a, b = rng.sample(members, 2)
        posting_create(
            request_no=f"{prefix}-{n}",
            business_type="transfer",
            legs=[Leg.debit(a, AMOUNT), Leg.credit(b, AMOUNT)],
            posted_by="bench",
            source_system="bench",
        )
        n += 1
        counts[index] = n


def measure(args, db: str, members: list[str], seed: int) -> tuple[float, float]:
    """(postings/s, server CPU ms per posting) of --processes posting into ``db`` for --seconds."""
    ctx = mp.get_context("spawn")
    start, stop = ctx.Event(), ctx.Event()
    counts, pids = ctx.Array("q", args.processes), ctx.Array("q", args.processes)
    procs = [
        ctx.Process(target=_worker, args=(args, db, members, seed + i, start, stop, counts, pids, i))
        for i in range(args.processes)
    ]
    for p in procs:
        p.start()
    deadline = time.monotonic() + 120
    while not all(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not all(pids):
        raise SystemExit("the posting processes did not connect")
    cpu0, before = sum(_backend_seconds(pid) for pid in pids), sum(counts)
    t0 = time.perf_counter()
    start.set()
    time.sleep(args.seconds)
    done, elapsed = sum(counts) - before, time.perf_counter() - t0
    cpu = sum(_backend_seconds(pid) for pid in pids) - cpu0  # read before the processes end
    stop.set()
    for p in procs:
        p.join(timeout=120)
        if p.exitcode:
            raise SystemExit(f"a posting process failed (exit {p.exitcode})")
    return done / elapsed, cpu / max(done, 1) * 1000


def make_copy(args, without: str) -> None:
    """The database without the chain: a copy, the trigger off, a constant hash by default."""
    exists = psql(args, f"SELECT 1 FROM pg_database WHERE datname = '{without}'")
    if exists and not args.rebuild:
        return
    psql(args, f"DROP DATABASE IF EXISTS {without} WITH (FORCE)")
    psql(args, f"CREATE DATABASE {without} TEMPLATE {args.db}")
    psql(
        args,
        "ALTER TABLE postings_entry DISABLE TRIGGER entry_hash_chained;"
        " ALTER TABLE postings_entry ALTER COLUMN entry_hash SET DEFAULT '\\x00'::bytea",
        db=without,
    )
    log(f"  {without}: a copy of {args.db} without the chain's trigger")


def main() -> None:
    args = parse_args()
    db = args.db
    log(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ensure_database(args)
    ledger = build_ledger(args)
    members = ledger["members"]
    without = f"{db}{WITHOUT_SUFFIX}"
    make_copy(args, without)
    psql(args, "VACUUM ANALYZE", db=db)
    psql(args, "VACUUM ANALYZE", db=without)
    rates: dict[str, list[tuple[float, float]]] = {"with the chain": [], "without": []}
    for r in range(args.rounds):
        for label, target in (("with the chain", db), ("without", without)):
            rate, cpu = measure(args, target, members, seed=1000 * r + (0 if target == db else 500))
            rates[label].append((rate, cpu))
            log(
                f"  round {r + 1} {label:15} {args.processes} procs: {rate:8.0f} postings/s, server {cpu:.3f} ms/posting"
            )
    median = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in rates.items()}
    (rw, cw), (ro, co) = median["with the chain"], median["without"]
    log(
        f"\nmedians at {args.processes} processes: with the chain {rw:.0f}/s, {cw:.3f} ms server CPU per posting; "
        f"without {ro:.0f}/s, {co:.3f} ms.\nthe chain: throughput {rw / ro:.2f}x, server CPU per posting "
        f"{(cw / co - 1) * 100:+.1f} %"
    )
    log(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
