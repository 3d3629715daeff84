"""Secret rotation (Standard Webhooks): during the overlap every delivery
carries two signatures and verifies under the old secret and the new one;
after it, under the new one only."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from events.webhooks.services import endpoint_rotate_secret

from .books import dispatch_until, endpoint_for
from .receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_both_secrets_verify_during_the_overlap_and_the_old_one_not_after(ledger, settings):
    assert settings.WEBHOOKS_SECRET_OVERLAP_SECONDS == 24 * 3600
    with Receiver() as receiver:
        endpoint, old = endpoint_for(receiver.url)
        endpoint, new = endpoint_rotate_secret(endpoint=endpoint, actor="api:trade")
        assert new != old and new.startswith("whsec_")
        receiver.secrets = [old, new]

        ledger.recharge(ledger.cash(), "1.00", request_no="rot-1")
        dispatch_until(lambda: len(receiver.received) == 1)
        during = receiver.received[0]
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        assert during.verified == {old: True, new: True}

        with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1), tick=True):
            ledger.recharge(ledger.cash(), "2.00", request_no="rot-2")
            dispatch_until(lambda: len(receiver.received) == 2)
        after = receiver.received[1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        assert after.verified == {old: False, new: True}


def test_a_second_rotation_ends_the_oldest_secret_at_once(ledger):
    with Receiver() as receiver:
        endpoint, first = endpoint_for(receiver.url)
        endpoint, second = endpoint_rotate_secret(endpoint=endpoint, actor="api:trade")
        endpoint, third = endpoint_rotate_secret(endpoint=endpoint, actor="api:trade")
        receiver.secrets = [first, second, third]
        ledger.recharge(ledger.cash(), "1.00", request_no="rot-3")
        dispatch_until(lambda: len(receiver.received) == 1)
    assert receiver.received[0].verified == {first: False, second: True, third: True}
