#!/usr/bin/env python3
"""Channel reconciliation benchmark (issue 5, "Benchmark"): matching a
statement of N lines against N ledger records on PostgreSQL.

    .venv/bin/python bench/recon.py                  # 1,000,000 lines against 1,000,000 ledger records
    .venv/bin/python bench/recon.py --lines 20000    # quick mode, a few seconds

It prints figures and ratios; it asserts nothing and is not a test. See
bench/README.md for what is measured and the figures of the last run.

What it does:

1. Makes (or reuses) a dedicated database, ``recon_bench`` by default
   (``recon_bench_<lines>`` for other sizes), runs ``manage.py migrate`` and
   generates, set-based in SQL with ``session_replication_role = replica``
   (no triggers, no foreign-key checks: a throw-away database only; the
   result is checked in SQL afterwards, as bench/eod.py does): member wallets
   funded on D-2, and on D-1 (N/10) and D (N) ledger records of the sample
   payment company ``epaysim``, each a recharge (Dr clearing / Cr wallet,
   85 %) or a payout (Dr wallet / Cr clearing, 15 %) posting carrying its
   serial number in ``external_ref``, with every account's ``account_seq``
   and balance chain. The statement of D-1 is loaded by SQL and matched
   (``channel_recon_run``) as setup. The statements differ from the ledger
   on purpose, about 0.5 % of each kind: long lines, short records (posted
   early), pending records (posted in the 30 minutes before the cut),
   amount mismatches, lines whose status moved no money, plus late arrivals
   of D-1's differences on D (pending records of D-1 in D's statement, long
   lines of D-1 booked on D, some with another amount; the rest of D-1's
   pending records become short on D).
2. Puts the database back to that state (everything D's import and runs
   wrote is removed, D-1's differences restored from a copy).
3. Imports D's statement, a real CSV file in the sample payment company's
   layout (written once from the generated lines, ``var/bench-recon/``),
   through ``statement_import`` in a subprocess (``--sql-lines``: inserts
   the same lines by SQL instead, and skips this measurement).
4. Times a plain SQL join of the same data: D's statement lines joined with
   the postings by serial number and their entries on the clearing account,
   counted and summed on the server (best of 3).
5. Runs ``channel_recon_run`` for D in a subprocess, twice (the first run,
   then a re-run, which must change nothing), and reports wall time, the
   call alone, the subprocess's peak RSS (``wait4``'s ``ru_maxrss``, the
   kernel's high-water mark), and the outcome counts against what was
   planted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eod import (  # noqa: E402
    PYTHON,
    ROOT,
    SEQUENCES_SQL,
    Step,
    add_server_arguments,
    bulk_load_session,
    connect,
    django_env,
    log,
    machine,
    prepare_data,
    run_measured,
    server,
    verify,
)
from eod import VERIFY_SQL as EOD_CHECKS  # noqa: E402

GENERATOR_VERSION = 1
TIME_TARGET_S = 60.0
MEMORY_TARGET_MB = 500.0
CHANNEL = "epaysim"
TZ = "Asia/Shanghai"
WALLET_OPENING = "100000.00"
# Share of D's (and D-1's) records or lines planted as each kind of difference.
RATE = {"short": 0.005, "pending": 0.005, "mismatch": 0.005, "long": 0.005, "skipped": 0.001}
WINDOW_SECONDS = 1800  # the channel's pending window (30 minutes) before the cut at midnight
HEADER = [
    "#易付通商户对账单",
    "#商户号:888800001234",
    "#账单日期:{day}",
    "#" + "-" * 40,
    "交易流水号,交易时间,商户订单号,业务类型,金额(元),手续费(元),交易状态",
]
FIRST_LINE_NO = len(HEADER) + 1


# --------------------------------------------------------------------------- generation


def sizes_match(meta: dict | None, args) -> bool:
    return (
        bool(meta)
        and meta.get("version") == GENERATOR_VERSION
        and meta.get("lines") == args.lines
        and meta.get("day") == args.day.isoformat()
    )


def read_meta(conn) -> dict | None:
    if not conn.execute("SELECT to_regclass('bench_meta')").fetchone()[0]:
        return None
    row = conn.execute("SELECT meta FROM bench_meta").fetchone()
    return row[0] if row else None


def plan_sizes(n: int) -> dict:
    """How many records and lines of each kind, for D-1 (n/10) and D (n)."""
    n1 = max(n // 10, 200)
    long1 = max(round(n1 * RATE["long"]), 10)
    # D-1's long lines j = 1..long1: j % 10 < 5 booked on D with the same amount, j % 10 = 5 with another.
    late_booked = sum(1 for j in range(1, long1 + 1) if j % 10 <= 5)
    return {
        "n1": n1,
        "long1": long1,
        "skipped1": max(round(n1 * RATE["skipped"]), 1),
        "late_booked": late_booked,
        "n_base": n - late_booked,
        "skipped": max(round(n * RATE["skipped"]), 1),
        "wallets": max(n // 100, 100),
    }


def generate(args) -> None:
    n, day = args.lines, args.day
    d1, d0 = day - timedelta(days=1), day - timedelta(days=2)
    sizes = plan_sizes(n)
    ws = WINDOW_SECONDS / 86399
    t0 = time.perf_counter()
    log(
        f"generating {n:,} ledger records and statement lines on {day} ({sizes['n1']:,} on {d1}, "
        f"wallets funded on {d0})"
    )
    with connect(args) as conn:
        if conn.execute("SELECT count(*) FROM accounts_account").fetchone()[0]:
            sys.exit(f"database {args.db} already has accounts; run with --regenerate")
        step = Step(conn)
        bulk_load_session(conn)
        conn.execute("SET max_parallel_workers_per_gather = 0")  # setseed: one process draws the numbers
        conn.execute("SELECT setseed(0.5)")
        entity = conn.execute("SELECT id FROM accounts_entity WHERE code = 'MAIN'").fetchone()[0]
        types = dict(conn.execute("SELECT code, id FROM accounts_accounttype").fetchall())
        channel = conn.execute("SELECT id FROM reports_channel WHERE code = %s", [CHANNEL]).fetchone()[0]
        p = {
            "E": entity,
            "CH": channel,
            "D": day,
            "D1": d1,
            "D0": d0,
            "W": sizes["wallets"],
            "N1": sizes["n1"],
            "NB": sizes["n_base"],
            "LONG1": sizes["long1"],
            "T_CASH": types["USER_CASH"],
            "T_CH": types["CHANNEL_CLEARING"],
            "OPEN": WALLET_OPENING,
            "WS": ws,
            "TZ": TZ,
            "P_PENDING": RATE["pending"] / ws,
            "P_SHORT": RATE["short"] / (1 - ws),
            "P_MIS": RATE["mismatch"],
            "SK1": sizes["skipped1"],
            "SK": sizes["skipped"],
            "N": n,
            "WIN": WINDOW_SECONDS,
        }
        # --- accounts: 1 = the channel's clearing account, 2 = another channel's (funds the wallets), 3.. wallets
        step(
            "customers and members",
            """
            INSERT INTO accounts_customer (id, kind, name, id_type, id_no, created_at)
            SELECT i, 'person', 'Bench customer ' || i, 'resident_id', 'R' || lpad(i::text, 17, '0'),
                   %(D0)s::timestamp AT TIME ZONE %(TZ)s FROM generate_series(1, %(W)s) i;
            INSERT INTO accounts_member (id, member_no, customer_id, name, platform, created_at)
            SELECT i, 'M' || lpad(i::text, 11, '0'), i, 'Bench member ' || i, 'wallet',
                   %(D0)s::timestamp AT TIME ZONE %(TZ)s FROM generate_series(1, %(W)s) i""",
            p,
        )
        step(
            "temp: accounts",
            """
            CREATE TEMP TABLE b_acct AS
            SELECT j AS id, NULL::bigint AS member_id, %(T_CH)s AS type_id, 'internal'::text AS category,
                   true AS allow_negative FROM generate_series(1, 2) j
            UNION ALL
            SELECT 2 + i, i, %(T_CASH)s, 'liability', false FROM generate_series(1, %(W)s) i""",
            p,
        )
        # --- the records of D-1 and D: serial, direction, amount, wallet, time, what the statement does with it
        step(
            "bench_rec: ledger records of D-1 and D",
            """
            CREATE TABLE bench_rec AS
            WITH g AS (
                SELECT d.day, d.n, i, random() AS r_dir, random() AS r_kind, random() AS r_mis,
                       (round((random() * 9999 + 1)::numeric) / 100)::numeric(20, 2) AS amount,
                       floor(random() * %(W)s)::int AS w
                  FROM (VALUES (%(D1)s::date, %(N1)s), (%(D)s::date, %(NB)s)) d(day, n), generate_series(1, d.n) i)
            SELECT day, i, 'YF' || to_char(day, 'YYYYMMDD') || lpad(i::text, 10, '0') AS serial,
                   CASE WHEN r_dir < 0.85 THEN 'in' ELSE 'out' END AS direction, amount, 3 + w AS wallet,
                   (day::timestamp + (i - 1) * interval '86399 seconds' / n) AT TIME ZONE %(TZ)s AS created_at,
                   CASE WHEN (i - 1)::bigint * 86399 >= (86400 - %(WIN)s)::bigint * n THEN  -- posted within the window
                             CASE WHEN r_kind < %(P_PENDING)s THEN 'pending' WHEN r_mis < %(P_MIS)s THEN 'mismatch'
                                  ELSE 'ok' END
                        WHEN r_kind < %(P_SHORT)s THEN 'short' WHEN r_mis < %(P_MIS)s THEN 'mismatch'
                        ELSE 'ok' END AS kind
              FROM g""",
            p,
        )
        # D-1's long lines: half booked on D with the same amount, a tenth with another amount.
        step(
            "bench_long1: D-1's long lines",
            """
            CREATE TABLE bench_long1 AS
            SELECT j, 'YF' || to_char(%(D1)s::date, 'YYYYMMDD') || 'L' || lpad(j::text, 9, '0') AS serial,
                   CASE WHEN random() < 0.85 THEN 'in' ELSE 'out' END AS direction,
                   (round((random() * 9999 + 1)::numeric) / 100)::numeric(20, 2) AS amount,
                   (%(D1)s::timestamp + random() * interval '86399 seconds') AT TIME ZONE %(TZ)s AS txn_time,
                   CASE WHEN j %% 10 < 5 THEN 'late_booked' WHEN j %% 10 = 5 THEN 'late_booked_other'
                        ELSE 'never' END AS fate
              FROM generate_series(1, %(LONG1)s) j;
            INSERT INTO bench_rec (day, i, serial, direction, amount, wallet, created_at, kind)
            SELECT %(D)s, %(NB)s + row_number() OVER (ORDER BY j), serial, direction,
                   CASE WHEN fate = 'late_booked' THEN amount ELSE amount + 1 END,
                   3 + floor(random() * %(W)s)::int,
                   (%(D)s::timestamp + j * interval '1 second') AT TIME ZONE %(TZ)s, fate
              FROM bench_long1 WHERE fate <> 'never'""",
            p,
        )
        # --- postings and entries: the wallets' openings on D-2, then every record in time order
        step(
            "temp: legs",
            """
            CREATE TEMP TABLE b_post AS
            SELECT row_number() OVER (ORDER BY created_at, day, i) AS k, * FROM bench_rec;
            CREATE TEMP TABLE b_legs AS
            SELECT (i - 1) / 100 + 1 AS posting, 2 + i AS account_id, 'C' AS direction,
                   %(OPEN)s::numeric AS amount, 'adjustment'::text AS business_type, %(D0)s::date AS day,
                   %(D0)s::timestamp AT TIME ZONE %(TZ)s AS created_at, 1 AS ord
              FROM generate_series(1, %(W)s) i
            UNION ALL
            SELECT (i - 1) / 100 + 1, 2, 'D', sum(%(OPEN)s::numeric), 'adjustment', %(D0)s,
                   %(D0)s::timestamp AT TIME ZONE %(TZ)s, 0
              FROM generate_series(1, %(W)s) i GROUP BY (i - 1) / 100""",
            p,
        )
        p["P0"] = conn.execute("SELECT max(posting) FROM b_legs").fetchone()[0]
        step(
            "temp: legs of the records",
            """
            INSERT INTO b_legs
            SELECT %(P0)s + k, 1, CASE WHEN direction = 'in' THEN 'D' ELSE 'C' END, amount,
                   CASE WHEN direction = 'in' THEN 'recharge' ELSE 'withdrawal' END, day, created_at, 0
              FROM b_post
            UNION ALL
            SELECT %(P0)s + k, wallet, CASE WHEN direction = 'in' THEN 'C' ELSE 'D' END, amount,
                   CASE WHEN direction = 'in' THEN 'recharge' ELSE 'withdrawal' END, day, created_at, 1
              FROM b_post""",
            p,
        )
        step(
            "postings",
            """
            INSERT INTO postings_posting (serial_no, source_system, request_no, fingerprint, business_type,
                   entity_id, currency, accounting_date, memo, external_ref, posted_by, created_at)
            SELECT g, 'bench', 'open-' || g, md5('open-' || g), 'adjustment', %(E)s, 'CNY', %(D0)s,
                   'opening balances', '', 'bench', %(D0)s::timestamp AT TIME ZONE %(TZ)s
              FROM generate_series(1, %(P0)s) g;
            INSERT INTO postings_posting (serial_no, source_system, request_no, fingerprint, business_type,
                   entity_id, currency, accounting_date, memo, external_ref, posted_by, created_at)
            SELECT %(P0)s + k, 'bench', 'rec-' || serial, md5('rec-' || serial),
                   CASE WHEN direction = 'in' THEN 'recharge' ELSE 'withdrawal' END, %(E)s, 'CNY', day, '',
                   serial, 'bench', created_at
              FROM b_post""",
            p,
        )
        step(
            "entries (window: seq, balance chain)",
            """
            INSERT INTO postings_entry (serial_no, posting_id, account_id, account_seq, direction, amount, currency,
                   balance_before, balance_after, frozen_before, frozen_after, business_type, accounting_date,
                   created_at)
            SELECT serial_no, posting, account_id, row_number() OVER w, direction, amount, 'CNY',
                   sum(delta) OVER w - delta, sum(delta) OVER w, 0, 0, business_type, day, created_at
              FROM (SELECT l.*, row_number() OVER (ORDER BY posting, ord, account_id) AS serial_no,
                           CASE WHEN l.direction = 'C' THEN l.amount ELSE -l.amount END AS delta
                      FROM b_legs l) x
            WINDOW w AS (PARTITION BY account_id ORDER BY serial_no ROWS UNBOUNDED PRECEDING)
            ORDER BY serial_no""",
            p,
        )
        step(
            "accounts (balance, entry_seq after D)",
            """
            INSERT INTO accounts_account (id, account_no, name, member_id, entity_id, account_type_id, category,
                   allow_negative, currency, balance, frozen, credit_limit, entry_seq, status, opened_on,
                   created_at, updated_at, posting_mode)
            SELECT a.id, t.subject_code || lpad(a.id::text, 12, '0'),
                   CASE WHEN a.member_id IS NULL THEN t.name || ' #' || a.id ELSE '' END,
                   a.member_id, %(E)s, a.type_id, a.category, a.allow_negative, 'CNY', coalesce(e.balance, 0), 0, 0,
                   coalesce(e.seq, 0), 'active', %(D0)s, %(D0)s::timestamp AT TIME ZONE %(TZ)s,
                   %(D)s::timestamp AT TIME ZONE %(TZ)s, 'realtime'
              FROM b_acct a
              JOIN accounts_accounttype t ON t.id = a.type_id
              LEFT JOIN (SELECT DISTINCT ON (account_id) account_id, balance_after AS balance, account_seq AS seq
                           FROM postings_entry ORDER BY account_id, account_seq DESC) e ON e.account_id = a.id;
            INSERT INTO reports_channel_clearing_accounts (channel_id, account_id) VALUES (%(CH)s, 1)""",
            p,
        )
        step(
            "calendar: D-2 and D-1 closed, D open",
            """
            INSERT INTO postings_accountingcalendar (entity_id, open_date, cut_time, updated_at)
            VALUES (%(E)s, %(D)s, '00:00', %(D)s::timestamp AT TIME ZONE %(TZ)s)
            ON CONFLICT (entity_id) DO UPDATE SET open_date = EXCLUDED.open_date, cut_time = EXCLUDED.cut_time;
            DELETE FROM postings_accountingday WHERE entity_id = %(E)s;
            INSERT INTO postings_accountingday (entity_id, date, status, opened_at, cut_at, closed_at)
            SELECT %(E)s, d, CASE WHEN d < %(D)s THEN 'closed' ELSE 'open' END, d::timestamp AT TIME ZONE %(TZ)s,
                   CASE WHEN d < %(D)s THEN (d + 1)::timestamp AT TIME ZONE %(TZ)s END,
                   CASE WHEN d < %(D)s THEN (d + 1)::timestamp AT TIME ZONE %(TZ)s + interval '10 minutes' END
              FROM (SELECT generate_series(%(D0)s::date, %(D)s::date, interval '1 day')::date AS d) days""",
            p,
        )
        # --- the statements' lines: D-1's is loaded below; D's is written to a file and imported when measured
        step(
            "bench_line: statement lines of D-1 and D",
            """
            CREATE TABLE bench_line AS
            WITH src AS (
                -- records the channel has (a mismatch with another amount)
                SELECT day, serial, direction, amount + CASE WHEN kind = 'mismatch' THEN 0.01 * (1 + i %% 50) ELSE 0 END
                       AS amount, created_at AS txn_time, true AS counts, kind
                  FROM bench_rec WHERE kind IN ('ok', 'mismatch')
                UNION ALL
                -- D-1's long lines
                SELECT %(D1)s, serial, direction, amount, txn_time, true, 'long' FROM bench_long1
                UNION ALL
                -- D-1's pending records arriving in D's statement: half with the amount, a tenth with another
                SELECT %(D)s, serial, direction, amount + CASE WHEN i %% 10 = 5 THEN 1 ELSE 0 END,
                       (%(D)s::timestamp + (i %% 3600) * interval '1 second') AT TIME ZONE %(TZ)s, true,
                       CASE WHEN i %% 10 = 5 THEN 'arrival_other' ELSE 'arrival' END
                  FROM bench_rec WHERE day = %(D1)s AND kind = 'pending' AND i %% 10 <= 5
                UNION ALL
                -- lines that moved no money (status closed)
                SELECT d.day, 'YF' || to_char(d.day, 'YYYYMMDD') || 'S' || lpad(j::text, 9, '0'),
                       'in', (round((random() * 9999 + 1)::numeric) / 100)::numeric(20, 2),
                       (d.day::timestamp + random() * interval '86399 seconds') AT TIME ZONE %(TZ)s, false, 'skipped'
                  FROM (VALUES (%(D1)s::date, %(SK1)s), (%(D)s::date, %(SK)s)) d(day, k), generate_series(1, d.k) j),
            longs AS (
                -- D's long lines: as many as make the statement N lines
                SELECT %(D)s::date AS day, 'YF' || to_char(%(D)s::date, 'YYYYMMDD') || 'L' || lpad(j::text, 9, '0'),
                       CASE WHEN random() < 0.85 THEN 'in' ELSE 'out' END,
                       (round((random() * 9999 + 1)::numeric) / 100)::numeric(20, 2),
                       (%(D)s::timestamp + random() * interval '86399 seconds') AT TIME ZONE %(TZ)s, true, 'long'
                  FROM generate_series(1, %(N)s - (SELECT count(*) FROM src WHERE day = %(D)s)) j),
            al AS (SELECT * FROM src UNION ALL SELECT * FROM longs)
            SELECT day, %(FIRST)s - 1 + row_number() OVER (PARTITION BY day ORDER BY txn_time, serial) AS line_no,
                   serial, direction, amount,
                   CASE WHEN direction = 'in' THEN round(amount * 0.0038, 2) ELSE 1.00 END::numeric(20, 2) AS fee,
                   CASE WHEN counts THEN '成功' ELSE '关闭' END AS status, counts, txn_time, kind,
                   serial || ',' || to_char(txn_time AT TIME ZONE %(TZ)s, 'YYYY-MM-DD HH24:MI:SS') || ',ORD'
                   || serial || ',' || CASE WHEN direction = 'in' THEN '收款' ELSE '付款' END || ','
                   || CASE WHEN direction = 'in' THEN amount ELSE -amount END::numeric(20, 2)::text || ','
                   || CASE WHEN direction = 'in' THEN round(amount * 0.0038, 2) ELSE 1.00 END::numeric(20, 2)::text
                   || ',' || CASE WHEN counts THEN '成功' ELSE '关闭' END AS raw
              FROM al""",
            {**p, "FIRST": FIRST_LINE_NO},
        )
        step(
            "D-1's statement (by SQL)",
            """
            INSERT INTO reports_statementimport (channel_id, statement_date, file_name, file_sha256, line_count,
                   imported_by, imported_at)
            VALUES (%(CH)s, %(D1)s, 'bench-d1.csv', md5('bench-d1') || md5('bench-d1-2'),
                    (SELECT count(*) FROM bench_line WHERE day = %(D1)s), 'bench',
                    (%(D)s::timestamp + interval '1 hour') AT TIME ZONE %(TZ)s);
            INSERT INTO reports_statementline (statement_id, channel_id, statement_date, line_no, serial_no, txn_time,
                   direction, amount, fee, status, counts, raw)
            SELECT (SELECT id FROM reports_statementimport WHERE channel_id = %(CH)s AND statement_date = %(D1)s),
                   %(CH)s, day, line_no, serial, txn_time, direction, amount, fee, status, counts, raw
              FROM bench_line WHERE day = %(D1)s ORDER BY line_no""",
            p,
        )
        step("sequences", SEQUENCES_SQL)
        conn.execute("RESET session_replication_role")
        conn.commit()
    log(f"  load: {time.perf_counter() - t0:.1f} s; VACUUM ANALYZE")
    vacuum(
        args,
        [
            "accounts_customer",
            "accounts_member",
            "accounts_account",
            "postings_posting",
            "postings_entry",
            "reports_statementimport",
            "reports_statementline",
            "bench_rec",
            "bench_line",
            "bench_long1",
        ],
    )
    verify(args, VERIFY_SQL)
    log(f"matching D-1 ({d1}) as setup, with the tree's channel_recon_run")
    r = run_measured([PYTHON, "-c", RECON_WORKER, d1.isoformat()], django_env(args))
    if r["returncode"]:
        sys.exit(f"matching D-1 failed:\n{r['stderr'][-3000:]}")
    log(f"  {r['wall']:.1f} s, peak RSS {r['rss_mb']:.0f} MB")
    with connect(args) as conn:
        for table in ["reports_difference", "reports_reconrun"]:
            conn.execute(f"DROP TABLE IF EXISTS bench_saved_{table}")
            conn.execute(f"CREATE TABLE bench_saved_{table} AS SELECT * FROM {table}")
        events = conn.execute("SELECT coalesce(max(id), 0) FROM reports_differenceevent").fetchone()[0]
        conn.execute("CREATE TABLE IF NOT EXISTS bench_meta (meta jsonb NOT NULL)")
        conn.execute("DELETE FROM bench_meta")
        conn.execute(
            "INSERT INTO bench_meta VALUES (%s)",
            [
                json.dumps(
                    {
                        "version": GENERATOR_VERSION,
                        "lines": n,
                        "day": day.isoformat(),
                        "sizes": sizes,
                        "max_event_id": events,
                        "generated_seconds": round(time.perf_counter() - t0, 1),
                    }
                )
            ],
        )
    log(f"generated in {time.perf_counter() - t0:.1f} s")


VERIFY_SQL = {
    "unbalanced postings": EOD_CHECKS["unbalanced postings"],
    "postings without entries": """
        SELECT count(*) FROM postings_posting p WHERE NOT EXISTS (SELECT 1 FROM postings_entry e
                                                                   WHERE e.posting_id = p.serial_no)""",
    "broken balance chains": EOD_CHECKS["broken balance chains"],
    "accounts not matching their last entry": EOD_CHECKS["accounts not matching their last entry"],
    "wallets below zero at some entry": """
        SELECT count(*) FROM postings_entry e JOIN accounts_account a ON a.id = e.account_id
         WHERE NOT a.allow_negative AND e.balance_after < 0""",
    "entries of a day other than their posting's": """
        SELECT count(*) FROM postings_entry e JOIN postings_posting p ON p.serial_no = e.posting_id
         WHERE e.accounting_date <> p.accounting_date""",
    "repeated serial numbers in a statement": """
        SELECT count(*) FROM (SELECT 1 FROM bench_line GROUP BY day, serial HAVING count(*) > 1) x""",
}


def vacuum(args, tables: list[str]) -> None:
    t = time.perf_counter()
    with connect(args, autocommit=True) as conn:
        for table in tables:
            conn.execute(f'VACUUM (ANALYZE) "{table}"')
    log(f"  vacuum analyze ({len(tables)} tables): {time.perf_counter() - t:.1f} s")


def reset(args) -> None:
    """Back to the generated state: no statement, differences, events or run
    for D or later; D-1's differences and run as its setup run left them."""
    with connect(args) as conn:
        meta = read_meta(conn)
        conn.execute("SET session_replication_role = replica")  # append-only triggers off: a bench database
        removed = conn.execute("DELETE FROM reports_differenceevent WHERE id > %s", [meta["max_event_id"]]).rowcount
        for table in ["reports_difference", "reports_reconrun"]:
            conn.execute(f"DELETE FROM {table}")
            conn.execute(f"INSERT INTO {table} SELECT * FROM bench_saved_{table}")
        removed += conn.execute("DELETE FROM reports_statementline WHERE statement_date >= %s", [args.day]).rowcount
        removed += conn.execute("DELETE FROM reports_statementimport WHERE statement_date >= %s", [args.day]).rowcount
        conn.execute("RESET session_replication_role")
        conn.commit()
    vacuum(
        args,
        [
            "reports_differenceevent",
            "reports_difference",
            "reports_reconrun",
            "reports_statementline",
            "reports_statementimport",
        ],
    )
    log(f"reset: {removed:,} rows of D's statement and of earlier runs removed; D-1's differences restored")


