"""The relay to a real RabbitMQ (127.0.0.1:5672): a consumer receives every
event of a scripted day in sequence order, exactly the committed ones,
though the relay is SIGKILLed in the middle of the day and started again.
Duplicates may come (the events published before the kill whose position
was not yet recorded); they carry the id of the first delivery."""

from __future__ import annotations

import json
import signal
import time
import uuid

import pytest
from kombu import Connection, Exchange, Queue

from events.models import Event
from events.selectors import relay_position

from . import processes
from .scripted import number_everything, scripted_day, validate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_clock]

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
# A guard against a hang, not a measure: the relay takes well under a second.
PATIENCE = 120


@pytest.fixture
def consumer():
    """A queue bound to a fresh exchange before anything is published; yields
    ``receive()``: the messages delivered so far, in delivery order."""
    try:
        conn = Connection(BROKER, connect_timeout=3)
        conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the broker
        pytest.skip(f"needs RabbitMQ at {BROKER}: {exc}")
    exchange = Exchange(f"test-events-{uuid.uuid4().hex[:8]}", type="topic", durable=True)
    channel = conn.channel()
    queue = Queue(f"{exchange.name}-all", exchange, routing_key="#", exclusive=True)(channel)
    queue.declare()
    received: list[dict] = []

    def receive() -> list[dict]:
        while (message := queue.get(no_ack=True)) is not None:
            assert message.properties["delivery_mode"] == 2, "persistent"
            body = json.loads(message.body)
            assert message.properties["message_id"] == str(body["id"])
            received.append(body)
        return received

    receive.exchange = exchange.name
    try:
        yield receive
    finally:
        exchange(channel).delete()
        conn.close()


def wait_for(condition, what: str):
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.1)


def test_a_day_reaches_the_consumer_in_order_through_a_killed_relay(ledger, consumer):
    name = f"test-{uuid.uuid4().hex[:8]}"
    relay = processes.relay(consumer.exchange, name)
    try:
        scripted_day(ledger, prefix="am")
        wait_for(lambda: len(consumer()) >= 5, "the first events")
        relay.send_signal(signal.SIGKILL)
        relay.wait(timeout=30)
        killed_at = relay_position(name)
        scripted_day(ledger, prefix="pm")  # written while no relay runs
        relay = processes.relay(consumer.exchange, name)
        events = number_everything()
        wait_for(lambda: {m["id"] for m in consumer()} >= {e.id for e in events}, "every committed event")
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=30)

    received = consumer()
    first_deliveries = list({m["id"]: m for m in reversed(received)}.values())[::-1]
    assert [m["seq"] for m in first_deliveries] == list(range(1, len(events) + 1)), "in sequence order, none missing"
    assert [m["id"] for m in first_deliveries] == [e.id for e in events], "exactly the committed events"
    assert Event.objects.filter(seq__isnull=True).count() == 0
    assert not any((m["payload"].get("request_no") or "").endswith("rolled-back") for m in received)
    # A duplicate is the same event delivered again, never another one.
    by_id = {m["id"]: m for m in first_deliveries}
    for message in received:
        assert message == by_id[message["id"]]
    # The restarted relay resumed from its position: what it sent again is
    # what followed the last confirmed number at the kill, nothing earlier.
    seqs = [m["seq"] for m in received]
    restart = next(i for i in range(1, len(seqs)) if seqs[i] <= seqs[i - 1]) if seqs != sorted(seqs) else None
    if restart is not None:
        assert seqs[restart] == killed_at + 1
    for message in first_deliveries:
        validate(message)
    assert relay_position(name) == len(events)
