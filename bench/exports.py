#!/usr/bin/env python3
"""Exports of the differences (issue 19 §2): 68,000 differences as CSV,
streamed by the request, and as XLSX, written by the export worker.

    .venv/bin/python bench/exports.py                        # 68,000 differences (about 1 minute to build, once)
    .venv/bin/python bench/exports.py --differences 2000     # quick mode: checks the harness, the figures mean little

It prints figures; it asserts nothing and is not a test. See bench/README.md
("Exports") for what is measured and the figures of the last run.

What it does:

1. Makes (or reuses) a dedicated database, ``ledger_exports_bench`` (or
   ``ledger_exports_bench_<n>`` for other sizes), migrated, holding one
   statement of the sample payment company ``epaysim`` with N lines and, for
   each line, an open "long" difference (what the channel collected and the
   ledger did not book), written with the ORM's bulk inserts. A database that
   already holds N differences is reused (``--rebuild`` makes it again).
2. Each measurement runs in a fresh subprocess, so that its peak memory is
   its own: the kernel's high-water mark of the process (``ru_maxrss`` from
   ``wait4``), and Python's own peak allocations (``tracemalloc``, in a
   separate run of the same measurement, since tracing slows Python down):
   - ``idle``: the interpreter with Django set up, nothing else (the floor
     of the other two);
   - ``csv``: the differences page's CSV view (``differences_csv``, through a
     request built with RequestFactory, every status), its streamed body
     read to the end: time to the first difference sent and to the last, bytes;
   - ``xlsx``: the export worker's task body (``export_run``) on an
     ``Export`` of every difference, as the worker runs it: time, rows, the
     file's size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from throughput import django_setup, log, psql  # noqa: E402

DEFAULT = 68_000
CHANNEL = "epaysim"
USER = "bench-exports"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--differences", type=int, default=DEFAULT)
    p.add_argument("--db", help=f"default ledger_exports_bench (ledger_exports_bench_<n> when not {DEFAULT:,})")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", default="5432")
    p.add_argument("--user", default="postgres")
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--runs", type=int, default=1, help="timed runs of each measurement (the best is shown)")
    p.add_argument("--measure", choices=["idle", "csv", "xlsx"], help=argparse.SUPPRESS)  # the subprocess's part
    p.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if not args.db:
        args.db = "ledger_exports_bench" + ("" if args.differences == DEFAULT else f"_{args.differences}")
    return args


# ------------------------------------------------------------------ build ----


def build(args) -> None:
    exists = psql(args, f"SELECT 1 FROM pg_database WHERE datname = '{args.db}'")
    if exists and args.rebuild:
        psql(args, f"DROP DATABASE {args.db} WITH (FORCE)")
        exists = ""
    if not exists:
        psql(args, f"CREATE DATABASE {args.db}")
    django_setup(args)
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import transaction

    from reports.channel.models import Channel, Difference, StatementImport, StatementLine

    call_command("migrate", verbosity=0)
    have = Difference.objects.count()
    if have == args.differences:
        log(f"{args.db}: {have:,} differences, reused")
        return
    if have:
        raise SystemExit(f"{args.db} holds {have:,} differences, not {args.differences:,}: run with --rebuild")
    started = time.perf_counter()
    User.objects.get_or_create(username=USER, defaults={"is_staff": True, "is_superuser": True})
    channel = Channel.objects.get(code=CHANNEL)
    day = __import__("datetime").date(2026, 12, 1)
    with transaction.atomic():
        statement = StatementImport.objects.create(
            channel=channel,
            statement_date=day,
            file_name=f"{CHANNEL}_{day:%Y%m%d}.csv",
            file_sha256="0" * 64,
            line_count=args.differences,
            imported_by="bench",
        )
        lines = StatementLine.objects.bulk_create(
            (
                StatementLine(
                    statement=statement,
                    channel=channel,
                    statement_date=day,
                    line_no=n + 1,
                    serial_no=f"BENCH{n:09d}",
                    direction="in",
                    amount=f"{(n % 9973) + 1}.{n % 100:02d}",
                    fee="0.00",
                    raw=f"BENCH{n:09d},in,{(n % 9973) + 1}.{n % 100:02d}",
                )
                for n in range(args.differences)
            ),
            batch_size=5000,
        )
        Difference.objects.bulk_create(
            (
                Difference(
                    channel=channel,
                    recon_date=day,
                    outcome="long",
                    serial_no=line.serial_no,
                    currency=channel.currency,
                    statement_line=line,
                    channel_direction=line.direction,
                    channel_amount=line.amount,
                    difference=line.amount,
                    # Free text, as finance writes it, so the sheet's text cells are not all empty.
                    note="渠道有、账务无 (long): 待查" if line.line_no % 7 == 0 else "",
                )
                for line in lines
            ),
            batch_size=5000,
        )
    log(f"{args.db}: built {args.differences:,} differences in {time.perf_counter() - started:.1f} s")


# ---------------------------------------------------------- measurements ----


def measure(args) -> dict:
    """One measurement, in this (sub)process; what it found, as JSON."""
    django_setup(args)
    if args.trace:
        import tracemalloc

        tracemalloc.start()
    result: dict = {}
    if args.measure == "csv":
        from django.contrib.auth.models import User
        from django.test import RequestFactory

        from reports.channel.views import differences_csv

        request = RequestFactory().get("/reports/recon/differences.csv", {"status": ""})
        request.user = User.objects.get(username=USER)
        request.session = {}
        started = time.perf_counter()
        response = differences_csv(request)
        size, chunks, first = 0, 0, None
        for chunk in response.streaming_content:
            chunks += 1
            if chunks == 2:  # the first difference, after the header
                first = time.perf_counter() - started
            size += len(chunk)
        result = {"seconds": time.perf_counter() - started, "first_row": first, "bytes": size}
    elif args.measure == "xlsx":
        from django.contrib.auth.models import User

        from reports.exporting.models import Export
        from reports.exporting.services import export_run

        export = Export.objects.create(
            requested_by=User.objects.get(username=USER),
            kind="differences",
            criteria={"status": ""},
            file_name="bench.xlsx",
        )
        started = time.perf_counter()
        export = export_run(export_id=export.pk)
        seconds = time.perf_counter() - started
        size = len(bytes(Export.objects.values_list("content", flat=True).get(pk=export.pk)))
        result = {"seconds": seconds, "rows": export.rows_done, "status": export.status, "bytes": size}
        Export.objects.filter(pk=export.pk).delete()
    if args.trace:
        import tracemalloc

        result["traced_peak"] = tracemalloc.get_traced_memory()[1]
    return result


def in_subprocess(args, what: str, *, trace: bool = False) -> dict:
    command = [sys.executable, __file__, "--measure", what, "--db", args.db]
    command += ["--host", args.host, "--port", args.port, "--user", args.user, "--differences", str(args.differences)]
    if trace:
        command.append("--trace")
    child = subprocess.Popen(command, stdout=subprocess.PIPE, env={**os.environ, "CELERY_BROKER_URL": ""})
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"the {what} measurement failed ({child.returncode})")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["max_rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    return result


def main() -> None:
    args = parse_args()
    if args.measure:
        print(json.dumps(measure(args)), flush=True)
        return
    build(args)
    n = args.differences
    idle = in_subprocess(args, "idle")
    log(f"\n{n:,} differences; a fresh process with Django set up peaks at {idle['max_rss_mb']:.0f} MB RSS")
    log(
        f"{'export':<24} | {'seconds':>8} | {'rows/s':>8} | {'first row':>11} | {'size':>8} | {'peak RSS':>9} | {'above idle':>10} | {'Python peak':>11}"
    )
    for what, label in (("csv", "CSV, streamed (view)"), ("xlsx", "XLSX (worker's task)")):
        runs = [in_subprocess(args, what) for _ in range(max(1, args.runs))]
        best = min(runs, key=lambda r: r["seconds"])
        traced = in_subprocess(args, what, trace=True)["traced_peak"] / 2**20
        rss = max(r["max_rss_mb"] for r in runs)
        first = f"{best['first_row']:.3f} s" if best.get("first_row") is not None else "—"
        log(
            f"{label:<24} | {best['seconds']:>8.2f} | {n / best['seconds']:>8,.0f} | {first:>11} | "
            f"{best['bytes'] / 2**20:>6.1f}MB | {rss:>7.0f}MB | {rss - idle['max_rss_mb']:>8.0f}MB | {traced:>9.1f}MB"
        )
        if what == "xlsx" and (best.get("status") != "done" or best.get("rows") != n):
            log(f"  the export did not write every difference: {best}")
    log(
        "\n(seconds: best of --runs; peak RSS: the process's high-water mark, the largest of the runs; "
        "Python peak: tracemalloc's, in one more run under tracing)"
    )


if __name__ == "__main__":
    main()