# --------------------------------------------------------------------------- D's statement


def statement_file(args) -> Path:
    """D's statement as the sample payment company sends it (written once per size)."""
    path = ROOT / "var" / "bench-recon" / f"{CHANNEL}_{args.day:%Y%m%d}_{args.lines}.csv"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    with connect(args) as conn, open(tmp, "wb") as f:
        f.write(("\n".join(HEADER).format(day=args.day) + "\n").encode())
        with conn.cursor().copy(
            "COPY (SELECT raw FROM bench_line WHERE day = %s ORDER BY line_no) TO STDOUT", [args.day]
        ) as copy:
            for block in copy:
                f.write(block)
        count, money_in, money_out, fees = conn.execute(
            """
            SELECT count(*), coalesce(sum(amount) FILTER (WHERE counts AND direction = 'in'), 0),
                   coalesce(sum(amount) FILTER (WHERE counts AND direction = 'out'), 0),
                   coalesce(sum(fee) FILTER (WHERE counts), 0)
              FROM bench_line WHERE day = %s""",
            [args.day],
        ).fetchone()
        f.write(
            (
                "#" + "-" * 40 + "\n" + f"#汇总,总笔数:{count},收入金额:{money_in:.2f},支出金额:{money_out:.2f},"
                f"手续费合计:{fees:.2f}\n"
            ).encode()
        )
    tmp.rename(path)
    log(
        f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 2**20:.0f} MB, {count:,} lines) "
        f"in {time.perf_counter() - t:.1f} s"
    )
    return path


