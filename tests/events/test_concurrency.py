"""Postings from 8 processes at once on the same few accounts: the events,
read through GET /api/v1/events, are numbered 1..N without a gap, one per
posting, and each account's entries arrive in its chain's order."""

from __future__ import annotations

import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

from postings.models import Posting
from tests.api.conftest import Caller, client_with_key

from . import processes
from .scripted import number_everything

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_clock]

PROCESSES = 8
POSTINGS_EACH = 25

WORKER = """
import random, sys, time
from pathlib import Path
import django
django.setup()
from postings.services import Leg, posting_create

accounts, worker, n, go = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
while not go.exists():
    time.sleep(0.01)
rng = random.Random(worker)
for i in range(n):
    payer, payee = rng.sample(accounts, 2)
    posting_create(
        request_no=f"p{worker}-{i}",
        business_type="transfer",
        legs=[Leg(payer, "D", "0.01"), Leg(payee, "C", "0.01")],
        posted_by=f"worker {worker}",
    )
"""


def test_eight_processes_give_a_gapless_sequence_and_each_accounts_order(ledger):
    accounts = [ledger.cash() for _ in range(4)]
    for account in accounts:
        ledger.recharge(account, "100.00")
    numbers = ",".join(a.account_no for a in accounts)
    go = Path(tempfile.mkdtemp(prefix="events-go-")) / "go"
    workers = [processes.start(["-c", WORKER, numbers, str(w), str(POSTINGS_EACH), str(go)]) for w in range(PROCESSES)]
    go.touch()
    for worker in workers:
        try:
            assert worker.wait(timeout=300) == 0
        except subprocess.TimeoutExpired:
            worker.kill()
            raise
    number_everything()

    _, key = client_with_key("warehouse", ["read"])
    caller, events, after = Caller(key), [], 0
    while page := caller.get("events", {"after": after, "limit": 1000}).json()["events"]:
        events += page
        after = page[-1]["seq"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "no gap"
    booked = [e for e in events if e["type"] == "posting.booked"]
    assert len(booked) == Posting.objects.count() == len(accounts) + PROCESSES * POSTINGS_EACH
    assert len({e["payload"]["serial_no"] for e in booked}) == len(booked), "one event per posting"

    chains = defaultdict(list)
    for event in booked:
        for entry in event["payload"]["entries"]:
            chains[entry["account_no"]].append((entry["account_seq"], entry["balance_before"], entry["balance_after"]))
    for account in accounts:
        chain = chains[account.account_no]
        assert [seq for seq, _, _ in chain] == list(range(1, len(chain) + 1)), account.account_no
        for (_, _, after_previous), (_, before, _) in zip(chain, chain[1:]):
            assert before == after_previous, "each entry starts where the one before it ended"
