"""Webhook deliveries to a real HTTP receiver on 127.0.0.1 (issue 23,
section 2): signed per Standard Webhooks and verified with its own verifier,
the first failures retried on the schedule before anything later is sent,
every attempt recorded; a delivery dead-lettered when the schedule is spent;
an endpoint that fails on and on disabled, and its owner told by an event."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from events.models import Event
from events.webhooks import services, tasks
from events.webhooks.models import Attempt, Delivery, Endpoint, EndpointChange
from tests.events.scripted import as_published, number_everything, validate

from .books import dispatch_until, endpoint_for
from .receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_signed_deliveries_in_order_with_the_first_ones_retried(ledger, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0.3, 0.3, 0.3]
    with Receiver(fail_first=2) as receiver:
        endpoint, secret = endpoint_for(receiver.url)
        receiver.secrets = [secret]
        wallets = [ledger.cash() for _ in range(3)]
        for i, wallet in enumerate(wallets):
            ledger.recharge(wallet, f"{i + 1}.00", request_no=f"wh-{i}")
        events = [e for e in number_everything() if e.type == "posting.booked"]
        assert len(events) == 3

        dispatch_until(lambda: receiver.statuses().count(200) == 3)

    first, second, third = (f"evt_{e.id}" for e in events)
    assert receiver.ids() == [first, first, first, second, third], "the first retried before the next was sent"
    assert receiver.statuses() == [500, 500, 200, 200, 200]
    assert all(r.verified == {secret: True} for r in receiver.received), "every request verifies"
    retries = [b.at - a.at for a, b in zip(receiver.received, receiver.received[1:3])]
    assert all(gap >= 0.3 for gap in retries), f"retried no sooner than the schedule says: {retries}"
    for got, event in zip(receiver.received[2:], events):
        body = got.json
        assert (body["type"], body["data"]["seq"]) == (event.type, event.seq)
        assert body["data"] == as_published(event)
        validate(body["data"])
        assert got.path == "/hooks/ledger"

    attempts = list(Attempt.objects.filter(endpoint=endpoint).order_by("id"))
    assert [(a.delivery.seq, a.number, a.status_code, a.ok, a.outcome) for a in attempts] == [
        (events[0].seq, 1, 500, False, "retry"),
        (events[0].seq, 2, 500, False, "retry"),
        (events[0].seq, 3, 200, True, "delivered"),
        (events[1].seq, 1, 200, True, "delivered"),
        (events[2].seq, 1, 200, True, "delivered"),
    ]
    assert attempts[0].response_excerpt.startswith("receiver says no") and len(attempts[0].response_excerpt) == 1024
    assert attempts[0].error == "answered 500"
    assert all(a.latency_ms < 5000 for a in attempts)
    endpoint = Endpoint.objects.get(pk=endpoint.pk)
    assert (endpoint.consecutive_failures, endpoint.state) == (0, "active")
    assert endpoint.cursor == events[-1].seq
    assert set(Delivery.objects.filter(endpoint=endpoint).values_list("status", flat=True)) == {"delivered"}


def test_dead_lettered_after_the_schedule_then_disabled_and_the_owner_told(ledger, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0.05, 0.05]  # three tries in all
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 5
    with Receiver(status=503) as broken, Receiver() as owners_other, Receiver() as someone_elses:
        endpoint, _ = endpoint_for(broken.url)
        other, _ = endpoint_for(owners_other.url, event_types=["webhook.endpoint_disabled"])
        stranger, _ = endpoint_for(someone_elses.url, name="risk")
        ledger.recharge(ledger.cash(), "1.00", request_no="dead-1")
        ledger.recharge(ledger.cash(), "2.00", request_no="dead-2")

        dispatch_until(lambda: len(owners_other.received) == 1)
        number_everything()
        tasks.webhooks_dispatch()  # anything still due is sent now

    first, second = Delivery.objects.filter(endpoint=endpoint).order_by("seq")
    assert (first.status, first.attempts, first.next_attempt_at) == ("dead", 3, None)
    assert first.dead_at is not None and first.last_error == "answered 503"
    assert (second.status, second.attempts) == ("pending", 2), "nothing more is sent once disabled"
    assert broken.statuses() == [503] * 5

    endpoint = Endpoint.objects.get(pk=endpoint.pk)
    assert (endpoint.active, endpoint.state, endpoint.consecutive_failures) == (False, "disabled", 5)
    assert "5 failed attempts in a row" in endpoint.disabled_reason
    assert EndpointChange.objects.filter(endpoint=endpoint, kind="disabled").count() == 1

    (disabled,) = Event.objects.filter(type="webhook.endpoint_disabled")
    message = as_published(disabled)
    validate(message)
    assert (disabled.aggregate_type, disabled.aggregate_id, disabled.aggregate_version) == (
        "webhook_endpoint",
        endpoint.pk,
        1,
    )
    assert message["payload"]["source_system"] == "trade"
    assert (message["payload"]["last_status_code"], message["payload"]["consecutive_failures"]) == (503, 5)
    assert owners_other.received[0].json["data"] == message, "the owner's other endpoint is told"
    assert owners_other.received[0].json["type"] == "webhook.endpoint_disabled"
    assert f"evt_{disabled.id}" not in someone_elses.ids(), "another client is not told of it"
    assert len(someone_elses.ids()) == 2  # it has the two postings


def test_switched_on_again_it_is_sent_what_waited(ledger, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0.05]
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 2
    with Receiver(fail_first=2) as receiver:
        endpoint, _ = endpoint_for(receiver.url)
        ledger.recharge(ledger.cash(), "1.00", request_no="on-1")
        dispatch_until(lambda: Endpoint.objects.get(pk=endpoint.pk).disabled_at is not None)
        ledger.recharge(ledger.cash(), "2.00", request_no="on-2")  # while off: made when it is on again
        number_everything()
        tasks.webhooks_dispatch()
        assert Delivery.objects.filter(endpoint=endpoint).count() == 1

        services.endpoint_update(endpoint=endpoint, active=True, actor="api:trade")
        dispatch_until(lambda: receiver.statuses().count(200) == 2)

    # The first was dead-lettered (two tries); on the way back the endpoint is
    # sent what it missed, in order: the news of its own disabling, the second posting.
    deliveries = Delivery.objects.filter(endpoint=endpoint).order_by("seq")
    assert [(d.event_type, d.status) for d in deliveries] == [
        ("posting.booked", "dead"),
        ("webhook.endpoint_disabled", "delivered"),
        ("posting.booked", "delivered"),
    ]
    assert receiver.statuses() == [500, 500, 200, 200]
    assert Endpoint.objects.get(pk=endpoint.pk).state == "active"


def test_the_default_schedule_spends_24_hours_then_dead_letters(ledger, settings):
    """The production schedule, on a clock that jumps to each retry: tried
    at 0 s, 5 s, 5 min 5 s, ... and last 24 h after the first try."""
    assert settings.WEBHOOKS_RETRY_SCHEDULE == [5, 300, 1800, 7200, 18000, 36000, 23095]
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 100
    with Receiver(status=500) as receiver:
        endpoint, _ = endpoint_for(receiver.url)
        ledger.recharge(ledger.cash(), "1.00", request_no="day-long")
        number_everything()
        start = timezone.now()
        with time_machine.travel(start, tick=False) as clock:
            tasks.webhooks_dispatch()
            for _ in range(10):
                delivery = Delivery.objects.get(endpoint=endpoint)
                if delivery.status != "pending":
                    break
                tasks.webhooks_dispatch()  # not yet due: nothing is sent
                clock.move_to(delivery.next_attempt_at - timedelta(milliseconds=1))
                tasks.webhooks_dispatch()
                clock.move_to(delivery.next_attempt_at)
                tasks.webhooks_dispatch()
    tried_at = [a.at - start for a in Attempt.objects.filter(endpoint=endpoint).order_by("id")]
    assert [t.total_seconds() for t in tried_at] == [0, 5, 305, 2105, 9305, 27305, 63305, 86400]
    assert len(receiver.received) == 8
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts) == ("dead", 8)


def test_staff_redeliver_a_range_with_the_same_ids(ledger, settings):
    from tests.reports.reporting import staff_user

    from .books import ensure_webhook_roles

    ensure_webhook_roles()
    admin = staff_user("wh-admin", "Ledger admin")
    with Receiver() as receiver:
        endpoint, _ = endpoint_for(receiver.url, event_types=["posting.booked"])
        for i in range(3):
            ledger.recharge(ledger.cash(), f"{i + 1}.00", request_no=f"re-{i}")
        dispatch_until(lambda: len(receiver.received) == 3)
        first_ids = receiver.ids()
        seqs = sorted(Delivery.objects.filter(endpoint=endpoint).values_list("seq", flat=True))
        queued = services.endpoint_redeliver(endpoint=endpoint, acting_user=admin, from_seq=seqs[1], to_seq=seqs[2])
        assert queued == 2
        dispatch_until(lambda: len(receiver.received) == 5)
    assert receiver.ids() == first_ids + first_ids[1:], "sent again in order, recognisable by webhook-id"
    again = Delivery.objects.get(endpoint=endpoint, seq=seqs[2])
    assert (again.status, again.attempts, again.redelivered_by) == ("delivered", 2, "wh-admin")