def load_lines_by_sql(args) -> None:
    with connect(args) as conn:
        t = time.perf_counter()
        conn.execute(
            """
            INSERT INTO reports_statementimport (channel_id, statement_date, file_name, file_sha256, line_count,
                   imported_by, imported_at)
            SELECT id, %(D)s, 'bench-d.csv', md5('bench-d') || md5('bench-d-2'),
                   (SELECT count(*) FROM bench_line WHERE day = %(D)s), 'bench', now()
              FROM reports_channel WHERE code = %(C)s""",
            {"D": args.day, "C": CHANNEL},
        )
        conn.execute(
            """
            INSERT INTO reports_statementline (statement_id, channel_id, statement_date, line_no, serial_no, txn_time,
                   direction, amount, fee, status, counts, raw)
            SELECT s.id, s.channel_id, l.day, l.line_no, l.serial, l.txn_time, l.direction, l.amount, l.fee, l.status,
                   l.counts, l.raw
              FROM bench_line l JOIN reports_statementimport s ON s.statement_date = l.day
             WHERE l.day = %(D)s ORDER BY l.line_no""",
            {"D": args.day},
        )
        conn.commit()
    log(f"D's statement lines inserted by SQL in {time.perf_counter() - t:.1f} s (--sql-lines)")


IMPORT_WORKER = """
import json, sys, time
import django
django.setup()
from datetime import date
from pathlib import Path
from reports.channel.importing import statement_import
from reports.channel.models import Channel
path, day = Path(sys.argv[1]), date.fromisoformat(sys.argv[2])
t = time.perf_counter()
content = path.read_bytes()
read = time.perf_counter() - t
statement = statement_import(channel=Channel.objects.get(code=sys.argv[3]), statement_date=day, file_name=path.name,
                             content=content, imported_by="bench")
print(json.dumps({"seconds": time.perf_counter() - t, "read": read, "lines": statement.line_count}))
"""

