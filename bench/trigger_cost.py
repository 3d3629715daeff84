#!/usr/bin/env python3
"""What a trigger on the posting path costs: throughput at N processes and
CPU per posting with it and without it, in alternating rounds.

    .venv/bin/python bench/trigger_cost.py outbox                 # the events outbox (issue 23): target < 15 %
    .venv/bin/python bench/trigger_cost.py outbox --clients 4,8 --rounds 3 --seconds 10
    .venv/bin/python bench/trigger_cost.py hashchain              # the entries' hash chain (issue 22 §5)

It prints figures; it asserts nothing and is not a test. See bench/README.md
("What a trigger costs").

Uses bench/throughput.py's database (``--db``, ``ledger_tp``; run that once
first, e.g. with ``--members 20000 --history 2000`` for a quick one). Each
round measures, with the triggers of the preset enabled and then disabled
(the order alternates from round to round, so drift in the machine falls on
both sides): random two-leg transfers (``posting_create``) from each
``--clients`` count of processes for ``--seconds``, batches of 100 from the
largest count, and one process's CPU per posting, client and server (the
PostgreSQL backend's, from /proc). The triggers are enabled again when it
ends, even on an error. Disabling is ``ALTER TABLE ... DISABLE TRIGGER``
(plus what the preset must change for the rest of the path to accept the
rows as before): what is measured is the trigger's own work, everything else
equal.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from throughput import bench_parser, django_setup, log, psql, run_ours  # noqa: E402

# The triggers whose cost a preset measures, as table:trigger, and the SQL
# run while they are off (and its undoing when they are back on).
PRESETS = {
    # One posting.booked event row per posting, with its entries (events/sql/events.sql).
    "outbox": {"triggers": ["postings_entry:posting_events"]},
    # The entries' hash chain (postings/sql/entry_hash.sql): without its
    # trigger an entry gets a constant hash, so that the chain guard, which
    # refuses an applied entry without one, passes as before the chain.
    "hashchain": {
        "triggers": ["postings_entry:entry_hash_chained"],
        "off": "ALTER TABLE postings_entry ALTER COLUMN entry_hash SET DEFAULT '\\x00'::bytea",
        "on": "ALTER TABLE postings_entry ALTER COLUMN entry_hash DROP DEFAULT",
    },
}


def parse_args():
    p = bench_parser(__doc__, db_help="bench/throughput.py's database")
    p.add_argument("preset", choices=sorted(PRESETS))
    p.add_argument("--clients", default="8", help="process counts, comma-separated")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--postings", type=int, default=2000, help="postings of the CPU measurement")
    p.set_defaults(seconds=5.0)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    preset = PRESETS[args.preset]
    triggers = [t.split(":") for t in preset["triggers"]]
    clients = [int(c) for c in args.clients.split(",")]
    django_setup(args)
    from cost import posting_cpu

    from accounts.models import Account

    members = list(
        Account.objects.filter(account_type__code="USER_CASH", balance__gt=1).values_list("account_no", flat=True)[
            :100_000
        ]
    )
    if len(members) < 2:
        raise SystemExit(f"{args.db} has no funded members: run bench/throughput.py first")
    fee = Account.objects.filter(account_type__code="FEE_INCOME").values_list("account_no", flat=True).first()
    ledger = {"members": members, "fee": fee}

    def toggle(enabled: bool) -> None:
        for table, name in triggers:
            psql(args, f"ALTER TABLE {table} {'ENABLE' if enabled else 'DISABLE'} TRIGGER {name}", db=args.db)
        extra = preset.get("on" if enabled else "off")
        if extra:
            psql(args, extra, db=args.db)

    figures: dict[str, dict[str, list[float]]] = {"with": {}, "without": {}}

    def note(side: str, what: str, value: float) -> None:
        figures[side].setdefault(what, []).append(value)

    log(f"{args.preset}: {', '.join(preset['triggers'])} on {args.db}; {len(members):,} members")
    try:
        for r in range(args.rounds):
            for side in ("with", "without") if r % 2 == 0 else ("without", "with"):
                toggle(side == "with")
                log(f"round {r + 1}, {side} the trigger(s):")
                for c in clients:
                    note(side, f"random {c} procs (postings/s)", run_ours(args, "random", c, ledger))
                note(side, f"batch {max(clients)} procs (postings/s)", run_ours(args, "batch", max(clients), ledger))
                client, server = posting_cpu(args, members, label=f"{side} r{r + 1}")
                note(side, "CPU per posting, server (ms)", server)
                note(side, "CPU per posting, client + server (ms)", client + server)
    finally:
        toggle(True)

    log("")
    log(f"{'median of ' + str(args.rounds) + ' rounds':40} {'with':>10} {'without':>10} {'with/without':>13}")
    for what in figures["with"]:
        w, wo = statistics.median(figures["with"][what]), statistics.median(figures["without"][what])
        log(f"{what:40} {w:10.2f} {wo:10.2f} {w / wo:13.3f}")
    log("(throughput: with/without below 1 is the share lost; CPU: above 1 is the share added)")


if __name__ == "__main__":
    main()
