"""What a posting costs against the CPU budget of issue 6's first target.

"Single postings at 8 processes >= 50% of the pgbench random figure" gives
each posting, on a machine whose cores are all busy, at most
``cores / (pgbench tps / 2)`` of CPU, client and server together. This prints
that budget, then:

1. How fast any Python client can go: pgbench's own script run by bare
   psycopg from 2 and 8 processes, statement by statement (BEGIN, 4
   statements, COMMIT: 6 round trips) and as one statement in autocommit
   (1 round trip), against pgbench in the same run.
2. One process posting ``posting_create`` transfers: the CPU of the Python
   process and of its PostgreSQL backend (from /proc) per posting, first as
   shipped, then with the two integrity triggers (balanced entries,
   a posting has entries) disabled, to show what they cost. They are
   enabled again before the script ends, even on an error.

Uses the database of bench/throughput.py (``ledger_tp``; run that first).
Not a test: nothing is asserted. A throw-away database ``ledger_floor`` holds
the bare tables of part 1.

    .venv/bin/python bench/cost.py            # about 2 minutes
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from throughput import PGBENCH_RANDOM, PGBENCH_SETUP, bench_parser, django_setup, log, psql  # noqa: E402

FLOOR_DB = "ledger_floor"
MEMBERS = 100_000
# The same work as PGBENCH_RANDOM in one statement: one round trip, its own transaction.
ONE_STATEMENT = """
WITH lo AS (UPDATE pgb_account SET balance = balance - 0.01 WHERE id = %(lo)s RETURNING 1),
     hi AS (UPDATE pgb_account SET balance = balance + 0.01 WHERE id = %(hi)s RETURNING 1)