RECON_WORKER = (
    """
import json, sys, time
import django
django.setup()
from datetime import date
from reports.channel.matching import channel_recon_run
from reports.channel.models import Channel
t = time.perf_counter()
run = channel_recon_run(channel=Channel.objects.get(code="%s"), recon_date=date.fromisoformat(sys.argv[1]),
                        actor="bench")
print(json.dumps({"seconds": time.perf_counter() - t}))
"""
    % CHANNEL
)

BASELINE = """
import django
django.setup()
import reports.channel.matching  # noqa: F401
"""


def measure(args, label: str, cmd: list[str]) -> dict:
    log(f"{label} in a subprocess")
    result = run_measured(cmd, django_env(args), timeout=args.timeout)
    result["inner"] = None
    for line in result["stdout"].splitlines()[::-1]:
        if line.startswith("{"):
            result.update(json.loads(line))
            result["inner"] = result["seconds"]
            break
    result["ok"] = result["returncode"] == 0 and result["inner"] is not None
    if not result["ok"]:
        err = [line for line in result["stderr"].strip().splitlines() if line.strip()]
        log(
            f"  FAILED (exit {result['returncode']}{', timed out' if result['timed_out'] else ''}): "
            + (err[-1][:500] if err else "")
        )
    log(
        f"  wall {result['wall']:.2f} s (the call itself {result['inner'] or 0:.2f} s), "
        f"peak RSS {result['rss_mb']:.0f} MB, cpu {result['user'] + result['sys']:.1f} s"
    )
    return result


