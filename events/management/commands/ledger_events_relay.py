"""Publish the event outbox to RabbitMQ until stopped (events/relay.py)."""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand

from events.relay import Relay


class Command(BaseCommand):
    help = "Publish numbered events to RabbitMQ in sequence order, with publisher confirms, until SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--name", default="rabbitmq", help="The relay's name: its position is kept under it.")
        parser.add_argument("--broker", default=None, help="AMQP URL (default EVENTS_BROKER_URL).")
        parser.add_argument("--exchange", default=None, help="Exchange (default EVENTS_EXCHANGE).")
        parser.add_argument("--batch", type=int, default=500, help="Events read per round.")
        parser.add_argument("--once", action="store_true", help="Stop when nothing is left to publish.")

    def handle(self, *args, name, broker, exchange, batch, once, **options):
        stopping = []
        # SIGTERM ends the round in progress, then the loop: its position is recorded.
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        relay = Relay(name=name, broker_url=broker, exchange=exchange, batch=batch)
        published = relay.run(stop=lambda: bool(stopping), once=once)
        self.stdout.write(f"relay {name}: {published} events published")
