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

3. What the data model costs the server, with no Python at all: pgbench
   calling ``ledger_post`` from 8 clients, against pgbench's own script,
   then the same writes as plain statements, then ``ledger_post`` with every
   trigger and foreign key of entries and postings disabled, then also
   without their secondary indexes (all but the one by posting), on a
   throw-away copy of the benchmark's database (``ledger_floor_copy``),
   alternating with pgbench's script, two rounds.

Uses the database of bench/throughput.py (``ledger_tp``; run that first).
Not a test: nothing is asserted. A throw-away database ``ledger_floor`` holds
the bare tables of part 1.

    .venv/bin/python bench/cost.py            # about 4 minutes
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
TRIGGERS = (("postings_entry", "entries_balanced_and_chained"), ("postings_posting", "posting_has_entries"))


def parse_args():
    p = bench_parser(__doc__, db_help="bench/throughput.py's database")
    p.add_argument("--postings", type=int, default=2000, help="postings per CPU measurement")
    return p.parse_args()


def dsn(args, db: str) -> str:
    return f"host={args.host} port={args.port} user={args.user} dbname={db}"


# ------------------------------------------------------ 1. a bare client ----


def pgbench_tps(
    args, clients: int, *, script: str = "", db: str = FLOOR_DB, prepared: bool = False, pgoptions: str = ""
) -> float:
    """pgbench running ``script`` (default: pgbench's own, as bench/throughput.py
    runs it) from ``clients`` clients for --seconds: transactions/s."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as file:
        file.write(script or PGBENCH_RANDOM.format(n=MEMBERS))
        file.flush()
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
                "-M",
                "prepared" if prepared else "simple",
                "-f",
                file.name,
                "-c",
                str(clients),
                "-j",
                str(min(clients, os.cpu_count() or 1)),
                "-T",
                str(int(args.seconds)),
                db,
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PGOPTIONS": pgoptions},
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
            posting_create(
                request_no=f"cost-{tag}-{time.time_ns()}-{i}",
                business_type="transfer",
                posted_by="bench",
                source_system="bench",
                legs=[Leg.debit(a, "0.01"), Leg.credit(b, "0.01")],
            )

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
    names = psql(
        args,
        "SELECT tgrelid::regclass || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal AND ("
        + " OR ".join(f"(tgrelid = '{t}'::regclass AND tgname = '{n}')" for t, n in TRIGGERS)
        + ")",
        db=args.db,
    ).splitlines()
    if len(names) != len(TRIGGERS):
        raise SystemExit(f"expected the triggers {TRIGGERS}, found {names}")
    psql(
        args,
        "; ".join(f"ALTER TABLE {line.split()[0]} {action} TRIGGER {line.split()[1]}" for line in names),
        db=args.db,
    )


# ------------------------------------- 3. the data model, without Python ----

COPY_DB = "ledger_floor_copy"
# Two different members, n in 1..N (bench_member numbers the benchmark's member cash accounts).
_PAIR = """\\set a random(1, {n})
\\set b (:a + random(1, {n} - 1) - 1) % {n} + 1
"""
LEDGER_POST = (
    _PAIR
    + """SELECT * FROM ledger_post('floor', md5(random()::text), 'f', 'transfer', '{currency}', '',
    '', 'floor', ARRAY[(SELECT account_no FROM bench_member WHERE n = :a),
                       (SELECT account_no FROM bench_member WHERE n = :b)],
    '{{D,C}}'::text[], '{{0.01,0.01}}'::numeric[], NULL, NULL);
"""
)
# The same writes as ledger_post, as statements: the calendar's share lock, the
# two balances (in id order), the posting, its two entries.
PLAIN = (
    _PAIR
    + """\\set lo least(:a, :b)
\\set hi greatest(:a, :b)
BEGIN;
SELECT open_date AS d FROM postings_accountingcalendar WHERE entity_id = {entity} FOR KEY SHARE \\gset
UPDATE accounts_account SET balance = balance - 0.01, entry_seq = entry_seq + 1, updated_at = now()
 WHERE id = (SELECT id FROM bench_member WHERE n = :lo) RETURNING id AS ia, balance AS ba, entry_seq AS sa \\gset
UPDATE accounts_account SET balance = balance + 0.01, entry_seq = entry_seq + 1, updated_at = now()
 WHERE id = (SELECT id FROM bench_member WHERE n = :hi) RETURNING id AS ib, balance AS bb, entry_seq AS sb \\gset
INSERT INTO postings_posting (source_system, request_no, fingerprint, business_type, entity_id, currency,
    accounting_date, memo, external_ref, posted_by, created_at)
VALUES ('floor', md5(random()::text), 'f', 'transfer', {entity}, '{currency}', :d, '', '', 'floor', now())
RETURNING serial_no AS p \\gset
INSERT INTO postings_entry (posting_id, account_id, account_seq, direction, amount, currency, balance_before,
    balance_after, frozen_before, frozen_after, business_type, accounting_date, created_at)
VALUES (:p, :ia, :sa, 'D', 0.01, '{currency}', :ba + 0.01, :ba, 0, 0, 'transfer', :d, now()),
       (:p, :ib, :sb, 'C', 0.01, '{currency}', :bb - 0.01, :bb, 0, 0, 'transfer', :d, now());