INSERT INTO pgb_entry (account_id, amount) VALUES (%(lo)s, -0.01), (%(hi)s, 0.01)"""
TRIGGERS = (("postings_entry", "entry_postings_balanced"), ("postings_posting", "posting_has_entries"))


def parse_args():
    p = bench_parser(__doc__, db_help="bench/throughput.py's database")
    p.add_argument("--postings", type=int, default=2000, help="postings per CPU measurement")
    return p.parse_args()


def dsn(args, db: str) -> str:
    return f"host={args.host} port={args.port} user={args.user} dbname={db}"


# ------------------------------------------------------ 1. a bare client ----


def pgbench_tps(args, clients: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(PGBENCH_RANDOM.format(n=MEMBERS))
        script.flush()
        out = subprocess.run(
            ["pgbench", "-h", args.host, "-p", args.port, "-U", args.user, "-n", "-f", script.name, "-c", str(clients),
             "-j", str(min(clients, os.cpu_count() or 1)), "-T", str(int(args.seconds)), FLOOR_DB],
            capture_output=True, text=True, check=True,
        ).stdout
    return next(float(line.split("=")[1].split()[0]) for line in out.splitlines() if line.startswith("tps ="))


def _bare_worker(conninfo: str, one_statement: bool, seed: int, start, stop, counts, index: int) -> None:
    import psycopg

    rng = random.Random(seed)
    n = 0
    with psycopg.connect(conninfo, autocommit=one_statement) as conn, conn.cursor() as cur:
        start.wait()
        while not stop.is_set():
            a, b = rng.randint(1, MEMBERS), rng.randint(1, MEMBERS)
            lo, hi = min(a, b), max(a, b)
            if one_statement:
                cur.execute(ONE_STATEMENT, {"lo": lo, "hi": hi}, prepare=True)
            else:  # psycopg sends BEGIN before the first statement
                cur.execute("UPDATE pgb_account SET balance = balance - 0.01 WHERE id = %s", (lo,), prepare=True)
                cur.execute("UPDATE pgb_account SET balance = balance + 0.01 WHERE id = %s", (hi,), prepare=True)
                cur.execute("INSERT INTO pgb_entry (account_id, amount) VALUES (%s, -0.01)", (lo,), prepare=True)
                cur.execute("INSERT INTO pgb_entry (account_id, amount) VALUES (%s, 0.01)", (hi,), prepare=True)
                conn.commit()
            n += 1
            counts[index] = n


def worker_rate(seconds: float, clients: int, target, args_for) -> float:
    """Work per second of ``clients`` spawned processes running ``target``:
    each connects, waits for the start, and counts what it has done into
    ``counts[index]`` until stopped. ``args_for(i)`` gives process i its own
    arguments, which come before (start, stop, counts, index)."""
    ctx = mp.get_context("spawn")
    start, stop = ctx.Event(), ctx.Event()
    counts = ctx.Array("q", clients)
    procs = [ctx.Process(target=target, args=(*args_for(i), start, stop, counts, i)) for i in range(clients)]
    for p in procs:
        p.start()
    time.sleep(2)  # connected and waiting
    begin = sum(counts)
    start.set()
    t0 = time.perf_counter()
    time.sleep(seconds)
    done, elapsed = sum(counts) - begin, time.perf_counter() - t0
    stop.set()
    for p in procs:
        p.join()
    return done / elapsed


def bare_tps(args, clients: int, *, one_statement: bool) -> float:
    return worker_rate(args.seconds, clients, _bare_worker, lambda i: (dsn(args, FLOOR_DB), one_statement, i))


# ------------------------------------------------- 2. CPU of one posting ----


def posting_cpu(args, members: list[str], *, label: str) -> tuple[float, float]:
    from django.db import connection

    from postings.services import Leg, posting_create

    rng = random.Random(label)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]

    def backend_seconds() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def post(n: int, tag: str) -> None:
        for i in range(n):
            a, b = rng.sample(members, 2)
            posting_create(request_no=f"cost-{tag}-{time.time_ns()}-{i}", business_type="transfer", posted_by="bench",
                           source_system="bench", legs=[Leg.debit(a, "0.01"), Leg.credit(b, "0.01")])

    post(200, "warm")  # prepared statements, caches
    r0, s0 = resource.getrusage(resource.RUSAGE_SELF), backend_seconds()
    post(args.postings, label)
    r1, s1 = resource.getrusage(resource.RUSAGE_SELF), backend_seconds()
    client = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / args.postings * 1000
    server = (s1 - s0) / args.postings * 1000
    log(f"  {label:28} client {client:.2f} ms, server {server:.2f} ms, together {client + server:.2f} ms")
    return client, server


def set_triggers(args, enabled: bool) -> None:
    action = "ENABLE" if enabled else "DISABLE"
    names = psql(args, "SELECT tgrelid::regclass || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal AND ("
                 + " OR ".join(f"(tgrelid = '{t}'::regclass AND tgname LIKE 'pgtrigger_{n}_%')" for t, n in TRIGGERS)
                 + ")", db=args.db).splitlines()
    if len(names) != len(TRIGGERS):
        raise SystemExit(f"expected the triggers {TRIGGERS}, found {names}")
    psql(args, "; ".join(f"ALTER TABLE {line.split()[0]} {action} TRIGGER {line.split()[1]}" for line in names),
         db=args.db)


def main() -> None:
    args = parse_args()
    cores = os.cpu_count() or 1
    log(f"{cores} cores, PostgreSQL at {args.host}:{args.port}")
    psql(args, f"DROP DATABASE IF EXISTS {FLOOR_DB} WITH (FORCE)")
    psql(args, f"CREATE DATABASE {FLOOR_DB}")
    psql(args, PGBENCH_SETUP.format(n=MEMBERS), db=FLOOR_DB)
    psql(args, "VACUUM ANALYZE pgb_account", db=FLOOR_DB)

    log("1. pgbench's script: pgbench, and bare Python clients (psycopg, prepared statements)")
    rows = []
    for clients in (2, 8):
        pgb = pgbench_tps(args, clients)
        six = bare_tps(args, clients, one_statement=False)
        one = bare_tps(args, clients, one_statement=True)
        rows.append((clients, pgb, six, one))
        log(f"  {clients} clients: pgbench {pgb:.0f}/s, Python 6 round trips {six:.0f}/s, 1 statement {one:.0f}/s")
    psql(args, f"DROP DATABASE IF EXISTS {FLOOR_DB} WITH (FORCE)")

    log("2. one process, posting_create transfers between random members, CPU per posting")
    django_setup(args)
    from accounts.models import Account

    members = list(Account.objects.filter(account_type__code="USER_CASH").values_list("account_no", flat=True)
                   [:MEMBERS])
    if len(members) < 2:
        raise SystemExit(f"{args.db} has no members: run bench/throughput.py first")
    client, server = posting_cpu(args, members, label="as shipped")
    set_triggers(args, enabled=False)
    try:
        bare_client, bare_server = posting_cpu(args, members, label="integrity triggers disabled")
    finally:
        set_triggers(args, enabled=True)

    pgb8 = rows[-1][1]
    budget = cores / (pgb8 / 2) * 1000
    log("")
    log(f"{'clients':>7} | {'pgbench':>7} | {'Python, 6 round trips':>21} {'ratio':>6} | {'Python, 1 statement':>19} "
        f"{'ratio':>6}")
    for clients, pgb, six, one in rows:
        log(f"{clients:7} | {pgb:7.0f} | {six:21.0f} {six / pgb:6.0%} | {one:19.0f} {one / pgb:6.0%}")
    log("")
    log(f"budget per posting for 50% of pgbench at 8 clients: {cores} cores / ({pgb8:.0f} / 2) = {budget:.2f} ms CPU")
    log(f"posting_create:                  client {client:.2f} + server {server:.2f} = {client + server:.2f} ms "
        f"({(client + server) / budget:.1f}x the budget; the server alone {server / budget:.0%})")
    log(f"  with the integrity triggers off: client {bare_client:.2f} + server {bare_server:.2f} ms "
        f"(the triggers: {server - bare_server:+.2f} ms of server time)")


if __name__ == "__main__":
    main()
