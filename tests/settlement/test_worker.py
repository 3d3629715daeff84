"""The merchant settlement beat job through a real Celery worker on Redis:
due funds moved once, however often the job is delivered."""

from datetime import date

import pytest

from reports.settlement.models import MerchantSettlement

from .books import D, balances, on_day, pay, t_plus

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_the_beat_job_on_the_worker_moves_due_funds_once(ledger, celery_worker_on_redis):
    run = celery_worker_on_redis
    term, available, pending = t_plus(ledger, 2)
    buyer = ledger.cash()
    ledger.recharge(buyer, "100")
    on_day(ledger.entity, date(2026, 11, 5))  # a Thursday: T+2 is Monday
    pay(ledger, buyer, pending, "40.00")
    on_day(ledger.entity, date(2026, 11, 6))
    assert run("reports.tasks.merchant_settlements_due") == []  # Friday: not due
    on_day(ledger.entity, date(2026, 11, 9))
    assert run("reports.tasks.merchant_settlements_due") == [f"{available.account_no} 40.0000"]
    assert run("reports.tasks.merchant_settlements_due") == []  # delivered again: nothing moves twice
    assert balances(available, pending) == [D("40.00"), D("0")]
    assert MerchantSettlement.objects.get().funds_through == date(2026, 11, 5)
