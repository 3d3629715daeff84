"""The relay: numbered events to RabbitMQ, in sequence order, at least once.

A loop (``manage.py ledger_events_relay``, kept running by a supervisor):
number what has committed (``events_sequence``), read the events after
this relay's position, publish each with publisher confirms (the broker
has it, persistent, when ``publish`` returns; a refusal raises), then move
the position to the last one. Killed between a publish and the move, a
restarted relay publishes those events again: consumers see a duplicate,
recognised by its ``message_id`` (the event's id), and nothing is missed.
Only numbered events are read, and a number is given only to a committed
event, so nothing is published that did not commit.

One relay per name publishes at a time: it holds a PostgreSQL advisory
lock on its own connection, which dies with the process, so a second one
started beside it waits, and takes over when the first is gone.

Messages go to the topic exchange ``EVENTS_EXCHANGE`` (durable), routing
key the event type (``posting.booked``); a consumer binds its own durable
queue (``posting.*``, ``#``). One channel and one publisher, in sequence
order, so a queue receives an account's events in the order they happened.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Callable

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from kombu import Connection, Exchange

from .selectors import events_after, relay_position
from .services import event_message, events_sequence, relay_position_set

log = logging.getLogger(__name__)

_LOCK_NAMESPACE = 0x52454C59  # "RELY"


def _json(message: dict) -> str:
    return json.dumps(message, cls=DjangoJSONEncoder, ensure_ascii=False)


class Relay:
    def __init__(
        self,
        *,
        name: str = "rabbitmq",
        broker_url: str | None = None,
        exchange: str | None = None,
        batch: int = 500,
    ):
        self.name = name
        self.broker_url = broker_url or settings.EVENTS_BROKER_URL
        self.exchange = Exchange(exchange or settings.EVENTS_EXCHANGE, type="topic", durable=True)
        self.batch = batch
        self.published = 0

    def _lock(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, self._key()])
            return cursor.fetchone()[0]

    def _key(self) -> int:
        return zlib.crc32(self.name.encode()) & 0x7FFFFFFF

    def run(self, *, stop: Callable[[], bool] = lambda: False, idle: float = 0.2, once: bool = False) -> int:
        """Publish until ``stop()`` (or, ``once``, until nothing is left).
        Returns how many messages this run published."""
        while not self._lock():
            if once or stop():
                return 0
            log.info("relay %s: another process holds it; waiting", self.name)
            time.sleep(1)
        with Connection(self.broker_url, transport_options={"confirm_publish": True}, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=3)
            channel = conn.channel()
            self.exchange(channel).declare()
            producer = conn.Producer(channel=channel, exchange=self.exchange)
            while not stop():
                sent = self.step(producer)
                if not sent:
                    if once:
                        break
                    time.sleep(idle)
        return self.published

    def step(self, producer) -> int:
        """One round: number, read, publish with confirms, move the position."""
        events_sequence(rounds=1)
        position = relay_position(self.name)
        events = list(events_after(after=position, limit=self.batch))
        for event in events:
            producer.publish(
                _json(event_message(event)),
                routing_key=event.type,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                message_id=str(event.id),
                headers={"event_id": event.id, "seq": event.seq, "type": event.type},
            )
        if events:
            relay_position_set(name=self.name, last_seq=events[-1].seq)
            self.published += len(events)
        return len(events)