# --------------------------------------------------------------------------- the plain join


JOIN_SQL = """
    SELECT count(*), sum(l.amount), sum(e.amount)
      FROM reports_statementline l
      JOIN postings_posting p ON p.external_ref = l.serial_no
      JOIN postings_entry e ON e.posting_id = p.serial_no
     WHERE l.statement_id = %(S)s AND e.account_id = ANY(%(A)s) AND e.accounting_date = %(D)s"""


def measure_join(args) -> dict:
    with connect(args, autocommit=True) as conn:
        statement = conn.execute(
            """SELECT s.id FROM reports_statementimport s JOIN reports_channel c
                                     ON c.id = s.channel_id WHERE c.code = %s AND s.statement_date = %s""",
            [CHANNEL, args.day],
        ).fetchone()[0]
        accounts = [
            r[0]
            for r in conn.execute(
                """
            SELECT a.account_id FROM reports_channel_clearing_accounts a JOIN reports_channel c ON c.id = a.channel_id
             WHERE c.code = %s""",
                [CHANNEL],
            )
        ]
        params = {"S": statement, "A": accounts, "D": args.day}
        times = []
        for _ in range(3):
            t = time.perf_counter()
            row = conn.execute(JOIN_SQL, params).fetchone()
            times.append(time.perf_counter() - t)
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, COSTS OFF) " + JOIN_SQL, params))
    log(f"plain SQL join (best of 3): {min(times):.2f} s [{row[0]:,} pairs, lines {row[1]}, entries {row[2]}]")
    return {"seconds": min(times), "row": row, "plan": plan}


