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


def ensure_webhook_roles() -> None:
    """The roles as the migrations leave them (a transactional test empties them)."""
    import importlib

    from django.contrib.auth.models import Group, Permission

    grants = importlib.import_module("events.webhooks.migrations.0002_guards_and_roles").GRANTS
    for other in ("Reviewer", "Cashier"):  # roles with no webhook permission
        Group.objects.get_or_create(name=other)
    for group_name, codenames in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="webhooks", codename__in=codenames))


def failed_attempt(endpoint: Endpoint, *, seq: int, status: int = 500):
    """A delivery of event ``seq`` tried once and refused, recorded by the
    service as a worker records it (no event row: a page needs none)."""
    from django.utils import timezone

    from events.webhooks.models import Delivery
    from events.webhooks.services import Outcome, attempt_record

    delivery = Delivery.objects.create(
        endpoint=endpoint, event_id=None, seq=seq, event_type="posting.booked", next_attempt_at=timezone.now()
    )
    outcome = Outcome(False, status, 12, f"answered {status}", "upstream down", endpoint.url)
    attempt_record(endpoint=endpoint, delivery=delivery, at=timezone.now(), outcome=outcome)
    return delivery
