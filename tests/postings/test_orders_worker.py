"""The automatic confirmation of guarantee orders (超时自动确认) through a real
Celery worker on Redis, as beat sends it: a paid order past its time is
confirmed to the merchant, a disputed one and one not yet due are left, and
the job sent twice confirms nothing twice."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from postings.models import GuaranteeOrder, OrderEvent
from postings.services import order_dispute

from .order_books import shop

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_the_beat_job_confirms_due_orders_on_the_worker(ledger, celery_worker_on_redis):
    run = celery_worker_on_redis
    s = shop(ledger)
    # The worker keeps the wall clock, so the due orders are paid 11 days ago.
    with time_machine.travel(timezone.now() - timedelta(days=11), tick=True):
        due = s.open("o-1", "100.00", commission="2.50", coupon="1.00")
        disputed = s.open("o-2", "50.00")
    fresh = s.open("o-3", "30.00")
    order_dispute(order_id=disputed.pk, reason="damaged in transit", request_no="d-2", actor="mall")

    assert run("postings.tasks.orders_confirm_due") == 1
    assert run("postings.tasks.orders_confirm_due") == 0  # sent again: nothing left to confirm

    assert GuaranteeOrder.objects.get(pk=due.pk).status == "confirmed"
    event = OrderEvent.objects.get(order=due, kind="auto_confirm")
    assert (event.actor, event.amount, event.commission, event.coupon) == (
        "system:order-expiry",
        Decimal("100.00"),
        Decimal("2.50"),
        Decimal("1.00"),
    )
    assert GuaranteeOrder.objects.get(pk=disputed.pk).status == "disputed"
    assert GuaranteeOrder.objects.get(pk=fresh.pk).status == "paid"
    assert ledger.balance(s.merchant) == Decimal("98.50")
    assert ledger.balance(s.escrow) == Decimal("80.00")
