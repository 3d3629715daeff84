"""The delivery path through a real Celery worker on Redis: the worker runs
the dispatcher (as beat would send it), which queues one delivery task per
endpoint; the worker sends to the receiver on 127.0.0.1, which refuses the
first try; the retry is made by a later dispatch, and verifies."""

from __future__ import annotations

import time

import pytest

from events.webhooks.models import Attempt, Delivery
from tests.conftest import celery_worker
from tests.events.scripted import number_everything

from .books import endpoint_for
from .receiver import Receiver


@pytest.mark.celery_worker
def test_a_worker_delivers_and_retries(transactional_db, redis_url, ledger):
    with Receiver(fail_first=1) as receiver:
        endpoint, secret = endpoint_for(receiver.url)
        receiver.secrets = [secret]
        ledger.recharge(ledger.cash(), "3.00", request_no="worker-1")
        number_everything()
        worker_env = {
            "WEBHOOKS_QUEUE": "",  # the worker's own queue (its default) takes the deliveries
            "WEBHOOKS_REQUIRE_HTTPS": "0",
            "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.0/8",
            "WEBHOOKS_RETRY_SCHEDULE": "0.5,0.5",
        }
        with celery_worker(redis_url, **worker_env) as run:
            deadline = time.monotonic() + 90
            while receiver.statuses() != [500, 200]:
                assert time.monotonic() < deadline, f"the worker did not deliver: {receiver.statuses()}"
                run("events.webhooks.tasks.webhooks_dispatch")
                time.sleep(0.3)

    assert [r.verified for r in receiver.received] == [{secret: True}, {secret: True}]
    assert len(set(receiver.ids())) == 1
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert list(Attempt.objects.filter(endpoint=endpoint).order_by("id").values_list("status_code", "outcome")) == [
        (500, "retry"),
        (200, "delivered"),
    ]
