#!/usr/bin/env python3
"""Voucher building benchmark (issue 22, "Benchmark"): the vouchers of one
day of N entries, built as the end of day's vouchers step builds them.

    .venv/bin/python bench/vouchers_build.py                                   # 2,000,000 entries, 1,000,000 accounts
    .venv/bin/python bench/vouchers_build.py --entries 20000 --accounts 10000  # quick, to check the harness

It prints figures; it asserts nothing and is not a test.

What it does:

1. Makes (or reuses) the database of bench/eod.py for the same sizes
   (``ledger_bench`` at full size, ``ledger_bench_<accounts>_<entries>``
   otherwise; the same generator, bulk-loaded with the triggers off) and puts
   day D back as the generator left it.
2. Times the plain SQL aggregate of day D's entries (bench/eod.py's, best of 3),
   the yardstick.
3. In a child process (as a worker runs it), ``reports.vouchers.build.vouchers_build``
   for day D, three times: the first build (every voucher new), a rebuild
   with nothing changed (the retried end of day: compared, nothing written),
   and a build after the day's drafts were deleted again. For each: wall
   time, the child's peak RSS (wait4), the vouchers and lines written.
   With ``--member-dimension`` the member cash subject (2241) keeps a member
   dimension (辅助核算), which gives a line per member that moved: the
   heaviest grouping a GL configuration can ask for.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eod import (  # noqa: E402
    PYTHON,
    add_server_arguments,
    connect,
    django_env,
    generate,
    log,
    measure_aggregate,
    prepare_data,
    read_meta,
    reset_day,
    run_measured,
    sizes_match,
)

CHILD = """
import json, sys, time
import django
django.setup()
from datetime import date
from accounts.models import Entity
from reports.vouchers.build import vouchers_build
t = time.perf_counter()
result = vouchers_build(entity=Entity.objects.get(code="MAIN"), accounting_date=date.fromisoformat(sys.argv[1]))
print(json.dumps({"seconds": time.perf_counter() - t, "vouchers": result.vouchers, "created": result.created,
                  "rebuilt": result.rebuilt, "unbalanced": list(result.unbalanced)}))
"""


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--entries", type=int, default=2_000_000, help="entries on day D (two per posting)")
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--active", type=int, default=None, metavar="N", help="as bench/eod.py: about N accounts move")
    ap.add_argument("--day", type=date.fromisoformat, default=date(2026, 11, 23))
    ap.add_argument("--member-dimension", action="store_true", help="vouchers split per member on subject 2241")
    ap.add_argument("--regenerate", action="store_true", help="drop and regenerate the benchmark database")
    ap.add_argument("--timeout", type=float, default=1800, metavar="SECONDS")
    add_server_arguments(ap, "database (default: bench/eod.py's for these sizes)")
    args = ap.parse_args(argv)
    if not args.db:
        full = (args.accounts, args.entries, args.active) == (1_000_000, 2_000_000, None)
        active = f"_a{args.active}" if args.active else ""
        args.db = "ledger_bench" if full else f"ledger_bench_{args.accounts}_{args.entries}{active}"
    return args


def drop_day_vouchers(args) -> int:
    with connect(args) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "DELETE FROM reports_voucherline WHERE voucher_id IN (SELECT id FROM reports_voucher"
            " WHERE accounting_date = %s)",
            [args.day],
        )
        n = conn.execute("DELETE FROM reports_voucher WHERE accounting_date = %s", [args.day]).rowcount
        conn.execute("DELETE FROM reports_vouchersequence")
        conn.commit()
    return n


def set_member_dimension(args) -> None:
    with connect(args) as conn:
        conn.execute("DELETE FROM reports_subjectdimensions WHERE subject_code = '2241'")
        if args.member_dimension:
            conn.execute(
                "INSERT INTO reports_subjectdimensions (subject_code, customer, member, merchant, channel,"
                " bank_account, department) VALUES ('2241', false, true, false, false, false, '')"
            )
        conn.commit()


def lines_of_day(args) -> int:
    with connect(args) as conn:
        return conn.execute(
            "SELECT count(*) FROM reports_voucherline l JOIN reports_voucher v ON v.id = l.voucher_id"
            " WHERE v.accounting_date = %s",
            [args.day],
        ).fetchone()[0]


def build(args, label: str) -> dict:
    measured = run_measured([PYTHON, "-c", CHILD, args.day.isoformat()], django_env(args), timeout=args.timeout)
    if measured["returncode"]:
        sys.exit(f"{label}: the build failed\n{measured['stderr'][-3000:]}")
    result = json.loads(measured["stdout"].strip().splitlines()[-1])
    lines = lines_of_day(args)
    log(
        f"  {label:<34} {result['seconds']:8.2f} s in the build, {measured['wall']:8.2f} s wall, "
        f"peak {measured['rss_mb']:6.0f} MB; {result['vouchers']} vouchers ({result['created']} new, "
        f"{result['rebuilt']} rebuilt), {lines:,} lines"
    )
    return {**result, **measured, "lines": lines}


def main(argv=None) -> None:
    args = parse_args(argv)
    log(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not prepare_data(args, read_meta=read_meta, sizes_match=sizes_match, generate=generate):
        reset_day(args)
    agg = measure_aggregate(args)
    set_member_dimension(args)
    drop_day_vouchers(args)
    runs = [build(args, "first build (all new)"), build(args, "rebuild, nothing changed")]
    drop_day_vouchers(args)
    runs.append(build(args, "build again from nothing"))
    best = min(r["seconds"] for r in runs if r["created"])
    log(
        f"\n{args.entries:,} entries on {args.accounts:,} accounts"
        f"{' (member dimension on 2241)' if args.member_dimension else ''}: "
        f"voucher build {best:.2f} s = {best / agg['aggregate']:.1f}x the plain aggregate "
        f"({agg['aggregate']:.2f} s); peak RSS {max(r['rss_mb'] for r in runs):.0f} MB; "
        f"a rebuild with nothing changed {runs[1]['seconds']:.2f} s"
    )


if __name__ == "__main__":
    main()
