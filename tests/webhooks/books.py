"""Helpers of the webhook tests: a client with an endpoint, and the
dispatcher run as beat runs it until the receiver has seen enough."""

from __future__ import annotations

import time

from events.webhooks import tasks
from events.webhooks.models import Endpoint
from events.webhooks.services import endpoint_register
from tests.api.conftest import client_with_key
from tests.events.scripted import number_everything


def endpoint_for(url: str, *, name: str = "trade", event_types=None) -> tuple[Endpoint, str]:
    from config.api.models import ApiClient

    client = ApiClient.objects.filter(source_system=name).first() or client_with_key(name, ["read", "post"])[0]
    return endpoint_register(client=client, url=url, event_types=event_types, actor=f"api:{name}")


def dispatch_until(done, *, timeout: float = 30.0, pause: float = 0.05) -> None:
    """Number the events and run the dispatcher (what beat does every two
    seconds, here every ``pause``) until ``done()``."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("the deliveries did not arrive in time")
        number_everything()
        tasks.webhooks_dispatch()
        time.sleep(pause)
