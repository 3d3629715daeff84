#!/usr/bin/env python3
"""Batch posting with refused items: the one call as shipped against the
full path (issue 6, "Batch posting"; bench/README.md, "Batches with a
refused item").

    .venv/bin/python bench/batch_refusals.py      # about 1 minute; needs ledger_tp from bench/throughput.py

One process posts batches of 100 transfers between random members with
``posting_create_batch``, some items made to fail (a debit far beyond any
balance: insufficient funds) at fixed positions, first with every batch on
the full path (``POSTING_ONE_CALL`` off), then as shipped (the call stops at
a refused item, see postings.services.batch._batch_post), alternating, for each
pattern. Prints items per second, the lowest and highest of the runs. Not a
test: nothing is asserted.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from throughput import bench_parser, django_setup, log  # noqa: E402

PATTERNS = {
    "no refusal": lambda i: False,
    "one refused, at position 50": lambda i: i == 50,
    "refused at positions 0 and 50": lambda i: i % 50 == 0,
    "every tenth refused": lambda i: i % 10 == 5,
    "all refused": lambda i: True,
}


def main() -> None:
    p = bench_parser(__doc__, db_help="bench/throughput.py's database")
    p.add_argument("--batches", type=int, default=15, help="batches of 100 per run")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    django_setup(args)
    from django.conf import settings

    from accounts.models import Account
    from postings.services import Leg, PostingRequest, posting_create_batch

    members = list(
        Account.objects.filter(account_type__code="USER_CASH").values_list("account_no", flat=True)[:100_000]
    )
    if len(members) < 2:
        raise SystemExit(f"{args.db} has no members: run bench/throughput.py first")
    rng = random.Random(7)
    tag = time.time_ns()

    def rate(pattern: str, one_call: bool, run: int) -> float:
        settings.POSTING_ONE_CALL = one_call
        refused = PATTERNS[pattern]
        key = list(PATTERNS).index(pattern)
        started = time.perf_counter()
        for b in range(args.batches):
            items = []
            for i in range(100):
                a, c = rng.sample(members, 2)
                amount = "99999999" if refused(i) else "0.01"
                items.append(
                    PostingRequest(
                        f"r-{tag}-{key}-{int(one_call)}-{run}-{b}-{i}",
                        "transfer",
                        [Leg.debit(a, amount), Leg.credit(c, amount)],
                    )
                )
            results = posting_create_batch(items, posted_by="bench", source_system="bench")
            wrong = [r.error for i, r in enumerate(results) if bool(r.error) != refused(i)]
            if wrong:
                raise SystemExit(f"unexpected outcome in {pattern}: {wrong[:3]}")
        return args.batches * 100 / (time.perf_counter() - started)

    rate("no refusal", True, -1)  # warm: prepared statements, caches
    log(f"{'batch of 100':32} | {'full path only':>16} | {'as shipped':>16} | ratio")
    for pattern in PATTERNS:
        full, ours = [], []
        for run in range(args.runs):
            full.append(rate(pattern, False, run))
            ours.append(rate(pattern, True, run))
        log(
            f"{pattern:32} | {min(full):7.0f} - {max(full):<6.0f} | {min(ours):7.0f} - {max(ours):<6.0f} | "
            f"{min(ours) / max(full):.2f} - {max(ours) / min(full):.2f}"
        )


if __name__ == "__main__":
    main()
