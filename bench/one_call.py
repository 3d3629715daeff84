"""A spike, not the product: what a posting that is one database call reaches.

bench/cost.py shows that the posting service as built cannot reach issue 6's
"50% of pgbench at 8 clients" on two cores: the Python client alone spends
more than the whole CPU budget. The design that could is a posting written by
one call of a PL/pgSQL function, with a client that only shapes the request.
This script measures that design before anyone decides on it:

- ``bench_post_transfer`` (created here, dropped at the end) does what
  ``posting_create`` does for a two-leg transfer between real-time accounts:
  takes the entity's open day under the calendar's share lock, locks both
  accounts in id order, refuses unknown, closed or blocked accounts and a
  currency or entity mismatch, writes the posting, both entries with their
  balance before and after and account sequence, and both balances. The
  tables' own constraints and triggers stay on: the account's sign rule
  (CHECK), the unique request number, the deferred balanced-entries checks.
- A thin client (psycopg, autocommit, one prepared ``SELECT`` per posting, the
  request's fingerprint computed in Python) posts random transfers from 1, 2
  and 8 processes, against pgbench's two-updates-two-inserts script in the
  same run, and against ``posting_create`` at 8 processes.

It writes real postings into ``ledger_tp`` (bench/throughput.py's database,
run that first), which the checks below then verify: every posting balanced,
every touched account's chain continuous.

    .venv/bin/python bench/one_call.py        # about 2 minutes
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cost import FLOOR_DB, MEMBERS, pgbench_tps, worker_rate  # noqa: E402
from throughput import PGBENCH_SETUP, bench_parser, django_setup, log, psql, run_ours  # noqa: E402

FUNCTION = """
CREATE OR REPLACE FUNCTION bench_post_transfer(
    p_source text, p_request_no text, p_fingerprint text, p_debit text, p_credit text, p_amount numeric,
    p_posted_by text
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    d accounts_account%ROWTYPE;
    c accounts_account%ROWTYPE;
    a accounts_account%ROWTYPE;
    found_n int := 0;
    day date;
    serial bigint;
    d_before numeric; d_after numeric; c_before numeric; c_after numeric;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'invalid amount %', p_amount USING ERRCODE = '22023';
    END IF;
    -- Both accounts locked in id order: two postings never deadlock.
    FOR a IN SELECT * FROM accounts_account WHERE account_no IN (p_debit, p_credit) AND posting_mode = 'realtime'
             ORDER BY id FOR NO KEY UPDATE LOOP
        found_n := found_n + 1;
        IF a.account_no = p_debit THEN d := a; END IF;
        IF a.account_no = p_credit THEN c := a; END IF;
    END LOOP;
    IF found_n < 2 OR p_debit = p_credit THEN
        RAISE EXCEPTION 'unknown account' USING ERRCODE = 'P0002';
    END IF;
    IF d.status IN ('closed', 'debit_blocked', 'blocked') OR c.status IN ('closed', 'credit_blocked', 'blocked') THEN
        RAISE EXCEPTION 'account blocked' USING ERRCODE = 'P0001';
    END IF;
    IF d.currency <> c.currency OR d.entity_id <> c.entity_id THEN
        RAISE EXCEPTION 'currency or entity mismatch' USING ERRCODE = 'P0001';
    END IF;
    SELECT open_date INTO day FROM postings_accountingcalendar WHERE entity_id = d.entity_id FOR KEY SHARE;

    d_before := d.balance;
    d_after := CASE WHEN d.category = 'asset' THEN d.balance + p_amount ELSE d.balance - p_amount END;
    c_before := c.balance;
    c_after := CASE WHEN c.category = 'asset' THEN c.balance - p_amount ELSE c.balance + p_amount END;

    INSERT INTO postings_posting (source_system, request_no, fingerprint, business_type, entity_id, currency,
                                  accounting_date, corrects_date, memo, external_ref, posted_by, reverses_id,
                                  created_at)
    VALUES (p_source, p_request_no, p_fingerprint, 'transfer', d.entity_id, d.currency, day, NULL, '', '',
            p_posted_by, NULL, now())
    RETURNING serial_no INTO serial;
    INSERT INTO postings_entry (posting_id, account_id, account_seq, direction, amount, currency, balance_before,
                                balance_after, frozen_before, frozen_after, business_type, accounting_date,
                                created_at)
    VALUES (serial, d.id, d.entry_seq + 1, 'D', p_amount, d.currency, d_before, d_after, d.frozen, d.frozen,
            'transfer', day, now()),
           (serial, c.id, c.entry_seq + 1, 'C', p_amount, c.currency, c_before, c_after, c.frozen, c.frozen,
            'transfer', day, now());
    -- The sign rule is the table's CHECK constraint (account_available_not_negative).
    UPDATE accounts_account SET balance = d_after, entry_seq = entry_seq + 1, updated_at = now() WHERE id = d.id;
    UPDATE accounts_account SET balance = c_after, entry_seq = entry_seq + 1, updated_at = now() WHERE id = c.id;
    RETURN serial;
END $$;
"""


def parse_args():
    p = bench_parser(__doc__, db_help="bench/throughput.py's database")
    p.add_argument("--clients", default="1,2,8")
    return p.parse_args()


def _one_call_worker(conninfo: str, members: list[str], seed: int, start, stop, counts, index: int) -> None:
    import psycopg

    rng = random.Random(seed)
    prefix = f"one-{seed}-{time.time_ns()}"
    n = refused = 0
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
        start.wait()
        while not stop.is_set():
            debit, credit = rng.sample(members, 2)
            request_no = f"{prefix}-{n}"
            fingerprint = hashlib.sha256(f"transfer|{debit}|{credit}|0.01".encode()).hexdigest()
            try:
                cur.execute(
                    "SELECT bench_post_transfer(%s, %s, %s, %s, %s, %s, %s)",
                    ("bench", request_no, fingerprint, debit, credit, "0.01", "bench"),
                    prepare=True,
                )
                cur.fetchone()
            except psycopg.errors.CheckViolation:
                refused += 1  # insufficient funds: the account's CHECK
            n += 1
            counts[index] = n


def run_one_call(args, members: list[str], clients: int) -> float:
    conninfo = f"host={args.host} port={args.port} user={args.user} dbname={args.db}"
    rate = worker_rate(args.seconds, clients, _one_call_worker, lambda i: (conninfo, members, 7000 + i))
    log(f"  one call            {clients} procs: {rate:8.0f} postings/s")
    return rate


def verify(args) -> str:
    """The spike's postings obey the ledger's rules like the service's do."""
    return psql(
        args,
        """
        WITH spike AS (SELECT serial_no FROM postings_posting WHERE request_no LIKE 'one-%'),
             unbalanced AS (
                SELECT e.posting_id FROM postings_entry e JOIN spike s ON s.serial_no = e.posting_id
                 GROUP BY e.posting_id HAVING SUM(CASE WHEN e.direction = 'D' THEN e.amount ELSE -e.amount END) <> 0),
             touched AS (SELECT DISTINCT e.account_id FROM postings_entry e JOIN spike s ON s.serial_no = e.posting_id),
             links AS (
                SELECT e.balance_before, LAG(e.balance_after) OVER w AS previous_after,
                       e.account_seq, LAG(e.account_seq) OVER w AS previous_seq
                  FROM postings_entry e JOIN touched t ON t.account_id = e.account_id
                 WHERE e.account_seq IS NOT NULL
                WINDOW w AS (PARTITION BY e.account_id ORDER BY e.account_seq))
        SELECT (SELECT COUNT(*) FROM spike) || ' postings, ' || (SELECT COUNT(*) FROM unbalanced) || ' unbalanced, '
               || (SELECT COUNT(*) FROM links WHERE previous_seq IS NOT NULL
                     AND (balance_before <> previous_after OR account_seq <> previous_seq + 1))
               || ' broken links in the touched accounts'' chains'""",
        db=args.db,
    )


def main() -> None:
    args = parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    log(f"{os.cpu_count()} cores, PostgreSQL at {args.host}:{args.port}, database {args.db}")
    django_setup(args)
    from accounts.models import Account

    members = list(
        Account.objects.filter(account_type__code="USER_CASH").values_list("account_no", flat=True)[:MEMBERS]
    )
    if len(members) < 2:
        raise SystemExit(f"{args.db} has no members: run bench/throughput.py first")
    psql(args, f"DROP DATABASE IF EXISTS {FLOOR_DB} WITH (FORCE)")
    psql(args, f"CREATE DATABASE {FLOOR_DB}")
    psql(args, PGBENCH_SETUP.format(n=MEMBERS), db=FLOOR_DB)
    psql(args, "VACUUM ANALYZE pgb_account", db=FLOOR_DB)
    psql(args, FUNCTION, db=args.db)
    try:
        rows = []
        for c in clients:
            pgb = pgbench_tps(args, c)
            log(f"  pgbench random      {c} clients: {pgb:8.0f} tx/s")
            rows.append((c, pgb, run_one_call(args, members, c)))
        ledger = {"members": members, "fee": None}
        service = run_ours(args, "random", max(clients), ledger)
    finally:
        psql(
            args, "DROP FUNCTION IF EXISTS bench_post_transfer(text, text, text, text, text, numeric, text)", db=args.db
        )
        psql(args, f"DROP DATABASE IF EXISTS {FLOOR_DB} WITH (FORCE)")
    log("")
    log(f"{'clients':>7} | {'pgbench random':>14} | {'one call':>8} {'ratio':>6}")
    for c, pgb, one in rows:
        log(f"{c:7} | {pgb:14.0f} | {one:8.0f} {one / pgb:6.0%}")
    top = rows[-1]
    log(f"posting_create at {top[0]} processes, same run: {service:.0f}/s = {service / top[1]:.0%} of pgbench")
    log(f"checks on the spike's postings: {verify(args)}")


if __name__ == "__main__":
    main()