END;
"""
)
_SECONDARY_INDEXES = """
SELECT i.indexrelid::regclass::text, c.conname, i.indrelid::regclass::text
  FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid
 WHERE i.indrelid IN ('postings_posting'::regclass, 'postings_entry'::regclass) AND NOT i.indisprimary
   AND NOT (i.indisunique AND pg_get_indexdef(i.indexrelid) NOT LIKE '%(reverses_id)%')
   AND pg_get_indexdef(i.indexrelid) NOT LIKE '%(posting_id)%'
"""


def data_model_rates(args) -> list[tuple[str, list[float], list[float]]]:
    """(variant, its rates, pgbench's script's rates in between) at 8 clients."""
    psql(args, f"DROP DATABASE IF EXISTS {COPY_DB} WITH (FORCE)")
    psql(args, f"CREATE DATABASE {COPY_DB} TEMPLATE {args.db}")
    try:
        psql(args, PGBENCH_SETUP.format(n=MEMBERS), db=COPY_DB)
        psql(
            args,
            """CREATE TABLE bench_member AS
                      SELECT row_number() OVER (ORDER BY a.id) AS n, a.id, a.account_no, a.currency, a.entity_id
                        FROM accounts_account a JOIN accounts_accounttype t ON t.id = a.account_type_id
                       WHERE t.code = 'USER_CASH';
                      CREATE UNIQUE INDEX ON bench_member (n)""",
            db=COPY_DB,
        )
        psql(args, "VACUUM ANALYZE", db=COPY_DB)
        n, currency, entity = psql(
            args, "SELECT count(*), min(currency), min(entity_id) FROM bench_member", db=COPY_DB
        ).split("|")
        scripts = {
            name: script.format(n=n, currency=currency, entity=entity)
            for name, script in (("ledger_post", LEDGER_POST), ("plain", PLAIN))
        }

        def rate(name: str) -> float:
            if name == "pgbench":  # pgbench's script as bench/throughput.py runs it
                return pgbench_tps(args, 8, db=COPY_DB)
            # The function as the service calls it: prepared, in sessions started as config.settings starts them.
            return pgbench_tps(
                args,
                8,
                script=scripts[name],
                db=COPY_DB,
                prepared=True,
                pgoptions="-c plan_cache_mode=force_generic_plan",
            )

        variants = [("ledger_post, as shipped", "ledger_post"), ("the same writes as plain statements", "plain")]
        results = []

        def measure(label: str, script: str) -> None:
            mine, theirs = [], []
            for _ in range(2):
                theirs.append(rate("pgbench"))
                mine.append(rate(script))
            results.append((label, mine, theirs))
            rates, pgbench = " ".join(f"{r:6.0f}" for r in mine), " ".join(f"{r:.0f}" for r in theirs)
            log(f"  {label:58} {rates}   (pgbench {pgbench})")

        for label, script in variants:
            measure(label, script)
        psql(
            args,
            "ALTER TABLE postings_entry DISABLE TRIGGER ALL; ALTER TABLE postings_posting DISABLE TRIGGER ALL",
            db=COPY_DB,
        )
        measure("ledger_post, triggers and foreign keys disabled", "ledger_post")
        for index, constraint, table in (
            line.split("|") for line in psql(args, _SECONDARY_INDEXES, db=COPY_DB).splitlines()
        ):
            psql(
                args,
                f"ALTER TABLE {table} DROP CONSTRAINT {constraint}" if constraint else f"DROP INDEX {index}",
                db=COPY_DB,
            )
        measure("ledger_post, also without the secondary indexes", "ledger_post")
        return results
    finally:
        psql(args, f"DROP DATABASE IF EXISTS {COPY_DB} WITH (FORCE)")


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

    members = list(
        Account.objects.filter(account_type__code="USER_CASH").values_list("account_no", flat=True)[:MEMBERS]
    )
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
    log(
        f"{'clients':>7} | {'pgbench':>7} | {'Python, 6 round trips':>21} {'ratio':>6} | {'Python, 1 statement':>19} "
        f"{'ratio':>6}"
    )
    for clients, pgb, six, one in rows:
        log(f"{clients:7} | {pgb:7.0f} | {six:21.0f} {six / pgb:6.0%} | {one:19.0f} {one / pgb:6.0%}")
    log("")
    log(f"budget per posting for 50% of pgbench at 8 clients: {cores} cores / ({pgb8:.0f} / 2) = {budget:.2f} ms CPU")
    log(
        f"posting_create:                  client {client:.2f} + server {server:.2f} = {client + server:.2f} ms "
        f"({(client + server) / budget:.1f}x the budget; the server alone {server / budget:.0%})"
    )
    log(
        f"  with the integrity triggers off: client {bare_client:.2f} + server {bare_server:.2f} ms "
        f"(the triggers: {server - bare_server:+.2f} ms of server time)"
    )

    log("")
    log("3. the data model without Python: pgbench at 8 clients on a copy of the database, transactions/s")
    from django.db import connection

    connection.close()  # the copy needs the benchmark's database without sessions
    for label, mine, theirs in data_model_rates(args):
        log(f"  {label:58} {min(mine) / max(theirs):4.0%} - {max(mine) / min(theirs):4.0%} of pgbench's script")


if __name__ == "__main__":
    main()