# --------------------------------------------------------------------------- the outcome


EXPECTED_SQL = """
    SELECT
      (SELECT count(*) FROM bench_rec WHERE day = %(D)s AND kind = 'ok'),
      (SELECT count(*) FROM bench_line WHERE day = %(D)s AND kind = 'long'),
      (SELECT count(*) FROM bench_rec WHERE day = %(D)s AND kind = 'short'),
      (SELECT count(*) FROM bench_rec WHERE day = %(D)s AND kind = 'pending'),
      (SELECT count(*) FROM bench_rec WHERE day = %(D)s AND kind = 'mismatch'),
      (SELECT count(*) FROM bench_line WHERE day = %(D)s AND kind = 'arrival')
        + (SELECT count(*) FROM bench_rec WHERE day = %(D)s AND kind = 'late_booked'),
      (SELECT count(*) FROM bench_line WHERE day = %(D)s AND NOT counts)"""

GOT_SQL = """
    SELECT matched_count, long_count, short_count, pending_count, mismatch_count, late_matched_count,
           channel_skipped_count, channel_count, ledger_count, runs
      FROM reports_reconrun r JOIN reports_channel c ON c.id = r.channel_id
     WHERE c.code = %(C)s AND recon_date = %(D)s"""


def outcome(args) -> dict:
    with connect(args) as conn:
        p = {"D": args.day, "D1": args.day - timedelta(days=1), "C": CHANNEL}
        expected = conn.execute(EXPECTED_SQL, p).fetchone()
        got = conn.execute(GOT_SQL, p).fetchone()
        counts = conn.execute(
            """
            SELECT count(*), (SELECT count(*) FROM reports_differenceevent),
                   count(*) FILTER (WHERE recon_date = %(D1)s AND resolution = 'matched_late'),
                   count(*) FILTER (WHERE recon_date = %(D1)s AND outcome = 'amount_mismatch'),
                   count(*) FILTER (WHERE recon_date = %(D1)s AND outcome = 'short')
              FROM reports_difference""",
            p,
        ).fetchone()
        # D-1: pending records of D-1 that never arrive become short on D, those arriving with another
        # amount and D-1's long lines booked with another amount become mismatches.
        d1_expected = conn.execute(
            """
            SELECT (SELECT count(*) FROM bench_rec WHERE day = %(D1)s AND kind = 'short')
                     + (SELECT count(*) FROM bench_rec WHERE day = %(D1)s AND kind = 'pending' AND i %% 10 > 5),
                   (SELECT count(*) FROM bench_rec WHERE day = %(D1)s AND kind = 'mismatch')
                     + (SELECT count(*) FROM bench_line WHERE day = %(D)s AND kind = 'arrival_other')
                     + (SELECT count(*) FROM bench_rec WHERE day = %(D)s AND kind = 'late_booked_other')""",
            p,
        ).fetchone()
    return {
        "expected": expected,
        "got": got,
        "differences": counts[0],
        "events": counts[1],
        "d1": (counts[4], counts[3]),
        "d1_expected": d1_expected,
        "late_d1": counts[2],
    }


