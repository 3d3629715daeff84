"""The hold-expiry job, through a real Celery worker on Redis and in-process."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from postings.models import HoldStatus
from postings.services import hold_place
from postings.tasks import holds_expire_due


def expired_hold(ledger):
    wallet = ledger.cash()
    ledger.recharge(wallet, "100")
    hold = hold_place(
        account_no=wallet.account_no,
        amount="60",
        reason="pre-auth",
        request_no="h-exp",
        actor="t",
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    return wallet, hold


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_expiry_through_a_real_worker(ledger, celery_worker_on_redis):
    wallet, hold = expired_hold(ledger)
    assert celery_worker_on_redis("postings.tasks.holds_expire_due") == 1
    hold.refresh_from_db()
    assert (hold.status, hold.remaining) == (HoldStatus.EXPIRED, Decimal("0"))
    assert ledger.fresh(wallet).available == Decimal("100")
    # Delivered twice (a retry, a duplicate beat): nothing more happens.
    assert celery_worker_on_redis("postings.tasks.holds_expire_due") == 0


@pytest.mark.django_db
def test_expiry_task_in_process(ledger):
    wallet, hold = expired_hold(ledger)
    assert holds_expire_due.delay().get() == 1
    assert ledger.fresh(wallet).frozen == Decimal("0")


def test_beat_runs_the_expiry():
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "postings.tasks.holds_expire_due" in schedule
