#!/usr/bin/env python3
"""The relay's throughput (issue 23): events per second from the outbox to
RabbitMQ, published in sequence order with publisher confirms.

    .venv/bin/python bench/relay.py                       # 100,000 events
    .venv/bin/python bench/relay.py --events 5000         # quick mode: checks the harness

It prints figures; it asserts nothing and is not a test. See bench/README.md
("The relay") for what is measured and the figures of the last run.

What it does:

1. Makes (or reuses) a migrated database, ``ledger_relay_bench``, and writes
   N ``posting.booked`` events into the outbox in one statement, each with
   the payload a two-leg posting's trigger writes (events/sql/events.sql),
   so the messages have the size the relay publishes in production.
2. Numbers them with the sequencer, as the relay's first step would, and
   times that alone (``sequence``).
3. Declares a queue of its own bound to a bench exchange (``ledger.bench``,
   topic, ``#``), runs ``events.relay.Relay`` under a fresh name (so it starts
   at sequence 0) with ``once``: read a batch, publish every event with
   confirms, move the relay's position, until nothing is left; times it
   (``publish``) for each ``--batch`` size asked, then counts the messages
   the queue holds (it must be N per run: a shortfall is printed).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from throughput import django_setup, log, psql  # noqa: E402

EXCHANGE = "ledger.bench"

_EVENTS_SQL = """
INSERT INTO events_event (type, type_version, occurred_at, entity_id, aggregate_type, aggregate_id,
                          aggregate_version, payload)
SELECT 'posting.booked', 1, now(), 1, 'posting', n, 1,
       jsonb_build_object(
           'serial_no', n, 'source_system', 'bench', 'request_no', 'R' || lpad(n::text, 12, '0'),
           'business_type', 'transfer', 'currency', 'CNY', 'accounting_date', current_date,
           'corrects_date', NULL, 'memo', 'bench transfer', 'external_ref', NULL, 'posted_by', 'bench',
           'reverses', NULL, 'created_at', now(),
           'entries', jsonb_build_array(
               jsonb_build_object('serial_no', 2 * n, 'account_no', 'M' || lpad((n %% 100000)::text, 10, '0'),
                                  'account_seq', n, 'direction', 'D', 'amount', '12.34',
                                  'balance_before', '1000.00', 'balance_after', '987.66',
                                  'frozen_before', '0.00', 'frozen_after', '0.00', 'pending', false),
               jsonb_build_object('serial_no', 2 * n + 1,
                                  'account_no', 'M' || lpad(((n + 1) %% 100000)::text, 10, '0'),
                                  'account_seq', n, 'direction', 'C', 'amount', '12.34',
                                  'balance_before', '1000.00', 'balance_after', '1012.34',
                                  'frozen_before', '0.00', 'frozen_after', '0.00', 'pending', false)))
  FROM generate_series(%s, %s) AS n
"""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--batch", default="500", help="the relay's read batch sizes to try, comma-separated")
    p.add_argument("--repeat", type=int, default=2, help="runs of each batch size (the first warms the broker up)")
    p.add_argument("--db", default="ledger_relay_bench")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", default="5432")
    p.add_argument("--user", default="postgres")
    p.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if not psql(args, f"SELECT 1 FROM pg_database WHERE datname = '{args.db}'"):
        psql(args, f"CREATE DATABASE {args.db}")
    django_setup(args)
    from django.core.management import call_command
    from django.db import connection, transaction
    from kombu import Connection, Exchange, Queue

    from events.models import Event
    from events.relay import Relay, _json
    from events.services import event_message, events_sequence, relay_position_set

    call_command("migrate", verbosity=0)
    log(f"database {args.db}; {Event.objects.count():,} events already in the outbox")

    started = time.perf_counter()
    first = (Event.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_EVENTS_SQL, [first, first + args.events - 1])
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    numbered = events_sequence(rounds=2)
    sequence_s = time.perf_counter() - started
    sample = Event.objects.filter(seq__isnull=False).order_by("-seq").first()
    size = len(_json(event_message(sample)).encode())
    log(
        f"wrote {args.events:,} events in {write_s:.1f} s; numbered {numbered:,} in {sequence_s:.2f} s "
        f"({numbered / sequence_s:,.0f}/s); a message is {size:,} bytes"
    )
    last_seq = sample.seq

    exchange = Exchange(EXCHANGE, type="topic", durable=True)
    runs = [int(b) for b in args.batch.split(",") for _ in range(args.repeat)]
    for batch in runs:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        queue = Queue(name, exchange=exchange, routing_key="#", durable=False, auto_delete=False)
        with Connection(args.broker) as conn:
            queue(conn.channel()).declare()
        relay = Relay(name=name, broker_url=args.broker, exchange=EXCHANGE, batch=batch)
        # Only this run's events: the relay starts after the events written before.
        relay_position_set(name=name, last_seq=last_seq - numbered)
        started = time.perf_counter()
        published = relay.run(once=True)
        publish_s = time.perf_counter() - started
        with Connection(args.broker) as conn:
            channel = conn.channel()
            _, in_queue, _ = channel.queue_declare(name, passive=True)
            channel.queue_delete(name)
        log(
            f"batch {batch}: published {published:,} in {publish_s:.2f} s = {published / publish_s:,.0f} events/s "
            f"({published * size / publish_s / 1e6:.1f} MB/s); the queue holds {in_queue:,}"
            + ("" if in_queue == numbered else f"  SHORTFALL: expected {numbered:,}")
        )


if __name__ == "__main__":
    main()