# --------------------------------------------------------------------------- report


def report(args, imp: dict | None, join: dict, runs: list[dict], base_rss: float, outcomes: list[dict]) -> None:
    log("")
    log(
        f"== channel reconciliation benchmark: {args.lines:,} statement lines against {args.lines:,} ledger records"
        f" on {args.day}"
    )
    log(
        f"   {time.strftime('%Y-%m-%d %H:%M %Z')}; load average before/after: {args.load_before} / "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    log(f"   {machine()}; {server(args)}")
    base = join["seconds"]
    rows = [
        ("plain SQL join lines-postings-entries (best of 3)", f"{base:.2f} s", "", "1.00", ""),
        ("python worker at rest (django.setup)", f"{base_rss:.0f} MB", "", "", ""),
    ]
    if imp is not None:
        rows.append(("statement_import of the CSV file: wall (subprocess)", f"{imp['wall']:.2f} s", "", "", ""))
        if imp["inner"] is not None:
            rows.append(("  the call alone (with reading the file)", f"{imp['inner']:.2f} s", "", "", ""))
        rows.append(
            (
                "statement_import: peak RSS",
                f"{imp['rss_mb']:.0f} MB",
                f"< {MEMORY_TARGET_MB:.0f} MB",
                "",
                ("PASS" if imp["rss_mb"] < MEMORY_TARGET_MB else "FAIL") + ("" if imp["ok"] else " (failed)"),
            )
        )
    else:
        rows.append(("statement lines inserted by SQL (--sql-lines)", "", "", "", ""))
    for r in runs:
        ok = r["ok"]
        verdict = (
            ("PASS" if r["wall"] < TIME_TARGET_S else "FAIL")
            if ok
            else ("TIMEOUT (FAIL)" if r["timed_out"] else "ERROR")
        )
        rows.append(
            (
                f"channel_recon_run {r['label']}: wall (subprocess)",
                ("> " if r["timed_out"] else "") + f"{r['wall']:.2f} s",
                f"< {TIME_TARGET_S:.0f} s",
                f"{r['wall'] / base:.1f}",
                verdict,
            )
        )
        if r["inner"] is not None:
            rows.append(("  the call alone", f"{r['inner']:.2f} s", "", f"{r['inner'] / base:.1f}", ""))
        rows.append(
            (
                f"channel_recon_run {r['label']}: peak RSS",
                f"{r['rss_mb']:.0f} MB",
                f"< {MEMORY_TARGET_MB:.0f} MB",
                "",
                ("PASS" if r["rss_mb"] < MEMORY_TARGET_MB else "FAIL") + ("" if ok else " (run failed)"),
            )
        )
    header = ("figure", "value", "target", "ratio", "result")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(5)]
    log("   " + "  ".join(h.ljust(w) for h, w in zip(header, widths)))
    log("   " + "  ".join("-" * w for w in widths))
    for row in rows:
        log("   " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    log("   (printed, not asserted; ratio = time / plain SQL join; peak RSS = the subprocess's ru_maxrss from wait4)")
    names = ["matched", "long", "short", "pending", "mismatch", "late matched", "skipped lines"]
    for o, r in zip(outcomes, runs):
        got = o["got"]
        agree = got is not None and tuple(got[:7]) == tuple(o["expected"]) and tuple(o["d1"]) == tuple(o["d1_expected"])
        log(
            f"   after the {r['label']}: "
            + ", ".join(
                f"{name} {g:,}" + ("" if g == e else f" (planted {e:,})")
                for name, g, e in zip(names, got or [0] * 7, o["expected"])
            )
            + (f"; lines {got[7]:,}, ledger records {got[8]:,}, runs {got[9]}" if got else "")
            + f"; D-1 short {o['d1'][0]:,}, mismatch {o['d1'][1]:,}"
            + ("" if tuple(o["d1"]) == tuple(o["d1_expected"]) else f" (planted {o['d1_expected']})")
            + f"; {o['differences']:,} differences, {o['events']:,} events in all"
            + ("  [as planted]" if agree else "  [NOT AS PLANTED]")
        )


# --------------------------------------------------------------------------- main


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000, help="statement lines and ledger records on day D")
    ap.add_argument("--day", type=date.fromisoformat, default=date(2026, 11, 23), help="day D (default 2026-11-23)")
    add_server_arguments(ap, "database (default recon_bench; recon_bench_<lines> for other sizes)")
    ap.add_argument("--regenerate", action="store_true", help="drop and regenerate the benchmark database")
    ap.add_argument(
        "--sql-lines",
        action="store_true",
        help="insert D's statement lines by SQL instead of importing the CSV file (no import figures)",
    )
    ap.add_argument("--no-rerun", action="store_true", help="skip the second (re-run) matching")
    ap.add_argument(
        "--timeout",
        type=float,
        default=1800,
        metavar="SECONDS",
        help="give up on a subprocess after this long (default 1800)",
    )
    ap.add_argument("--plan", action="store_true", help="print the plain join's EXPLAIN ANALYZE")
    args = ap.parse_args(argv)
    if args.lines < 1000:
        sys.exit("--lines: at least 1000")
    if not args.db:
        args.db = "recon_bench" if args.lines == 1_000_000 else f"recon_bench_{args.lines}"

    args.load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    prepare_data(args, read_meta=read_meta, sizes_match=sizes_match, generate=generate)
    reset(args)

    imp = None
    if args.sql_lines:
        load_lines_by_sql(args)
    else:
        path = statement_file(args)
        imp = measure(
            args,
            f"statement_import of {path.name}",
            [PYTHON, "-c", IMPORT_WORKER, str(path), args.day.isoformat(), CHANNEL],
        )
        if not imp["ok"]:
            sys.exit("the import failed: " + imp["stderr"][-3000:])
    join = measure_join(args)
    if args.plan:
        log(join["plan"])
    base_rss = run_measured([PYTHON, "-c", BASELINE], django_env(args))["rss_mb"]
    runs, outcomes = [], []
    for label in ["first run", "re-run"][: 1 if args.no_rerun else 2]:
        result = measure(
            args, f"channel_recon_run {args.day} ({label})", [PYTHON, "-c", RECON_WORKER, args.day.isoformat()]
        )
        result["label"] = label
        runs.append(result)
        outcomes.append(outcome(args))
        if not result["ok"]:
            break
    report(args, imp, join, runs, base_rss, outcomes)


if __name__ == "__main__":
    main()
